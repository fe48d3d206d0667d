"""Machine instructions per webhook, for the line and the floor, counted by valgrind's callgrind.

    .venv/bin/python -m ivr.bench.instructions            # needs valgrind (apt-get install valgrind)
    .venv/bin/python -m ivr.bench.instructions --passes 1 --no-valgrind   # the workload alone, untimed

Times on a shared 2-core machine swing by 10 % from run to run; an instruction count does not
(the same code, inputs and PYTHONHASHSEED give the same count within 0.1 %), so it is the measure
for one change at a time. Each app answers the bench's signed requests of simulated calls
(`ivr.bench.command.recorded_requests`) through its WSGI callable in this process, with a fixed clock so
that kept answers never expire mid-run; only the measured passes are counted (callgrind collects
inside functools.reduce, which runs them), after warm-up passes that fill the line's kept answers
as a running worker's are. Lower is better; the floor is the same stack answering a fixed string.
Results: docs/performance.md.
"""
from __future__ import annotations

import argparse
import datetime
import functools
import io
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: menus.yaml, prompts/, gunicorn.conf.py


def workload(app_name: str):
    """The WSGI callable and the requests (environ, body) it will be sent."""
    from ivr import create_app
    from ivr.bench.command import call_keys, recorded_requests, wsgi_environs
    from ivr.bench.floor import create_floor
    from ivr.menus.model import BRUSSELS
    from ivr.testers import phone
    from ivr.testers.phone import FlaskTransport

    token = secrets.token_hex(16)
    menus, prompts = str(ROOT / "menus.yaml"), str(ROOT / "prompts")
    noon = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=BRUSSELS)
    line = create_app({"TWILIO_AUTH_TOKEN": token, "MENUS": menus, "PROMPTS": prompts, "RELOAD_SECONDS": 0,
                       "TRANSFER_CALLER_ID": phone.TRANSFER_CALLER_ID, "WEBHOOK_LOG": True,
                       "CLOCK": lambda: noon})
    url = "http://127.0.0.1:8000"
    requests = recorded_requests(url, token, call_keys(menus, prompts), FlaskTransport(line.test_client()))
    return (line.wsgi_app if app_name == "line" else create_floor().wsgi_app), wsgi_environs(url, token, requests)


def one_pass(wsgi, environs) -> None:
    for environ, body in environs:
        statuses = []
        b"".join(wsgi(dict(environ, **{"wsgi.input": io.BytesIO(body)}),
                      lambda status, headers, exc_info=None: statuses.append(status)))
        if not statuses[0].startswith("200"):
            raise SystemExit(f"{environ['PATH_INFO']} answered {statuses[0]}")


def run(app_name: str, passes: int) -> None:
    """What valgrind runs: warm up, then the measured passes inside functools.reduce."""
    from ivr.ops import metrics
    metrics.FLUSH_SECONDS = 3600  # the flusher thread would wake up in the middle of the count
    wsgi, environs = workload(app_name)

    class Nowhere:  # the JSON log lines: written, but not to the terminal
        def write(self, text):
            return len(text)

        def flush(self):
            pass

    sys.stdout = Nowhere()
    for _ in range(5):
        one_pass(wsgi, environs)
    functools.reduce(lambda _, __: one_pass(wsgi, environs), range(passes), None)
    sys.stderr.write(f"requests {passes * len(environs)}\n")


def count(app_name: str, passes: int) -> float:
    env = dict(os.environ, PYTHONHASHSEED="0", PROMETHEUS_MULTIPROC_DIR=os.environ.get(
        "PROMETHEUS_MULTIPROC_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "ivr-instructions-metrics")))
    Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(exist_ok=True)
    out = subprocess.run(["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=functools_reduce",
                          "--callgrind-out-file=/dev/null", sys.executable, "-m", "ivr.bench.instructions", "--run", app_name,
                          "--passes", str(passes)], env=env, cwd=ROOT, capture_output=True, text=True, check=True).stderr
    collected = sum(int(text.split()[-1].replace(",", "")) for text in out.splitlines() if "Collected :" in text)
    requests = next(int(text.split()[-1]) for text in out.splitlines() if text.startswith("requests "))
    return collected / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=10, help="measured passes over the requests (10)")
    parser.add_argument("--run", choices=["line", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--no-valgrind", action="store_true", help="run the line's workload once, uncounted")
    args = parser.parse_args()
    if args.run:
        return run(args.run, args.passes)
    if args.no_valgrind:
        run("line", args.passes)
        sys.stdout = sys.__stdout__
        print("line: every request answered 200")
        return None
    line, floor = count("line", args.passes), count("floor", args.passes)
    print(f"line   {line:9,.0f} instructions per webhook")
    print(f"floor  {floor:9,.0f} instructions per webhook")
    print(f"line/floor {line / floor:.2f}")
    return None


if __name__ == "__main__":
    main()
