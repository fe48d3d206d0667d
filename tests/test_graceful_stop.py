"""Graceful stop: on SIGTERM (a deploy, a restart) the line finishes the webhooks in flight, more
of them than it has workers, then stops by itself."""
import os
import signal
import socket
import time
from pathlib import Path

from real_line import RealLine, children


def test_sigterm_finishes_every_webhook_in_flight(tmp_path):
    line = RealLine(tmp_path)
    in_flight = []
    try:
        body, headers = line.signed_voice()
        head = "POST /voice HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        for _ in range(4):  # twice as many webhooks as workers, each half sent
            s = socket.create_connection(("127.0.0.1", line.port), timeout=10)
            s.sendall(head.encode() + body[: len(body) // 2])
            in_flight.append(s)
        time.sleep(0.5)
        line.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        time.sleep(1.0)  # the deploy has begun; the rest of each webhook arrives now
        answers = []
        for s in in_flight:
            s.sendall(body[len(body) // 2:])
            answer = b""
            while b"</Response>" not in answer:
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
            answers.append(answer)
        answered = time.monotonic()
        line.process.wait(20)
        stopped = time.monotonic()
    finally:
        for s in in_flight:
            s.close()
        line.stop()
    print(f"graceful stop: {len(answers)} webhooks in flight answered {answered - signalled:.2f} s after SIGTERM, "
          f"master gone {stopped - signalled:.2f} s after it")
    assert all(a.startswith(b"HTTP/1.1 200") and a.rstrip().endswith(b"</Response>") for a in answers), answers
    assert line.process.returncode == 0
    assert stopped - answered < 5  # then it stops by itself, without waiting for its 15 s limit
    assert "Traceback" not in line.log()


def test_sigterm_under_load_resets_no_connection_the_line_took(tmp_path):
    """16 clients send signed webhooks as fast as they are answered, on keep-alive connections,
    connecting again when told to close. On SIGTERM the line stopped accepting but went on
    telling every client to close; each connected again at once, and the connections waiting to be
    accepted when the listening socket went were reset: about one per client. A client may find
    the line gone (connection refused: Twilio then calls the fallback URL), never cut off after
    sending."""
    import http.client
    import threading

    line = RealLine(tmp_path)
    body, headers = line.signed_voice()
    counts = {"answered": 0, "refused": 0, "dropped": 0}
    errors = []
    stop = threading.Event()

    def client():
        connection = None
        while not stop.is_set():
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", line.port, timeout=20)
                try:
                    connection.connect()
                except ConnectionRefusedError:
                    counts["refused"] += 1
                    return
            try:
                connection.request("POST", "/voice", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                counts["answered"] += response.status == 200
                if response.will_close:
                    connection.close()
                    connection = None
            except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError) as e:
                counts["dropped"] += 1
                errors.append(repr(e))
                connection.close()
                connection = None
        if connection is not None:
            connection.close()

    clients = [threading.Thread(target=client, daemon=True) for _ in range(16)]
    try:
        for c in clients:
            c.start()
        time.sleep(2)
        answered_before = counts["answered"]
        line.process.send_signal(signal.SIGTERM)
        line.process.wait(20)
        for c in clients:
            c.join(20)
    finally:
        stop.set()
        line.stop()
    print(f"SIGTERM under load: {counts}")
    assert answered_before > 50 and counts["refused"] == 16, counts
    assert counts["dropped"] == 0, (counts, errors[:3])
    assert line.process.returncode == 0 and "Traceback" not in line.log()


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"  # not ended, unreaped
    except OSError:
        return False


def test_usr2_starts_a_new_master_from_the_same_command(tmp_path):
    """gunicorn's in-place upgrade: on USR2 the master runs its own command again, beside itself
    (python3 -m ivr.ops.start gives gunicorn that file's path as argv[0]); the new one must serve."""
    line = RealLine(tmp_path)
    new_master = None
    try:
        old_workers = set(line.workers())
        line.process.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 20
        while new_master is None and time.monotonic() < deadline:
            new_master = next((pid for pid in set(line.workers()) - old_workers if children(pid)), None)
            time.sleep(0.1)
        assert new_master is not None, line.log()[-3000:]
        while not line.ready(2, new_master) and time.monotonic() < deadline:
            time.sleep(0.05)  # a worker signalled before its handlers are set would keep it 15 s
        assert "Traceback" not in line.log() and "Error" not in line.log(), line.log()[-3000:]
        os.kill(new_master, signal.SIGTERM)  # the old master serves on; the test's line.stop() ends it
        while running(new_master) and time.monotonic() < deadline + 20:
            time.sleep(0.1)
        assert line.post_voice()[0] == 200
    finally:
        if new_master is not None and running(new_master):
            os.kill(new_master, signal.SIGKILL)
        line.stop()
