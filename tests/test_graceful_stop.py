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
