"""`python -m ivr bench`: how close the line answers to the speed of a static page.

It starts the line exactly as the Procfile does (gunicorn, gunicorn.conf.py) and, as the floor,
a Flask app that answers every POST with one fixed TwiML document (`ivr.bench.floor`) under the
same command. Both listen on 127.0.0.1 only. The requests are those of real calls: the simulated
phone walks the running line (language, a topic, a helpline, a transfer and its outcome), with
all of Twilio's parameters and valid signatures, and wrk replays them in a loop. Line and floor
take turns, round after round, so that both see the same machine. docs/performance.md has the
results and what each change bought.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import click
from twilio.request_validator import RequestValidator

from .. import ROOT
from ..menus.load import MenuError, inspect, load
from ..ops.start import procfile_command
from ..testers import phone

WRK_MISSING = ("wrk is not installed; the benchmark needs it to load the line. "
               "On Debian or Ubuntu: sudo apt-get install wrk")


@dataclass
class Load:
    """One wrk run against one server."""
    server: str  # "line" or "floor"
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    worker_rss_mb: list[float]
    cpu_us_per_request: float  # the workers' CPU time (user + system) over the requests served


class Server:
    """A gunicorn started with the Procfile's command, bound to 127.0.0.1 on a free port."""

    def __init__(self, name: str, app_spec: str, env: dict):
        self.name = name
        self.port = _free_port()
        # Only the app differs between line and floor; the bind keeps the load on this machine.
        command = procfile_command()[:-1] + [app_spec, "--bind", f"127.0.0.1:{self.port}"]
        # gunicorn's log goes to a file: a pipe nobody reads would stall the server once full.
        self.log = tempfile.TemporaryFile(mode="w+")
        env = {**env, "IVR_PUBLIC_URL": self.url}  # the address its requests are signed for
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                        stderr=self.log, text=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise click.ClickException(f"the {self.name} did not start:\n{self.log.read()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise click.ClickException(f"the {self.name} did not listen on port {self.port} within {seconds} s")

    def worker_rss_mb(self) -> list[float]:
        """Resident memory of each worker (not the master), from /proc."""
        sizes = []
        for pid in children(self.process.pid):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for text in status.splitlines():
                if text.startswith("VmRSS:"):
                    sizes.append(int(text.split()[1]) / 1024)
        return sorted(sizes)

    def worker_cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the workers, from /proc."""
        ticks = 0
        for pid in children(self.process.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """The processes `pid` started and has not reaped (gunicorn's workers), from /proc; none once it is gone."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(p) for p in task.read_text().split()]
        except OSError:  # the thread or the process ended meanwhile
            pass
    return found


def call_keys(menus: str | Path, prompts: str | Path | None) -> list[tuple[str, ...]]:
    """For each language, the keys of one call: the language, the keys to one of the deepest
    helpline pages (one offering a transfer if any does; in the shipped menu: a topic, then a
    helpline), then the transfer key, or else the main-menu key."""
    line = load(menus, prompts)
    calls = []
    for language in line.languages:
        pages = list(language.pages())
        pages.sort(key=lambda p: (not p[1].transfers(), -len(p[0])))
        path, page = pages[0]
        last = page.transfers()[0][0] if page.transfers() else line.keys.main_menu
        calls.append((language.key,) + path + (last,))
    return calls


def recorded_requests(url: str, token: str, calls: list[tuple[str, ...]], transport=None) -> list[tuple[str, dict]]:
    """Place each call on the running line with the simulated phone (a transfer once busy and
    once completed) and keep every request made: (path and query, Twilio's parameters).
    A call that goes wrong stops the benchmark here."""
    # Here, not at the top: every worker of the line imports this module with the commands.
    from ..testers.phone import Call, HttpTransport, twilio_params
    requests = []
    for keys in calls:
        for outcome in ("busy", "completed"):
            call = Call(transport or HttpTransport(), url, token, twilio_params()).start()
            call.press("".join(keys))
            if call.waiting == "dial":
                call.dial_outcome(outcome)
            elif outcome == "completed":
                continue  # no transfer on this call: once is enough
            if call.waiting != "keys" and not (outcome == "completed" and call.ended):  # it hangs up after
                raise click.ClickException(f"a call pressing {' '.join(keys)} ended or went astray:\n"
                                           + "\n".join(call.transcript))
            requests += [(r.url[len(url):], r.params) for r in call.requests]
    return requests


def wrk_script(url: str, requests: list[tuple[str, dict]], token: str) -> str:
    """A wrk Lua script that sends the requests in turn, signed for `url` as Twilio would sign
    them, and prints a summary line."""
    validator = RequestValidator(token)
    entries = []
    for path, params in requests:
        body = urllib.parse.urlencode(params)
        signature = validator.compute_signature(url + path, params)
        entries.append(
            f'wrk.format("POST", {_lua(path)}, {{["Content-Type"] = "application/x-www-form-urlencoded", '
            f'["X-Twilio-Signature"] = {_lua(signature)}}}, {_lua(body)})'
        )
    return """
local requests = {}
local next_one = 0
function init(args)
  requests = {
    %s
  }
  next_one = math.random(#requests) - 1
end
function request()
  next_one = next_one %% #requests + 1
  return requests[next_one]
end
function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %%d, "seconds": %%f, "p50_us": %%d, "p99_us": %%d, "errors": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
""" % ",\n    ".join(entries)


def _lua(text: str) -> str:
    return '"' + "".join(c if c.isalnum() or c in " %+=&/.?-_:" else "\\%d" % ord(c) for c in text) + '"'


def run_wrk(server: Server, script: Path, seconds: int, connections: int) -> Load:
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "15s",
               "-s", str(script), server.url]
    cpu_before = server.worker_cpu_seconds()
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    cpu = server.worker_cpu_seconds() - cpu_before
    summary = next((json.loads(t[len("BENCH "):]) for t in done.stdout.splitlines() if t.startswith("BENCH ")), None)
    if done.returncode != 0 or summary is None:
        raise click.ClickException(f"wrk failed against the {server.name}:\n{done.stdout}{done.stderr}")
    return Load(server.name, summary["requests"] / summary["seconds"], summary["p50_us"] / 1000,
                summary["p99_us"] / 1000, summary["errors"], server.worker_rss_mb(),
                cpu / max(summary["requests"], 1) * 1e6)


@click.command("bench")
@click.option("--rounds", default=5, show_default=True, help="line and floor take turns this many times")
@click.option("--seconds", default=10, show_default=True, help="length of each load")
@click.option("--connections", default=16, show_default=True, help="wrk's concurrent connections")
@click.option("--big-menu", is_flag=True, help="bench a generated menu of 200 menus and 2,000 helplines")
@click.option("--menus", help="bench this menus.yaml (default: the shipped one)")
@click.option("--prompts", "prompts_dir", help="its prompts folder (default: prompts/ next to it)")
@click.option("--in-process", is_flag=True,
              help="no server, no wrk: time the same requests through the WSGI apps in this process "
                   "(steady, and what a profiler should wrap: pyinstrument -m ivr bench --in-process)")
@click.option("--runs", default=9, show_default=True, type=click.IntRange(min=1), help="with --in-process: the best of this many runs of 50 passes")
def bench_command(rounds, seconds, connections, big_menu, menus, prompts_dir, in_process, runs):
    """Load the line and a static-TwiML floor with wrk, in turns; report the line against the floor."""
    if shutil.which("wrk") is None and not in_process:
        raise click.ClickException(WRK_MISSING)
    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as folder:
        folder = Path(folder)
        if big_menu:
            from .bigmenu import write_big_menu
            menus = str(write_big_menu(folder / "big"))
        menus = menus or str(ROOT / "menus.yaml")
        prompts_dir = prompts_dir or str(Path(menus).parent / "prompts")
        started = time.perf_counter()
        line, problems = inspect(menus, prompts_dir)
        load_seconds = time.perf_counter() - started
        if line is None:  # a broken menu file: its problems, then one sentence and status 2, as every command
            raise MenuError(problems)
        click.echo(f"menu: {menus}: {sum(len(lang.menus) for lang in line.languages)} menus, "
                   f"{sum(len(lang.helplines) for lang in line.languages)} helplines; "
                   f"loaded and checked in {load_seconds * 1000:.0f} ms")
        token = secrets.token_hex(16)
        if in_process:
            return _in_process(menus, prompts_dir, token, runs)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
        env.update(TWILIO_AUTH_TOKEN=token, IVR_MENUS=menus, IVR_PROMPTS=prompts_dir,
                   IVR_TRANSFER_CALLER_ID=phone.TRANSFER_CALLER_ID)  # so the walk's transfers are real
        servers = [Server("line", procfile_command()[-1], env), Server("floor", "ivr.bench.floor:create_floor()", env)]
        try:
            for server in servers:
                server.wait_until_ready()
            requests = recorded_requests(servers[0].url, token, call_keys(menus, prompts_dir))
            click.echo(f"{len(requests)} requests of simulated calls, replayed by wrk "
                       f"with {connections} connections, {seconds} s a load")
            loads = _rounds(servers, requests, token, folder, rounds, seconds, connections)
        finally:
            for server in servers:
                server.stop()
    errors = _report(loads, rounds)
    if errors:
        raise click.ClickException(f"{errors} request(s) failed: the line must answer every one")


def wsgi_environs(url: str, token: str, requests: list[tuple[str, dict]]) -> list[tuple[dict, bytes]]:
    """Each request as a WSGI environ, signed for `url`, with its body apart (a fresh input stream
    is made of it for each pass)."""
    from werkzeug.test import EnvironBuilder
    validator = RequestValidator(token)
    environs = []
    for path, params in requests:
        builder = EnvironBuilder(path=path.partition("?")[0], query_string=path.partition("?")[2], method="POST",
                                 base_url=url, data=urllib.parse.urlencode(params),
                                 content_type="application/x-www-form-urlencoded",
                                 headers={"X-Twilio-Signature": validator.compute_signature(url + path, params)})
        environ = builder.get_environ()
        environ["RAW_URI"] = path  # as gunicorn gives it
        environs.append((environ, environ["wsgi.input"].read()))
    return environs


def _in_process(menus: str, prompts_dir: str, token: str, runs: int) -> None:
    """The app's own cost per request, without gunicorn, sockets or wrk: the best of `runs` runs."""
    import io

    from .. import create_app
    from ..testers.phone import FlaskTransport
    from .floor import create_floor
    url = "http://127.0.0.1:8000"
    line_app = create_app({"TWILIO_AUTH_TOKEN": token, "MENUS": menus, "PROMPTS": prompts_dir,
                           "TRANSFER_CALLER_ID": phone.TRANSFER_CALLER_ID})
    click.get_current_context().call_on_close(line_app.extensions["ivr"].close)  # its menu watcher too
    requests = recorded_requests(url, token, call_keys(menus, prompts_dir), FlaskTransport(line_app.test_client()))
    environs = wsgi_environs(url, token, requests)

    def one_pass(app) -> float:
        started = time.perf_counter()
        for environ, body in environs:
            environ = dict(environ, **{"wsgi.input": io.BytesIO(body)})
            statuses = []
            b"".join(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
            if not statuses[0].startswith("200"):
                raise click.ClickException(f"{environ['PATH_INFO']} answered {statuses[0]} in process")
        return time.perf_counter() - started

    click.echo(f"{len(environs)} requests of simulated calls, through each WSGI app in this process")
    for name, app in (("line", line_app.wsgi_app), ("floor", create_floor().wsgi_app)):
        for _ in range(20):  # warm up
            one_pass(app)
        best = min(sum(one_pass(app) for _ in range(50)) / 50 for _ in range(runs))
        click.echo(f"  {name:<6} {best / len(environs) * 1e6:6.0f} us per request (best of {runs} runs of 50 passes)")


def _rounds(servers, requests, token, folder, rounds, seconds, connections) -> list[Load]:
    scripts = {}
    for server in servers:
        script = folder / f"{server.name}.lua"
        # Each server is sent the same requests, signed for its own port.
        script.write_text(wrk_script(server.url, requests, token))
        scripts[server.name] = script
        run_wrk(server, script, 1, connections)  # warm-up, not counted
    loads = []
    for _ in range(rounds):
        for server in servers:
            loads.append(run_wrk(server, scripts[server.name], seconds, connections))
    return loads


def _report(loads: list[Load], rounds: int) -> int:
    click.echo(f"{'round':>5} {'server':<6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
               f"{'CPU us/req':>10}  worker RSS MB")
    ratios, p99_ratios, cpu_ratios = [], [], []
    for i in range(rounds):
        line, floor = loads[2 * i], loads[2 * i + 1]
        for one in (line, floor):
            rss = " ".join(f"{mb:.1f}" for mb in one.worker_rss_mb)
            click.echo(f"{i + 1:>5} {one.server:<6} {one.requests_per_second:>8.0f} {one.p50_ms:>7.2f} "
                       f"{one.p99_ms:>7.2f} {one.errors:>6} {one.cpu_us_per_request:>10.0f}  {rss}")
        ratios.append(line.requests_per_second / floor.requests_per_second)
        p99_ratios.append(line.p99_ms / floor.p99_ms)
        cpu_ratios.append(floor.cpu_us_per_request / line.cpu_us_per_request if line.cpu_us_per_request else 0)
        click.echo(f"{'':>5} line/floor: throughput {ratios[-1]:.3f}, p99 {p99_ratios[-1]:.2f}; "
                   f"floor/line CPU per request {cpu_ratios[-1]:.3f}")
    median = statistics.median
    lines = [one for one in loads if one.server == "line"]
    floors = [one for one in loads if one.server == "floor"]
    errors = sum(one.errors for one in loads)
    click.echo("medians:")
    for name, group in (("line", lines), ("floor", floors)):
        click.echo(f"  {name:<6} {median(o.requests_per_second for o in group):>8.0f} req/s, "
                   f"p50 {median(o.p50_ms for o in group):.2f} ms, p99 {median(o.p99_ms for o in group):.2f} ms, "
                   f"errors {sum(o.errors for o in group)}, CPU {median(o.cpu_us_per_request for o in group):.0f} us/req, "
                   f"largest worker "
                   f"{max((mb for o in group for mb in o.worker_rss_mb), default=0):.1f} MB")
    click.echo(f"  line/floor throughput {median(ratios):.3f} (target >= 0.75), "
               f"p99 {median(p99_ratios):.2f} (target <= 1.5), errors {errors} (target 0)")
    # Other programs on the machine move req/s from round to round, CPU per request much less;
    # leaving out wrk's own share makes it a lower bound of the ratio on an idle machine.
    click.echo(f"  floor/line CPU per request {median(cpu_ratios):.3f} (a lower bound of the throughput ratio)")
    return errors
