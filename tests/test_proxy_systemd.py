"""deploy/helpline.service, the unit that runs the line behind nginx on a Debian host, and its
settings file deploy/helpline.env: what can be checked without booting systemd here."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from ivr import ROOT
from real_line import procfile_command

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
    assert command[0] == f"{INSTALLED_AT}/.venv/bin/gunicorn"
    assert command[1:] == procfile_command()[3:], "ExecStart should be the Procfile's web command"
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
