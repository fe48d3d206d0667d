"""deploy/helpline.service, the unit that runs the line behind nginx on a Debian host, and its
settings file deploy/helpline.env: what can be checked without booting systemd here."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from ivr import ROOT
from ivr.testers.phone import twilio_params
from real_line import TOKEN, free_port, procfile_command

UNIT = ROOT / "deploy" / "helpline.service"
SETTINGS = ROOT / "deploy" / "helpline.env"
NGINX = ROOT / "deploy" / "nginx-helpline.conf"
INSTALLED_AT = "/opt/helpline"
SETTINGS_AT = "/etc/helpline/helpline.env"


def service() -> dict[str, list[str]]:
    """The [Service] section's settings: name -> every value given, in order."""
    values: dict[str, list[str]] = {}
    section = None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values.setdefault(name, []).append(value)
    return values


def environment() -> dict[str, str]:
    """Every variable the unit gives the line: its Environment= lines, then the settings file."""
    names = {}
    for value in service()["Environment"]:
        for word in shlex.split(value):
            name, _, setting = word.partition("=")
            names[name] = setting
    for line in SETTINGS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, setting = line.partition("=")
            names[name.strip()] = setting.strip()
    return names


def documented() -> str:
    return (ROOT / "docs" / "operations.md").read_text() + (ROOT / "README.md").read_text()


def test_the_unit_runs_the_procfiles_command_from_the_installed_project():
    settings = service()
    command = shlex.split(settings["ExecStart"][0])
    assert command[0] == f"{INSTALLED_AT}/.venv/bin/python3"  # the Procfile's python3, from the project's venv
    assert command[1:] == procfile_command()[1:], "ExecStart should be the Procfile's web command"
    assert settings["WorkingDirectory"] == [INSTALLED_AT]  # where gunicorn.conf.py and menus.yaml are
    assert settings["EnvironmentFile"] == [SETTINGS_AT]


def test_it_restarts_on_failure_as_its_own_user_with_the_metrics_on_its_own_tmpfs():
    settings = service()
    assert settings["Restart"] == ["on-failure"]
    assert settings["User"] == ["helpline"] and settings["Group"] == ["helpline"]
    assert settings["RuntimeDirectory"] == ["helpline"]  # /run/helpline: tmpfs, made and removed with the unit
    assert environment()["PROMETHEUS_MULTIPROC_DIR"].startswith("/run/helpline/")
    # Longer than gunicorn's graceful_timeout (15 s), so webhooks in flight are answered on a stop.
    assert int(settings["TimeoutStopSec"][0]) >= 20 and settings["KillMode"] == ["mixed"]
    assert settings["NoNewPrivileges"] == ["yes"] and settings["ProtectSystem"] == ["strict"]


def test_it_names_only_documented_settings_and_the_line_needs_them():
    names = environment()
    undocumented = [name for name in names if f"`{name}`" not in documented()]
    assert not undocumented, f"deploy/ names settings docs/operations.md and README.md do not explain: {undocumented}"
    # What the line needs behind nginx: its token, its public URL, and nginx's queue time believed.
    assert {"TWILIO_AUTH_TOKEN", "IVR_PUBLIC_URL", "IVR_PROXY_SETS_REQUEST_START"} <= set(names)
    assert names["IVR_PUBLIC_URL"].startswith("https://")


def test_gunicorn_listens_where_nginx_forwards_and_on_loopback_only():
    bind = re.fullmatch(r"--bind=(127\.0\.0\.1:(\d+))", environment()["GUNICORN_CMD_ARGS"])
    assert bind and environment()["PORT"] == bind.group(2)
    assert f"server {bind.group(1)};" in NGINX.read_text()


