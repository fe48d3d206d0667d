"""No command answers a person with a traceback: through the real entry points (`python -m ivr`,
`make run`), a broken menu file, a missing token or a line that does not answer is said in one
sentence, with exit status 2."""
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from ivr import ROOT
from line_settings import TEST_MENUS
from real_line import free_port

BROKEN_AT = "menus.yaml:4:12: error: the [ opened here is never closed"


@pytest.fixture
def broken(menu_copy):
    menu_copy.replace("languages: [fr, nl]", "languages: [fr, nl")
    return menu_copy


def ivr(*args, env=None, timeout=60):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "ivr", *args], cwd=ROOT, env=environ, capture_output=True,
                          text=True, timeout=timeout)


def menus_env(copy):
    return {"IVR_MENUS": str(copy.menus), "IVR_PROMPTS": str(copy.prompts)}


@pytest.mark.parametrize("command", [["tree"], ["map"], ["fallback"], ["call", "--keys", "1"], ["replay"],
                                     ["call", "--lang", "fr", "--url", "http://127.0.0.1:9"], ["serve"]])
def test_a_broken_menu_file_is_said_in_a_sentence_with_status_2(broken, command):
    env = dict(menus_env(broken), TWILIO_AUTH_TOKEN="a-token")
    result = ivr(*command, env=env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and BROKEN_AT in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2, result.stderr


def test_the_benchmark_on_a_broken_menu_file_says_so_in_a_sentence_with_status_2(broken):
    result = ivr("bench", "--in-process", "--menus", str(broken.menus), "--prompts", str(broken.prompts))
    assert result.returncode == 2 and "Traceback" not in result.stderr and BROKEN_AT in result.stderr


def test_check_lists_the_problems_of_a_broken_file_without_a_traceback(broken):
    result = ivr("check", env=menus_env(broken))
    assert result.returncode == 1 and BROKEN_AT in result.stdout and "Traceback" not in result.stderr


def test_serve_without_a_token_says_what_to_set(menu_copy):
    result = ivr("serve", env=menus_env(menu_copy))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("TWILIO_AUTH_TOKEN is not set")


@pytest.mark.parametrize("command", [["call", "--keys", "1"], ["replay", str(ROOT / "tests" / "fixtures")]])
def test_a_line_that_does_not_answer_is_said_in_a_sentence_with_status_2(command):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = ivr(*command, "--url", f"http://127.0.0.1:{port}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == (f"cannot reach the line at http://127.0.0.1:{port} (Connection refused): is it "
                             "running there? (`make run` serves it on http://127.0.0.1:5000)\n")


def test_make_run_with_a_broken_menu_file_says_so_and_stops(broken):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
    environ.update(menus_env(broken), PORT="0")
    result = subprocess.run(["make", "-s", "run"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and BROKEN_AT in result.stderr



@pytest.fixture
def make_run_line():
    """The test menu served as `make run` serves it (python -m ivr run, no token), on a free port."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
    environ.update(IVR_MENUS=str(TEST_MENUS / "menus.yaml"), IVR_PROMPTS=str(TEST_MENUS / "prompts"),
                   IVR_ALLOW_UNSIGNED="1")
    server = subprocess.Popen([sys.executable, "-m", "ivr", "run", "--port", str(port)], cwd=ROOT, env=environ,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the line did not start"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


REFUSED = ("the line could not place the transfer: set IVR_TRANSFER_CALLER_ID on the server to a number of the "
           "account that may call out (or call with --to a number that is not toll-free)")


def test_a_transfer_the_running_line_cannot_place_is_explained_at_once(make_run_line):
    env = {"IVR_MENUS": str(TEST_MENUS / "menus.yaml"), "IVR_PROMPTS": str(TEST_MENUS / "prompts")}
    # The simulated phone calls a toll-free line number; the server has no IVR_TRANSFER_CALLER_ID.
    result = ivr("call", "--url", make_run_line, "--keys", "1,1,1,busy", env=env)
    assert result.stderr.splitlines()[0] == REFUSED
    assert result.returncode == 2  # the script's `busy` found no transfer ringing, as said above
    # From a number that may call out, the line places it, and nothing is said.
    placed = ivr("call", "--url", make_run_line, "--to", "+3225550111", "--keys", "1,1,1,busy", env=env)
    assert placed.returncode == 0 and REFUSED not in placed.stderr
    assert "[line dials +3280030030]" in placed.stdout


@pytest.mark.parametrize("command,said", [
    (["fallback", "--out", "/nonexistent/folder/fallback.xml"], "cannot write /nonexistent/folder/fallback.xml"),
    (["call", "--keys", "1,hangup", "--transcript", "/nonexistent/folder/t.txt"], "cannot write the transcript"),
    (["call", "--url", "notaurl", "--keys", "1"], "'notaurl' is not a line's address"),
    (["replay", "--url", "notaurl", str(ROOT / "tests" / "fixtures")], "'notaurl' is not a line's address"),
])
def test_a_file_that_cannot_be_written_or_a_wrong_address_is_said_in_a_sentence(menu_copy, command, said):
    result = ivr(*command, env=menus_env(menu_copy))
    assert result.returncode == 2 and said in result.stderr and "Traceback" not in result.stderr, result.stderr


# -- every setting a person types -------------------------------------------------------------
@pytest.mark.parametrize("variable, value, said", [
    ("IVR_RELOAD_SECONDS", "abc", "IVR_RELOAD_SECONDS='abc' should be a number of seconds, like 2"),
    ("IVR_RELOAD_SECONDS", "-1", "IVR_RELOAD_SECONDS='-1' should be a number of seconds"),
    ("IVR_RELOAD_SECONDS", "nan", "IVR_RELOAD_SECONDS='nan' should be a number of seconds"),
    ("IVR_ALLOW_UNSIGNED", "yes", "IVR_ALLOW_UNSIGNED='yes' should be 1 (on) or 0 (off)"),
    ("IVR_PROXY_SETS_HOST", "true", "IVR_PROXY_SETS_HOST='true' should be 1 (on) or 0 (off)"),
    ("IVR_TRUSTED_PROXIES", "one", "IVR_TRUSTED_PROXIES should be 0 (no proxy)"),
    ("IVR_TRANSFER_CALLER_ID", "abc", "IVR_TRANSFER_CALLER_ID='abc' is not a valid phone number"),
    ("IVR_LANGUAGE_BY_NUMBER", "fr", "IVR_LANGUAGE_BY_NUMBER: 'fr' should look like +3280012345=fr"),
    ("IVR_RECORD_DIR", "/proc/no-such-folder", "IVR_RECORD_DIR='/proc/no-such-folder': cannot write recorded calls"),
])
def test_a_setting_that_cannot_work_is_said_in_a_sentence_naming_it(variable, value, said, monkeypatch):
    from click.testing import CliRunner

    from ivr.operators.commands import main
    for name in [k for k in os.environ if k.startswith(("IVR_", "TWILIO_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("IVR_MENUS", str(TEST_MENUS / "menus.yaml"))
    monkeypatch.setenv("IVR_PROMPTS", str(TEST_MENUS / "prompts"))
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr(os, "execv", lambda *args: pytest.fail(f"serve started gunicorn with {variable}={value!r}"))
    result = CliRunner().invoke(main, ["serve"], env={"TWILIO_AUTH_TOKEN": "a-token"})  # as `make serve`
    assert result.exit_code == 2, result.output
    assert result.output.startswith(said) and "Traceback" not in result.output, result.output


@pytest.mark.parametrize("env, said", [
    ({"PORT": "abc"}, "PORT='abc' should be the port to serve on, a whole number from 1 to 65535"),
    ({"WEB_CONCURRENCY": "abc"}, "WEB_CONCURRENCY='abc' should be the number of gunicorn workers"),
    ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY='0' should be the number of gunicorn workers"),
    ({"PROMETHEUS_MULTIPROC_DIR": "/proc/no-such-folder"}, "PROMETHEUS_MULTIPROC_DIR='/proc/no-such-folder': cannot keep"),
])
def test_gunicorns_settings_are_said_in_a_sentence_naming_them(menu_copy, env, said):
    result = ivr("serve", env=dict(menus_env(menu_copy), TWILIO_AUTH_TOKEN="a-token", IVR_PUBLIC_URL="https://line.example.org", **env))
    assert result.returncode in (1, 2) and result.stderr.strip().startswith(said), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("env, said", [
    ({"PORT": "abc"}, "PORT='abc' should be the port to serve on"),
    # gunicorn itself turns WEB_CONCURRENCY into a number as it is imported, with a ValueError traceback
    ({"WEB_CONCURRENCY": "abc"}, "WEB_CONCURRENCY='abc' should be the number of gunicorn workers"),
    ({"WEB_CONCURRENCY": "-1"}, "WEB_CONCURRENCY='-1' should be the number of gunicorn workers"),
])
def test_the_procfile_command_says_a_wrong_setting_in_a_sentence(menu_copy, env, said):
    from real_line import procfile_command
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
    environ.update(menus_env(menu_copy), TWILIO_AUTH_TOKEN="a-token", IVR_PUBLIC_URL="https://line.example.org", **env)
    result = subprocess.run(procfile_command(), cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().startswith(said) and "Traceback" not in result.stderr, result.stderr


def test_run_says_a_wrong_port_naming_port():
    result = ivr("run", env={"PORT": "abc", "IVR_ALLOW_UNSIGNED": "1"})
    assert result.returncode == 2 and "'abc' should be a port number from 1 to 65535 (PORT, or --port)" in result.stderr
