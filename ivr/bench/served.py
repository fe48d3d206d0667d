"""Machine instructions per request in a real gunicorn worker, line and floor, counted by callgrind.

    .venv/bin/python -m ivr.bench.served            # needs valgrind (apt-get install valgrind); ~6 minutes
    .venv/bin/python -m ivr.bench.served --no-valgrind   # the same servers and requests, uncounted

`ivr.bench.instructions` counts the apps alone, in process. A served request also costs gunicorn's
HTTP parsing, gevent's sockets and the WSGI plumbing, the same for both servers (about 630,000
instructions here), which is why the line at twice the floor's count in process still answers
three quarters of the floor's requests. This counts everything a worker does for a request: each
server is started with the Procfile's gunicorn settings (gunicorn.conf.py, one gevent worker, bound
to 127.0.0.1) under valgrind, sent the bench's signed requests of simulated calls over one
keep-alive connection, and its worker's counters are zeroed after a warm-up and read after the
measured passes. The ratio floor/line of these counts is what `python -m ivr bench` measures with
wrk, without the machine's noise (the same code and requests give the same count within 0.5 %).

The line is built by `served_line()` below with a fixed clock and no menu watcher: with the real
clock, a minute that turns during the (slow, under valgrind) count would have the whole call
decided again, which a real worker does once a minute for thousands of requests.
"""
from __future__ import annotations

import argparse
import datetime
import glob
import http.client
import os
import re
import secrets
import socket
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: menus.yaml, prompts/, gunicorn.conf.py
NOON = datetime.datetime(2026, 11, 27, 12, 0)  # Brussels time, made aware in served_line()


def served_line():
    """The line as the Procfile serves it, with a fixed clock and no menu watcher (gunicorn's app)."""
    from ivr import create_app
    from ivr.menus.model import BRUSSELS
    now = NOON.replace(tzinfo=BRUSSELS)
    return create_app({"CLOCK": lambda: now, "RELOAD_SECONDS": 0})


def count(app_spec: str, token: str, passes: int, valgrind: bool = True) -> float | None:
    """Instructions per request in `app_spec`'s worker; None without valgrind (every request
    is still sent, and any answer but 200 stops the run)."""
    from twilio.request_validator import RequestValidator

    from ivr import create_app
    from ivr.bench.command import _free_port, call_keys, recorded_requests
    from ivr.ops.start import procfile_command
    from ivr.testers import phone

    menus, prompts = str(ROOT / "menus.yaml"), str(ROOT / "prompts")
    port = _free_port()
    folder = tempfile.mkdtemp(prefix="ivr-served-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
    env.update(TWILIO_AUTH_TOKEN=token, IVR_MENUS=menus, IVR_PROMPTS=prompts, PYTHONHASHSEED="0",
               IVR_TRANSFER_CALLER_ID=phone.TRANSFER_CALLER_ID, WEB_CONCURRENCY="1",
               PROMETHEUS_MULTIPROC_DIR=folder, IVR_PUBLIC_URL=f"http://127.0.0.1:{port}")
    command = procfile_command()[:-1] + [app_spec, "--bind", f"127.0.0.1:{port}", "--timeout", "600"]
    if valgrind:
        command = ["valgrind", "--tool=callgrind", "--trace-children=yes",
                   f"--callgrind-out-file={folder}/cg.%p"] + command
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    connection = None
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"{app_spec} did not start (see gunicorn.conf.py; under valgrind, give it time)")
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        # The bench's requests, recorded from an in-process line so the server's count is left alone.
        recorder = create_app({"TWILIO_AUTH_TOKEN": token, "MENUS": menus, "PROMPTS": prompts, "RELOAD_SECONDS": 0,
                               "TRANSFER_CALLER_ID": phone.TRANSFER_CALLER_ID, "WEBHOOK_LOG": False})
        try:
            requests = recorded_requests(url, token, call_keys(menus, prompts),
                                         phone.FlaskTransport(recorder.test_client()))
        finally:
            recorder.extensions["ivr"].close()
        validator = RequestValidator(token)
        signed = [(path, urllib.parse.urlencode(params), validator.compute_signature(url + path, params))
                  for path, params in requests]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

        def send(times: int) -> None:
            for _ in range(times):
                for path, body, signature in signed:
                    connection.request("POST", path, body=body, headers={
                        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
                    response = connection.getresponse()
                    response.read()
                    if response.status != 200:
                        raise SystemExit(f"{app_spec} answered {response.status} to {path}")

        send(3)  # warm-up: the line's kept answers filled, as a running worker's are
        if not valgrind:
            return None
        worker = _only_child(server.pid)
        subprocess.run(["callgrind_control", "-z", str(worker)], capture_output=True, check=True)
        send(passes)
        subprocess.run(["callgrind_control", "-d", str(worker)], capture_output=True, check=True)
        dumps = sorted(glob.glob(f"{folder}/cg.{worker}*"), key=os.path.getmtime)
        total = int(re.search(r"^(?:summary|totals): (\d+)", Path(dumps[-1]).read_text(), re.M).group(1))
        return total / (passes * len(signed))
    finally:
        if connection is not None:
            connection.close()  # an open keep-alive connection holds a stopping worker (2.3 s here)
        server.terminate()
        server.wait(120)


def _only_child(pid: int) -> int:
    from ivr.bench.command import children
    workers = children(pid)
    if len(workers) != 1:
        raise SystemExit(f"expected one gunicorn worker, found {workers}")
    return workers[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=20, help="measured passes over the requests (20)")
    parser.add_argument("--no-valgrind", action="store_true", help="serve and send everything, count nothing")
    args = parser.parse_args()
    token = secrets.token_hex(16)
    if args.no_valgrind:
        for spec in ("ivr.bench.served:served_line()", "ivr.bench.floor:create_floor()"):
            count(spec, token, 0, valgrind=False)
        print("line and floor: every request answered 200")
        return
    line = count("ivr.bench.served:served_line()", token, args.passes)
    floor = count("ivr.bench.floor:create_floor()", token, args.passes)
    print(f"line   {line:11,.0f} instructions per request in a gunicorn worker")
    print(f"floor  {floor:11,.0f} instructions per request in a gunicorn worker")
    print(f"floor/line {floor / line:.3f} (what the bench's throughput ratio is, without the machine's noise)")


if __name__ == "__main__":
    main()
