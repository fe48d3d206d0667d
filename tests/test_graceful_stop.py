"""Graceful stop: on SIGTERM (a deploy, a restart) the line finishes the webhooks in flight, more
of them than it has workers, then stops by itself."""
import signal
import socket
import time

from real_line import RealLine


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
