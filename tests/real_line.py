"""The line under the Procfile's own command (gunicorn, gunicorn.conf.py), on 127.0.0.1 only, with
a copy of the menus: for the tests that need real sockets, real workers and real signals."""
from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from twilio.request_validator import RequestValidator

from ivr import ROOT
from ivr.bench.command import children
from ivr.ops.start import procfile_command  # the Procfile's web: command, run by this Python
from ivr.testers.phone import twilio_params

TOKEN = "real-line-test-token"
METRICS_TOKEN = "real-line-metrics-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def handles_signals(pid: int) -> bool:
    """Whether a gunicorn worker has set up its own signal handlers. Forked, it catches what its
    master catches, SIGHUP and SIGTERM among them; gunicorn's Worker.init_signals then resets
    those to the default and catches SIGTERM again, not SIGHUP. So: SIGTERM caught, SIGHUP not."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next((int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:")), 0)
    return bool(caught >> (signal.SIGTERM - 1) & 1) and not caught >> (signal.SIGHUP - 1) & 1


class RealLine:
    def __init__(self, folder: Path, *extra: str, env: dict | None = None, reload_seconds: float = 0.5):
        self.folder = folder
        self.port = free_port()
        self.menus = folder / "menus.yaml"
        self.prompts = folder / "prompts"
        shutil.copy(ROOT / "menus.yaml", self.menus)
        shutil.copytree(ROOT / "prompts", self.prompts)
        self.metrics_folder = folder / "metrics"
        environ = dict(os.environ, TWILIO_AUTH_TOKEN=TOKEN, IVR_METRICS_TOKEN=METRICS_TOKEN, IVR_PUBLIC_URL=self.url(""),
                       IVR_MENUS=str(self.menus), IVR_PROMPTS=str(self.prompts),
                       IVR_RELOAD_SECONDS=str(reload_seconds), PROMETHEUS_MULTIPROC_DIR=str(self.metrics_folder),
                       WEB_CONCURRENCY="2")
        environ.update(env or {})  # may replace any of the above (IVR_PUBLIC_URL behind a proxy)
        environ.pop("IVR_ALLOW_UNSIGNED", None)
        self.stdout = open(folder / "stdout", "w+")
        self.stderr = open(folder / "stderr", "w+")
        command = procfile_command() + ["--bind", f"127.0.0.1:{self.port}", "--no-control-socket", *extra]
        self.process = subprocess.Popen(command, env=environ, stdout=self.stdout, stderr=self.stderr, cwd=ROOT)
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.get("/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("gunicorn did not start:\n" + self.log())
            time.sleep(0.1)
        # One worker answers; wait for every one to have set up its own signal handlers: a worker
        # signalled before that misses a SIGTERM (gunicorn's master then waits for it until
        # graceful_timeout).
        while not self.ready(int(environ["WEB_CONCURRENCY"])):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("gunicorn's workers did not set up their signal handlers:\n" + self.log())
            time.sleep(0.05)

    # -- requests ------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, headers: dict | None = None, timeout: float = 5) -> tuple[int, str]:
        request = urllib.request.Request(self.url(path), headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self) -> tuple[int, str]:
        return self.get("/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})

    def signed_voice(self, extra_headers: dict | None = None) -> tuple[bytes, dict]:
        """A signed POST /voice as Twilio would send it here: (body, headers)."""
        params = twilio_params()
        body = urllib.parse.urlencode(params).encode()
        signature = RequestValidator(TOKEN).compute_signature(self.url("/voice"), params)
        headers = {"Host": f"127.0.0.1:{self.port}", "Content-Type": "application/x-www-form-urlencoded",
                   "Content-Length": str(len(body)), "X-Twilio-Signature": signature, **(extra_headers or {})}
        return body, headers

    def post_voice(self, timeout: float = 5) -> tuple[int, str]:
        body, headers = self.signed_voice()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("POST", "/voice", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    # -- processes -----------------------------------------------------------------------------
    def ready(self, workers: int, master: int | None = None) -> bool:
        """`workers` workers of `master` (this line's, unless told), each with its own signal handlers."""
        pids = children(master or self.process.pid)
        return len(pids) >= workers and all(map(handles_signals, pids))

    def workers(self) -> list[int]:
        return children(self.process.pid)

    @staticmethod
    def rss_mb(pid: int) -> float:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def log(self) -> str:
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read()

    def output(self) -> str:
        self.stdout.flush()
        self.stdout.seek(0)
        return self.stdout.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(25)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