def verify(unit_text: str, folder: Path) -> subprocess.CompletedProcess:
    """systemd-analyze verify on the unit, installed under this checkout instead of /opt/helpline
    (it checks that ExecStart's program exists)."""
    installed = unit_text.replace(INSTALLED_AT, str(ROOT)).replace(SETTINGS_AT, str(SETTINGS))
    (folder / "helpline.service").write_text(installed)
    return subprocess.run(["systemd-analyze", "verify", str(folder / "helpline.service")],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed (Debian: systemd)")
def test_systemd_finds_nothing_to_say_about_the_unit(tmp_path):
    result = verify(UNIT.read_text(), tmp_path)
    assert result.returncode == 0 and result.stderr == "" and result.stdout == "", result.stderr
    # It would say so of a mistake: the check above can fail.
    mistaken = verify(UNIT.read_text().replace("Restart=on-failure", "Restart=sometimes"), tmp_path)
    assert "Restart" in mistaken.stderr or "restart" in mistaken.stderr


# -- the unit's command, run as systemd would run it -----------------------------------------------

def started_as_systemd_would(folder: Path, token: str) -> tuple[subprocess.Popen, int, socket.socket]:
    """ExecStart in WorkingDirectory (this checkout for /opt/helpline), with the unit's environment
    and deploy/helpline.env (its token filled in), a free port for 8000, /run/helpline under
    `folder`, and NOTIFY_SOCKET where systemd would listen for READY=1 (Type=notify)."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_", "PROMETHEUS_", "GUNICORN_"))}
    for name, value in environment().items():
        environ[name] = (value.replace("8000", str(port)).replace("/run/helpline", str(folder / "run" / "helpline")))
    environ["TWILIO_AUTH_TOKEN"] = token
    (folder / "run" / "helpline").mkdir(parents=True)  # RuntimeDirectory=, made by systemd
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(folder / "notify"))
    notify.settimeout(30)
    environ["NOTIFY_SOCKET"] = str(folder / "notify")
    command = shlex.split(service()["ExecStart"][0].replace(INSTALLED_AT, str(ROOT)))
    log = open(folder / "journal", "w+")
    process = subprocess.Popen(command, cwd=service()["WorkingDirectory"][0].replace(INSTALLED_AT, str(ROOT)),
                               env=environ, stdout=log, stderr=log)
    return process, port, notify


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a socket listening on `port` (IPv4, from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_the_units_command_tells_systemd_it_is_ready_and_serves_loopback_only(tmp_path):
    process, port, notify = started_as_systemd_would(tmp_path, TOKEN)
    try:
        message = notify.recv(4096).decode()
        assert "READY=1" in message, message
        # Ready means ready: the menus are loaded and it answers, at once.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
        assert listening_addresses(port) == {"127.0.0.1"}
        # A webhook signed for the public URL of deploy/helpline.env, as nginx passes it on.
        public = environment()["IVR_PUBLIC_URL"]
        params = twilio_params()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/voice", data=urllib.parse.urlencode(params).encode(),
            headers={"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(public + "/voice", params),
                     "Host": urllib.parse.urlsplit(public).netloc, "X-Forwarded-Proto": "https"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200 and b"<Response>" in response.read()
        metrics = tmp_path / "run" / "helpline" / "metrics"
        deadline = time.monotonic() + 5  # a worker adds its counts there once a second
        while not os.listdir(metrics) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert os.listdir(metrics)  # the workers count on the unit's tmpfs
        # systemctl stop: SIGTERM to the main process (KillMode=mixed), done within TimeoutStopSec.
        process.send_signal(signal.SIGTERM)
        assert process.wait(int(service()["TimeoutStopSec"][0])) == 0
    finally:
        notify.close()
        if process.poll() is None:
            process.kill()
            process.wait()


def test_as_shipped_without_its_token_the_unit_fails_to_start_and_is_never_ready(tmp_path):
    process, _, notify = started_as_systemd_would(tmp_path, "")
    try:
        assert process.wait(30) != 0
        notify.settimeout(0.1)
        with pytest.raises(socket.timeout):
            notify.recv(4096)
        assert "TWILIO_AUTH_TOKEN is not set" in (tmp_path / "journal").read_text()
    finally:
        notify.close()
        if process.poll() is None:
            process.kill()
            process.wait()
