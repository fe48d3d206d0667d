"""Signatures as Twilio sends them: Webhook Rules signed with a SharedKey and HMAC-SHA256
(X-Twilio-Webhooks-Signature-Settings), and the forwarded host believed only when the operator
says a proxy sets it."""
import time
import xml.etree.ElementTree as ET

import pytest
from twilio.request_validator import RequestValidator

from ivr import create_app
from ivr.testers.phone import twilio_params
from line_settings import PUBLIC_URL, TOKEN

SHARED_KEY = "a-shared-key-secret"
SETTINGS = "key=webhooks_sharedkey_0123456789abcdefghijklmnop,algorithm=HMAC_SHA256"


def post(app, path, params, secret, url=None, algorithm=None, headers=None, base_url=PUBLIC_URL):
    signature = RequestValidator(secret).compute_signature(url or PUBLIC_URL + path, params, algorithm)
    return app.test_client().post(path, data=params, base_url=base_url,
                                  headers={"X-Twilio-Signature": signature, **(headers or {})})


def answers_a_menu(response) -> bool:
    return response.status_code == 200 and ET.fromstring(response.get_data(as_text=True)).tag == "Response"


@pytest.fixture
def shared_app():
    return create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0, "WEBHOOK_SHARED_KEYS": f"old-key, {SHARED_KEY}"})


def test_a_webhook_signed_by_a_webhook_rule_with_hmac_sha256_is_answered(shared_app):
    params = twilio_params()
    response = post(shared_app, "/voice", params, SHARED_KEY, algorithm="HMAC_SHA256",
                    headers={"X-Twilio-Webhooks-Signature-Settings": SETTINGS})
    assert answers_a_menu(response)
    # The next step of the call, signed the same way, with its state in the URL.
    response = post(shared_app, "/voice/language/key", dict(params, Digits="1"), SHARED_KEY,
                    algorithm="HMAC_SHA256", headers={"X-Twilio-Webhooks-Signature-Settings": SETTINGS})
    assert answers_a_menu(response)


@pytest.mark.parametrize("secret, algorithm, settings", [
    (SHARED_KEY, "HMAC_SHA1", SETTINGS),  # the header says SHA-256: a SHA-1 signature is not it
    (TOKEN, "HMAC_SHA256", SETTINGS),  # a Webhook Rule signs with the SharedKey, not the auth token
    ("not-the-key", "HMAC_SHA256", SETTINGS),
    (SHARED_KEY, "HMAC_SHA256", None),  # no header: the auth token and SHA-1 are expected
    (SHARED_KEY, "HMAC_SHA256", "key=k,algorithm=HMAC_SHA512"),  # an algorithm twilio does not know
])
def test_a_signature_that_does_not_follow_the_settings_is_refused(shared_app, secret, algorithm, settings):
    headers = {"X-Twilio-Webhooks-Signature-Settings": settings} if settings else {}
    response = post(shared_app, "/voice", twilio_params(), secret, algorithm=algorithm, headers=headers)
    assert response.status_code == 403


def test_a_shared_key_signature_without_the_key_configured_is_refused_and_says_what_to_set(caplog):
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0})
    response = post(app, "/voice", twilio_params(), SHARED_KEY, algorithm="HMAC_SHA256",
                    headers={"X-Twilio-Webhooks-Signature-Settings": SETTINGS})
    assert response.status_code == 403
    assert "IVR_WEBHOOK_SHARED_KEYS" in caplog.text


def test_the_auth_token_still_signs_webhooks_without_the_header(shared_app):
    assert answers_a_menu(post(shared_app, "/voice", twilio_params(), TOKEN))


def test_a_request_signed_for_another_url_of_the_account_is_refused_by_default(app):
    # Another line of the same Twilio account (same auth token) at another host: a request Twilio
    # signed for it is replayed here, naming that host in X-Forwarded-Host. By default only the
    # scheme is taken from the proxy, so the URL checked is this line's own, and the signature fails.
    other = "https://other-line.example.org/voice"
    response = post(app, "/voice", twilio_params(), TOKEN, url=other,
                    headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "other-line.example.org"})
    assert response.status_code == 403
    # The same request with this line's own URL is answered: the refusal is the host's doing.
    assert answers_a_menu(post(app, "/voice", twilio_params(), TOKEN, headers={"X-Forwarded-Proto": "https"}))


def test_the_forwarded_host_is_believed_when_the_operator_says_the_proxy_sets_it(monkeypatch):
    monkeypatch.setenv("IVR_PROXY_SETS_HOST", "1")
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0})
    response = post(app, "/voice", twilio_params(), TOKEN, url="https://help.example.be/voice",
                    base_url="http://10.0.0.5:8000",
                    headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "help.example.be"})
    assert answers_a_menu(response)


def test_a_library_warning_goes_through_the_redactor_and_repeats_are_limited(tmp_path):
    """twilio-python's RequestValidator warns about an algorithm it does not know, quoting it: an
    attacker puts a phone number there, 8 KB long, 1,000 times. Under the Procfile's gunicorn it was
    written as it came (Python's last-resort handler), 16 MB in a second."""
    import http.client
    import urllib.parse

    from real_line import RealLine
    line = RealLine(tmp_path, env={"IVR_WEBHOOK_SHARED_KEYS": SHARED_KEY})
    try:
        before = len(line.log())
        body, headers = line.signed_voice()
        algorithm = "+32 470 11 12 22 %2B32470111222 " + "x" * 8000
        headers["X-Twilio-Webhooks-Signature-Settings"] = f"key=k,algorithm={algorithm}"
        statuses = []
        connection = http.client.HTTPConnection("127.0.0.1", line.port, timeout=5)
        for _ in range(1000):
            connection.request("POST", "/voice", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        connection.close()
        time.sleep(0.5)
        written = line.log()[before:]
        assert set(statuses) == {403}
        assert "Unsupported webhook signature algorithm '[number] xxx" in written, written[-2000:]
        for form in ("470111222", "470 11 12 22", "%2B32"):
            assert form not in written + line.output() and form not in urllib.parse.unquote(written)
        print(f"stderr written by 1,000 requests: {len(written)} characters")
        assert len(written) < 100_000, len(written)  # 10 lines a minute of each warning, 2,000 characters at most
        assert "more like this in the last minute, left out" not in written  # said on the next minute's first
    finally:
        line.stop()
