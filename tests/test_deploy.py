"""The line as production runs it: a fresh virtualenv with requirements.txt alone (nothing from
requirements-dev.txt), the Procfile's `web:` line run verbatim by a shell with only PORT,
TWILIO_AUTH_TOKEN, IVR_PUBLIC_URL and IVR_METRICS_TOKEN set (and IVR_MENUS, to edit a copy), and the operator's
commands in that same environment.

The environment is built once per version of requirements.txt (and of Python) and kept in
~/.cache/ivr-deploy-test/ (IVR_DEPLOY_TEST_CACHE names another folder): about a minute the first
time, nothing after. Older ones there are removed when a new one is built."""
from __future__ import annotations

import fcntl
import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from twilio.request_validator import RequestValidator

from ivr import ROOT
from ivr.menus.load import load
from ivr.testers.phone import HttpTransport, call, twilio_params
from real_line import free_port

TOKEN = "deploy-test-token"
METRICS_TOKEN = "deploy-test-metrics-token"
CACHE = Path(os.environ.get("IVR_DEPLOY_TEST_CACHE") or Path.home() / ".cache" / "ivr-deploy-test")


def production_env() -> Path:
    """The virtualenv a Procfile host would have: `pip install -r requirements.txt`, nothing else."""
    requirements = (ROOT / "requirements.txt").read_bytes()
    key = hashlib.sha256(requirements + sys.version.encode()).hexdigest()[:16]
    venv = CACHE / key
    ready = venv / "installed-from-requirements.txt"
    if ready.exists():
        return venv
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test processes build it once
        if ready.exists():
            return venv
        for old in CACHE.iterdir():
            if old.is_dir() and old.name != key:
                shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--require-hashes",
                               "-r", str(ROOT / "requirements.txt")], capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, "pip could not install requirements.txt in a fresh venv:\n" + done.stderr[-3000:]
        ready.write_bytes(requirements)
    return venv



def web_line() -> str:
    return next(text for text in (ROOT / "Procfile").read_text().splitlines() if text.startswith("web:"))[4:].strip()


def host_environment(venv: Path, tmp: Path, **settings: str) -> dict:
    """What a Procfile host gives the command: its PATH with the app's venv first, a temporary
    folder of its own (TMPDIR: this test's, so it can see what is left there), and the settings."""
    return {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp), "TMPDIR": str(tmp / "tmp"),
            "LANG": "C.UTF-8", **settings}


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


