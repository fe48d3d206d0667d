"""Slow clients cannot hold the line: 16 connections sending one byte a second (half of them slow
headers, half slow bodies, reconnecting when dropped), against the Procfile's own command with no
proxy in front, while Twilio's signed /voice must still be answered within a second."""
import socket
import threading
import time

import pytest

from real_line import RealLine

ATTACK_SECONDS = 5


@pytest.fixture(scope="module")
def real_line(tmp_path_factory):
    line = RealLine(tmp_path_factory.mktemp("slow-clients"))
    yield line
    line.stop()


def slow_client(line: RealLine, slow_body: bool, stop: threading.Event, connections: list) -> None:
    """One byte a second, for ever: of a header, or of a body announced as 2,000 bytes."""
    body, headers = line.signed_voice()
    if slow_body:
        headers["Content-Length"] = "2000"
        start = "POST /voice HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    else:
        start = f"POST /voice HTTP/1.1\r\nHost: 127.0.0.1:{line.port}\r\nX-Slow: "
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", line.port), timeout=2) as s:
                connections.append(1)
                s.sendall(start.encode())
                while not stop.wait(1.0):
                    s.sendall(b"a")
        except OSError:  # dropped by the server: come back
            stop.wait(0.1)


def test_slow_clients_cannot_keep_twilio_waiting(real_line):
    stop = threading.Event()
    connections = []
    attackers = [threading.Thread(target=slow_client, args=(real_line, i % 2 == 1, stop, connections), daemon=True)
                 for i in range(16)]
    for attacker in attackers:
        attacker.start()
    latencies, failures = [], []
    try:
        time.sleep(1.5)  # every slow client connected and sending
        ends = time.monotonic() + ATTACK_SECONDS
        while time.monotonic() < ends:
            started = time.monotonic()
            try:
                status, body = real_line.post_voice(timeout=3)
                if status != 200 or "<Response>" not in body:
                    failures.append(status)
            except OSError as e:
                failures.append(repr(e))
            latencies.append(time.monotonic() - started)
            time.sleep(0.05)
    finally:
        stop.set()
        for attacker in attackers:
            attacker.join(5)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"slow clients: {len(connections)} connections, {len(latencies)} webhooks, "
          f"p99 {p99 * 1000:.0f} ms, {len(failures)} failures")
    assert len(connections) >= 16
    assert failures == [], failures[:5]
    assert len(latencies) >= 20
    assert p99 < 1.0, p99
