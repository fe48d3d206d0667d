"""Load test against the real gunicorn server: concurrent simulated calls walk random paths while
menus.yaml is rewritten (valid edits and broken files, alternately) and one worker is killed.

    .venv/bin/python -m ivr.bench.load                 # the full run: 32 calls for 20 s, 2 workers
    .venv/bin/python -m ivr.bench.load --seconds 3     # what CI runs, in small (tests/test_under_load.py)

Everything listens on 127.0.0.1 only. Each simulated call is signed with a test auth token, as
Twilio would sign it (ivr/testers/phone.py). The report counts requests, failures and latency; the run
fails (exit 1) on any 5xx, any malformed TwiML, any failure that was not in flight on the killed
worker, any call that never reached the main menu or a helpline, or any log line that holds the
caller's number.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ivr import ROOT  # the repository: menus.yaml, prompts/, gunicorn.conf.py
from ivr.menus.load import load
from ivr.ops.metrics import FLUSH_SECONDS
from ivr.ops.start import procfile_command
from ivr.testers.phone import Call, HttpTransport, LineError, twilio_params

TOKEN = "load-test-auth-token"
METRICS_TOKEN = "load-test-metrics-token"
CALLER = "+32470123456"  # a placeholder, written in every form the logs are scanned for
CALLER_FORMS = [CALLER, "32470123456", "0470123456", "470123456", "0470 12 34 56", "+32 470 12 34 56"]
KEYS = "0123456789*#"
DIAL_STATUSES = ["completed", "busy", "no-answer", "failed", "canceled"]
EDITED = ", édition "  # what a valid edit adds to a helpline's description


@dataclass
class Timed:
    started: float
    ended: float
    status: int  # 0: no answer at all (connection reset, refused)
    error: str = ""


@dataclass
class Results:
    requests: list[Timed] = field(default_factory=list)
    calls: int = 0
    calls_reached: int = 0
    calls_not_reached: list[str] = field(default_factory=list)
    broken_calls: list[str] = field(default_factory=list)  # 5xx or malformed TwiML
    kills: list[float] = field(default_factory=list)
    edits: dict = field(default_factory=lambda: {"valid": 0, "broken": 0})
    calls_hearing_an_edit: int = 0
    edit_times: list = field(default_factory=list)
    versions_served: set = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class TimedTransport(HttpTransport):
    def __init__(self, results: Results):
        self.results = results

    def post(self, url, params, headers):
        started = time.monotonic()
        try:
            status, body = super().post(url, params, headers)
        except Exception as e:  # the worker died under this request
            with self.results.lock:
                self.results.requests.append(Timed(started, time.monotonic(), 0, type(e).__name__))
            raise NoAnswer(str(e)) from None
        with self.results.lock:
            self.results.requests.append(Timed(started, time.monotonic(), status))
        return status, body


class NoAnswer(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def milestones(menus: Path, prompts: Path) -> tuple[str, ...]:
    """Sentences only heard at the main menu or when a helpline is read: a call that heard one
    of them got somewhere useful."""
    line = load(menus, prompts)
    heard = []
    for language in line.languages:
        heard.append(language.menus[language.main_menu].options[0].say)
        heard.extend(h.name for h in language.helplines.values())
    return tuple(h for h in heard if h)


def walk_calls(base: str, results: Results, stop: float, seed: int, useful: tuple[str, ...]):
    rng = random.Random(seed)
    while time.monotonic() < stop:
        transport = TimedTransport(results)
        params = dict(twilio_params(caller=CALLER), CallSid=f"CA{rng.getrandbits(128):032x}")
        c = Call(transport, base, TOKEN, params)
        outcome = ""
        try:
            c.start()
            c.press(rng.choice("12"))  # a language first: a call that only hears the choice tells nothing
            for _ in range(rng.randint(2, 12)):
                if c.ended or time.monotonic() > stop:
                    break
                if c.waiting == "dial":
                    c.dial_outcome(rng.choice(DIAL_STATUSES))
                elif rng.random() < 0.15:
                    c.silence()
                else:
                    c.press(rng.choice(KEYS[:-1] if rng.random() < 0.95 else KEYS))
        except NoAnswer:
            outcome = "no answer"
        except LineError as e:
            outcome = str(e)
        reached = any(u in text for text in c.transcript for u in useful)
        with results.lock:
            results.calls += 1
            results.calls_hearing_an_edit += any(EDITED in text for text in c.transcript)
            if outcome and outcome != "no answer":
                results.broken_calls.append(outcome)
            if reached:
                results.calls_reached += 1
            elif not outcome:
                results.calls_not_reached.append(" | ".join(c.transcript[-6:]))


def rewrite_menus(menus: Path, original: str, results: Results, stop: float, every: float):
    """Alternately a valid edit (a sentence changes) and a broken file, written in place as an
    editor would."""
    n = 0
    # The first topic of the first language's main menu: every call that gets anywhere hears it.
    first = load(menus, menus.parent / "prompts").languages[0]
    anchor = first.menus[first.main_menu].options[0].say
    assert anchor in original
    start = time.monotonic()
    while time.monotonic() < stop:
        n += 1
        if n % 2:
            menus.write_text(original.replace(anchor, f"{anchor}{EDITED}{n}"), encoding="utf-8")
            results.edits["valid"] += 1
        else:
            menus.write_text(original[: len(original) // 2] + "\n  broken: [unclosed\n", encoding="utf-8")
            results.edits["broken"] += 1
        results.edit_times.append(round(time.monotonic() - start, 2))
        # On a fixed schedule, so that a slow wake-up under load does not skip edits.
        time.sleep(max(0.0, start + n * every - time.monotonic()))
    menus.write_text(original, encoding="utf-8")


def watch_health(base: str, results: Results, stop: float):
    while time.monotonic() < stop:
        status, body = get(base + "/healthz")
        if status == 200:
            results.versions_served.add(json.loads(body)["menu_version"])
        time.sleep(0.25)


def workers_of(master: int) -> list[int]:
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return []
    return [int(pid) for pid in children]


def kill_a_worker(master: int, results: Results, at: float):
    time.sleep(max(0.0, at - time.monotonic()))
    workers = workers_of(master)
    if workers:
        results.kills.append(time.monotonic())
        os.kill(workers[0], signal.SIGKILL)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run(calls: int = 32, seconds: float = 20.0, workers: int = 2, edit_every: float = 1.0) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="ivr-load-"))
    try:
        return _run(folder, calls, seconds, workers, edit_every)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(folder: Path, calls: int, seconds: float, workers: int, edit_every: float) -> dict:
    shutil.copy(ROOT / "menus.yaml", folder / "menus.yaml")
    shutil.copytree(ROOT / "prompts", folder / "prompts")
    menus = folder / "menus.yaml"
    original = menus.read_text(encoding="utf-8")
    useful = milestones(menus, folder / "prompts")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, TWILIO_AUTH_TOKEN=TOKEN, IVR_METRICS_TOKEN=METRICS_TOKEN,
               IVR_MENUS=str(menus), IVR_PROMPTS=str(folder / "prompts"), IVR_TRUSTED_PROXIES="0", IVR_PUBLIC_URL=base,
               WEB_CONCURRENCY=str(workers), PROMETHEUS_MULTIPROC_DIR=str(folder / "metrics"),
               # each worker looks for edits twice as often as they come, so it sees both kinds
               IVR_RELOAD_SECONDS=str(edit_every / 2))
    env.pop("IVR_ALLOW_UNSIGNED", None)
    out, err = open(folder / "stdout", "w+"), open(folder / "stderr", "w+")
    gunicorn = procfile_command() + ["--bind", f"127.0.0.1:{port}",
                                     "--no-control-socket"]  # a running server's socket in ~/.gunicorn stays its own
    server = subprocess.Popen(gunicorn, env=env, stdout=out, stderr=err, cwd=ROOT)
    results = Results()
    try:
        deadline = time.monotonic() + 15
        while get(base + "/healthz")[0] != 200:
            if server.poll() is not None or time.monotonic() > deadline:
                err.seek(0)
                raise RuntimeError("gunicorn did not start:\n" + err.read())
            time.sleep(0.1)
        started = time.monotonic()
        stop = started + seconds
        threads = [
            threading.Thread(target=rewrite_menus, args=(menus, original, results, stop, edit_every)),
            threading.Thread(target=watch_health, args=(base, results, stop)),
            threading.Thread(target=kill_a_worker, args=(server.pid, results, started + seconds / 2)),
        ]
        threads += [threading.Thread(target=walk_calls, args=(base, results, stop, seed, useful)) for seed in range(calls)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds + 60)
        # Workers add their counts to the shared metric files once a second (ivr/ops/metrics.py).
        time.sleep(FLUSH_SECONDS + 1)
        status, text = get(base + "/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read(), err.read()
    return report(results, stdout, stderr, text if status == 200 else "", seconds)


def report(results: Results, stdout: str, stderr: str, metrics_text: str, seconds: float) -> dict:
    requests = results.requests
    answered = [r for r in requests if r.status]
    no_answer = [r for r in requests if not r.status]
    in_flight = [r for r in no_answer if any(r.started <= k <= r.ended for k in results.kills)]
    # A worker killed outright loses the counts it had not flushed yet: at most its last second.
    unflushed = [r for r in answered if any(k - FLUSH_SECONDS <= r.ended <= k for k in results.kills)]
    webhooks_counted = sum(float(line.rsplit(" ", 1)[1]) for line in metrics_text.splitlines()
                           if line.startswith("ivr_webhook_seconds_count"))
    log_lines = [line for line in stdout.splitlines() if line.startswith("{")]
    leaks = sorted({form for form in CALLER_FORMS for text in (stdout, stderr) if form in text})
    summary = {
        "seconds": seconds,
        "calls": results.calls,
        "calls_reaching_main_menu_or_helpline": results.calls_reached,
        "requests": len(requests),
        "requests_per_second": round(len(requests) / seconds, 1),
        "answers_5xx": sum(r.status >= 500 for r in answered),
        "answers_not_200": sum(r.status != 200 for r in answered),
        "broken_calls": results.broken_calls[:5],
        "failures": len(no_answer),
        "failures_in_flight_on_killed_worker": len(in_flight),
        "workers_killed": len(results.kills),
        "p50_ms": round(percentile([(r.ended - r.started) * 1000 for r in answered], 50), 1),
        "p99_ms": round(percentile([(r.ended - r.started) * 1000 for r in answered], 99), 1),
        "menu_edits": results.edits,
        "menu_edit_times": results.edit_times,
        "menu_versions_served": len(results.versions_served),
        "reloads_logged": stderr.count("menus reloaded"),
        "refused_edits_logged": stderr.count("menu files refused"),
        "calls_hearing_an_edit": results.calls_hearing_an_edit,
        "webhooks_in_metrics": int(webhooks_counted),
        "webhooks_answered_in_the_second_before_a_kill": len(unflushed),
        "json_log_lines": len(log_lines),
        "calls_that_got_nowhere": results.calls_not_reached[:5],
        "log_lines_with_caller_number": leaks,
    }
    problems = []
    if summary["answers_not_200"] or results.broken_calls:
        problems.append("a caller got an error or malformed TwiML")
    if len(no_answer) > len(in_flight):
        problems.append("requests failed that were not in flight on the killed worker")
    if results.calls_not_reached:
        problems.append("some calls never reached the main menu or a helpline")
    if leaks:
        problems.append("the caller's number is in the logs")
    if not results.kills:
        problems.append("no worker was killed")
    if not len(answered) - len(unflushed) <= webhooks_counted <= len(answered) + len(in_flight):
        problems.append("/metrics does not add up every worker's webhooks")
    if not len(answered) <= len(log_lines) <= len(answered) + len(in_flight):
        problems.append("not one JSON log line per webhook")
    summary["problems"] = problems
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=32, help="concurrent simulated calls")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--edit-every", type=float, default=1.0, help="seconds between rewrites of menus.yaml")
    args = parser.parse_args(argv)
    summary = run(args.calls, args.seconds, args.workers, args.edit_every)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 1 if summary["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