class Line:
    def __init__(self, env: dict, log: Path):
        self.port = int(env["PORT"])
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_file = open(log, "w+")
        # Verbatim, through a shell, from the app's folder, as a Procfile host runs it. `exec` so the
        # SIGTERM below reaches gunicorn's master as a platform's stop does.
        self.process = subprocess.Popen(["/bin/sh", "-c", "exec " + web_line()], env=env, cwd=ROOT,
                                        stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while self.get("/healthz")[0] != 200:
            assert self.process.poll() is None and time.monotonic() < deadline, "the line did not start:\n" + self.log()
            time.sleep(0.2)

    def get(self, path: str, headers: dict | None = None) -> tuple[int, str]:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read().decode()
        except OSError:
            return 0, ""

    def metrics(self) -> str:
        status, body = self.get("/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert status == 200, (status, body)
        return body

    def log(self) -> str:
        self.log_file.flush()
        return Path(self.log_file.name).read_text()

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log_file.close()


def counted(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for found in re.finditer(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.M):
        have = dict(re.findall(r'(\w+)="([^"]*)"', found[1]))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(found[2])
    return total


def scripted_call(base: str):
    """Several pages with the keys every menu has (menus.yaml's `keys:`): the language, the menu
    again, the other language, the quick exit."""
    keys = load(ROOT / "menus.yaml").keys
    phone = call(HttpTransport(), base, TOKEN)
    phone.press("1").press(keys.repeat).press(keys.change_language).press("2").press(keys.quick_exit)
    assert phone.ended
    return phone


def test_the_procfile_command_from_requirements_txt_alone(tmp_path):
    started = time.monotonic()
    venv = production_env()
    built = time.monotonic() - started
    (tmp_path / "tmp").mkdir()
    stale = tmp_path / "tmp" / f"ivr-metrics-{dead_pid()}"  # a run that was killed (SIGKILL, power cut)
    stale.mkdir()
    (stale / "counter_1.db").write_bytes(b"\0" * 8)
    menus = tmp_path / "menus.yaml"
    shutil.copy(ROOT / "menus.yaml", menus)
    port = free_port()
    env = host_environment(venv, tmp_path, PORT=str(port), TWILIO_AUTH_TOKEN=TOKEN, IVR_PUBLIC_URL=f"http://127.0.0.1:{port}",
                           IVR_METRICS_TOKEN=METRICS_TOKEN, IVR_MENUS=str(menus))
    line = Line(env, tmp_path / "line.log")
    try:
        # Production's own packages, not this suite's: no test tool can be imported there.
        probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import pytest"], capture_output=True)
        assert probe.returncode != 0
        assert not stale.exists(), "a killed run's metrics folder was left"

        # A call of several pages, signed as Twilio signs them; its webhooks counted exactly.
        phone = scripted_call(line.base)
        pages = len(phone.requests)
        assert pages >= 5 and all(r.status == 200 for r in phone.requests)
        deadline = time.monotonic() + 15  # the other worker adds its counts within a second or two
        while counted(line.metrics(), "ivr_webhooks_total", status="200") < pages and time.monotonic() < deadline:
            time.sleep(0.3)
        text = line.metrics()
        webhooks = counted(text, "ivr_webhooks_total", status="200")
        print(f"deploy test: {pages} webhooks of one call, /metrics counts {webhooks:g}; "
              f"calls started {counted(text, 'ivr_calls_started_total'):g}, language changes "
              f"{counted(text, 'ivr_language_changes_total'):g}, quick exits {counted(text, 'ivr_quick_exits_total'):g}")
        assert webhooks == pages
        assert counted(text, "ivr_webhooks_total") == pages  # and none with another status
        assert counted(text, "ivr_calls_started_total") == 1
        assert counted(text, "ivr_language_changes_total") == 1
        assert counted(text, "ivr_quick_exits_total") == 1
        assert counted(text, "ivr_webhook_seconds_count") == pages
        folders = list((tmp_path / "tmp").glob("ivr-metrics-*"))
        assert len(folders) == 1  # this run's

        # An operator's edit of menus.yaml reaches the next caller, without a restart.
        heard = call(HttpTransport(), line.base, TOKEN).press("1").said
        text = menus.read_text(encoding="utf-8")
        sentence = next(said for said in re.findall(r'say: "([^"]+)"', text)
                        if said in heard and text.count(f'"{said}"') == 1)
        menus.write_text(text.replace(f'"{sentence}"', '"Pour la phrase modifiée du test de déploiement"'), encoding="utf-8")
        deadline = time.monotonic() + 20
        while "phrase modifiée du test de déploiement" not in call(HttpTransport(), line.base, TOKEN).press("1").said:
            assert time.monotonic() < deadline, f"the edit was not heard: {sentence!r}"
            time.sleep(0.5)

        # A stop (deploy, restart) during a webhook: it is still answered, then the line stops.
        params = twilio_params()
        body = urllib.parse.urlencode(params).encode()
        signature = RequestValidator(TOKEN).compute_signature(f"{line.base}/voice", params)
        head = (f"POST /voice HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\nX-Twilio-Signature: {signature}\r\n\r\n")
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            s.sendall(head.encode() + body[:20])
            time.sleep(0.5)
            line.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            s.sendall(body[20:])
            answer = b""
            while b"</Response>" not in answer:
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200") and answer.rstrip().endswith(b"</Response>"), answer[:300]
        assert line.process.wait(30) == 0
        log = line.log()
        assert "Traceback" not in log and "Error" not in log, log[-3000:]
        assert "had been deleted" not in log and "files of process" not in log, log[-3000:]
        assert list((tmp_path / "tmp").glob("ivr-metrics-*")) == [], "the metrics folder was left after a normal stop"
    finally:
        line.stop()

    # An operator on the production host: the check and the fallback document, same environment.
    for command in (["check"], ["fallback"]):
        done = subprocess.run([str(venv / "bin" / "python"), "-m", "ivr", *command], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env=host_environment(venv, tmp_path))
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
        assert "Traceback" not in done.stderr
    print(f"deploy test: environment ready in {built:.1f} s, whole test {time.monotonic() - started:.1f} s")
