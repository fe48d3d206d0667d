"""A signature is checked against the one URL the line serves (IVR_PUBLIC_URL), whatever Host or
X-Forwarded-* a request names. Issue 21's attack: a request Twilio signed for another line of the
same account (another host, port or scheme) replayed here with that line's Host was answered 200."""
import os
import subprocess
import sys

import pytest

from ivr import ROOT, ConfigError, create_app
from ivr.testers.phone import twilio_params
from line_settings import PUBLIC_URL, TEST_MENUS, TOKEN
from test_webhook import is_menu_twiml, signed_post

SETTINGS = {"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0,
            "MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts")}


@pytest.fixture
def line(make_app):
    """The line configured to serve https://line.example.org, behind one proxy (the default)."""
    return make_app({**SETTINGS, "PUBLIC_URL": PUBLIC_URL}).test_client()


def test_a_request_signed_for_the_public_url_is_answered(line):
    is_menu_twiml(signed_post(line, "/voice", twilio_params()))


def test_the_public_url_is_checked_whatever_host_the_proxy_passes_on(line):
    # A proxy that forwards its upstream's address as Host (nginx's default proxy_set_header Host
    # $proxy_host), over plain http: the URL checked is still the public one.
    is_menu_twiml(signed_post(line, "/voice", twilio_params(), base_url="http://127.0.0.1:8000"))


@pytest.mark.parametrize("signed_for, sent_to", [
    ("https://other-line.example.org", "https://other-line.example.org"),  # another host, its own Host
    ("https://line.example.org:8443", "https://line.example.org:8443"),  # another port
    ("http://line.example.org", "http://line.example.org"),  # another scheme
])
def test_a_request_signed_for_another_url_is_refused_whatever_its_host(line, signed_for, sent_to):
    response = signed_post(line, "/voice", twilio_params(), url=signed_for + "/voice", base_url=sent_to)
    assert response.status_code == 403


@pytest.mark.parametrize("configured, signed_for", [
    ("https://line.example.org:443", "https://line.example.org"),
    ("https://line.example.org", "https://line.example.org:443"),
])
def test_the_standard_port_written_or_not_is_the_same_url(make_app, configured, signed_for):
    # Twilio's signing has varied there; twilio-python's validator accepts either form.
    line = make_app({**SETTINGS, "PUBLIC_URL": configured}).test_client()
    is_menu_twiml(signed_post(line, "/voice", twilio_params(), url=signed_for + "/voice"))


def test_forwarded_headers_cannot_name_another_url_either(make_app):
    # Even where the operator said the proxy sets X-Forwarded-Host: the public URL wins.
    line = make_app({**SETTINGS, "PUBLIC_URL": PUBLIC_URL, "PROXY_SETS_HOST": True}).test_client()
    other = "https://other-line.example.org"
    response = signed_post(line, "/voice", twilio_params(), url=other + "/voice", base_url=other,
                           headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "other-line.example.org",
                                    "X-Forwarded-Port": "443"})
    assert response.status_code == 403


def test_the_urls_given_to_twilio_name_the_public_url(make_app):
    # The recordings the line plays are fetched by Twilio from the public URL, not from the Host.
    app = make_app({**SETTINGS, "MENUS": str(ROOT / "menus.yaml"), "PROMPTS": str(ROOT / "prompts"),
                    "PUBLIC_URL": PUBLIC_URL})
    body = signed_post(app.test_client(), "/voice", twilio_params(), base_url="http://10.0.0.5:8000").get_data(True)
    if "<Play>" in body:
        assert "<Play>https://line.example.org/" in body and "10.0.0.5" not in body
    else:  # menus.yaml names no recording at the start: nothing names an address
        assert "10.0.0.5" not in body


@pytest.mark.parametrize("value, normalised", [
    ("https://line.example.org", "https://line.example.org"),
    ("https://Line.Example.org/", "https://line.example.org"),
    ("  HTTPS://line.example.org:8443 ", "https://line.example.org:8443"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
])
def test_the_public_url_is_read_from_the_environment(monkeypatch, make_app, value, normalised):
    monkeypatch.setenv("IVR_PUBLIC_URL", value)
    assert make_app(dict(SETTINGS)).config["PUBLIC_URL"] == normalised


@pytest.mark.parametrize("value", ["line.example.org", "ftp://line.example.org", "https://line.example.org/voice",
                                   "https://user:pw@line.example.org", "https://line.example.org?a=1",
                                   "https://line.example.org:http", "https://"])
def test_a_public_url_that_cannot_be_the_lines_is_refused_at_start_in_one_sentence(monkeypatch, value):
    monkeypatch.setenv("IVR_PUBLIC_URL", value)
    with pytest.raises(ConfigError) as refused:
        create_app(dict(SETTINGS))
    message = str(refused.value)
    assert message.startswith(f"IVR_PUBLIC_URL={value!r} ") and "https://line.example.org" in message
    assert "\n" not in message and message.count(". ") == 0


def clean_environment(**settings) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
    environ.update(IVR_MENUS=str(TEST_MENUS / "menus.yaml"), IVR_PROMPTS=str(TEST_MENUS / "prompts"), **settings)
    return environ


def test_the_line_as_production_starts_it_refuses_to_start_without_its_public_url(monkeypatch):
    """Safe by default: configured from the environment alone (gunicorn, `ivr serve`), the line
    would otherwise have to trust the Host header."""
    for name in ("IVR_PUBLIC_URL", "IVR_PROXY_SETS_HOST", "IVR_ALLOW_UNSIGNED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("IVR_MENUS", str(TEST_MENUS / "menus.yaml"))
    monkeypatch.setenv("IVR_PROMPTS", str(TEST_MENUS / "prompts"))
    monkeypatch.setenv("IVR_RELOAD_SECONDS", "0")
    with pytest.raises(ConfigError, match=r"^IVR_PUBLIC_URL is not set: set it to the address Twilio calls"):
        create_app()
    # The operator who says the proxy sets X-Forwarded-Host to the public URL has named it there.
    monkeypatch.setenv("IVR_PROXY_SETS_HOST", "1")
    app = create_app()
    assert app.extensions["ivr"].close()


def test_serve_without_a_public_url_says_what_to_set_in_one_sentence():
    result = subprocess.run([sys.executable, "-m", "ivr", "serve"], cwd=ROOT, capture_output=True, text=True,
                            env=clean_environment(TWILIO_AUTH_TOKEN=TOKEN), timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("IVR_PUBLIC_URL is not set: set it to the address Twilio calls")
    assert len(result.stderr.strip().splitlines()) == 1


def test_local_development_needs_no_public_url():
    # `make run` without a token: signatures are not checked, so there is no URL to check them against.
    result = subprocess.run([sys.executable, "-c", "import ivr; ivr.create_app().extensions['ivr'].close()"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=clean_environment(IVR_ALLOW_UNSIGNED="1", IVR_RELOAD_SECONDS="0"))
    assert result.returncode == 0, result.stderr
