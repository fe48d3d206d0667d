"""The webhook contract: signatures, bad input, errors, privacy, and state kept in the URL."""
import logging
import re
import xml.etree.ElementTree as ET

import pytest
from twilio.request_validator import RequestValidator

from ivr import ConfigError, create_app
from ivr.testers.phone import FlaskTransport, _ssml_text, call, twilio_params
from line_settings import PUBLIC_URL, TEST_MENUS, TOKEN

MAIN_MENU_FIRST = "Pour la ligne couple, appuyez sur 1."  # the test menu's first option


def signed_post(client, path, params, url=None, token=TOKEN, headers=None, base_url=PUBLIC_URL):
    signature = RequestValidator(token).compute_signature(url or PUBLIC_URL + path, params)
    return client.post(path, data=params, base_url=base_url,
                       headers={"X-Twilio-Signature": signature, **(headers or {})})


def is_menu_twiml(response):
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.get_data(as_text=True))
    assert root.tag == "Response"
    return root


def heard(root):
    """What the caller hears of a TwiML document's <Say>s, numbers read digit by digit."""
    return " ".join(_ssml_text(say) for say in root.iter("Say"))


def test_an_unsigned_request_is_refused(client):
    assert client.post("/voice", data=twilio_params(), base_url=PUBLIC_URL).status_code == 403


def test_a_forged_signature_is_refused(client):
    assert signed_post(client, "/voice", twilio_params(), token="not-the-token").status_code == 403


def test_a_signature_for_another_url_is_refused(client):
    response = signed_post(client, "/voice/fr/key?at=2", dict(twilio_params(), Digits="1"),
                           url=PUBLIC_URL + "/voice/fr/key?at=3")
    assert response.status_code == 403


def test_changed_parameters_break_the_signature(client):
    params = dict(twilio_params(), Digits="1")
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL + "/voice/fr/key", params)
    response = client.post("/voice/fr/key", data=dict(params, Digits="2"), base_url=PUBLIC_URL,
                           headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_the_public_https_url_validates_behind_a_tls_proxy(client):
    # The proxy talks plain http to the app, passes the Host on and says the scheme was https.
    response = signed_post(
        client, "/voice", twilio_params(), url="https://help.example.be/voice",
        base_url="http://help.example.be", headers={"X-Forwarded-Proto": "https"},
    )
    is_menu_twiml(response)


def test_a_proxy_that_sets_the_host_is_believed_when_the_operator_says_so(make_app):
    app = make_app({"TWILIO_AUTH_TOKEN": TOKEN, "PROXY_SETS_HOST": True})
    response = signed_post(
        app.test_client(), "/voice", twilio_params(), url="https://help.example.be/voice",
        base_url="http://10.0.0.5:8000",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "help.example.be", "X-Forwarded-Port": "443"},
    )
    is_menu_twiml(response)


def test_without_proxy_trust_the_forwarded_url_is_not_believed(make_app):
    app = make_app({"TWILIO_AUTH_TOKEN": TOKEN, "TRUSTED_PROXIES": "0"})
    response = signed_post(
        app.test_client(), "/voice", twilio_params(), url="https://help.example.be/voice",
        base_url="http://10.0.0.5:8000", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "help.example.be"},
    )
    assert response.status_code == 403


def test_the_app_refuses_to_start_without_an_auth_token(monkeypatch):
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("IVR_ALLOW_UNSIGNED", raising=False)
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        create_app()


def test_unsigned_development_mode_answers_only_this_machine(caplog, make_app):
    with caplog.at_level(logging.WARNING):
        app = make_app({"TWILIO_AUTH_TOKEN": "", "ALLOW_UNSIGNED": True})
    assert any("NOT checked" in r.getMessage() for r in caplog.records)
    client = app.test_client()
    assert client.post("/voice", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert client.post("/voice", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 403


def test_unknown_urls_are_404_and_wrong_methods_405(client):
    assert signed_post(client, "/nowhere", {}).status_code == 404
    assert signed_post(client, "/voice/fr/bogus", {}).status_code == 404
    assert client.get("/voice", base_url=PUBLIC_URL).status_code == 405


@pytest.mark.parametrize("path,digits", [
    ("/voice/fr/key?at=9.9.9", "1"),          # a place that does not exist
    ("/voice/fr/key?at=" + "1." * 500, "1"),   # huge
    ("/voice/fr/key?at=%C3%A9", "1"),          # not ASCII
    ("/voice/fr/key?at=%2A.%23", "1"),         # escaped keys that are not options
    ("/voice/fr/key?at=", "1"),
    ("/voice/fr/key?at=..", ""),
    ("/voice/xx/key", "1"),                    # no such language
    ("/voice/fr/key?n=-5", "1"),
    ("/voice/fr/key?n=99999999999999999999", ""),
    ("/voice/fr/key", "1" * 5000),             # huge Digits
    ("/voice/fr/key", "é"),                    # not ASCII
    ("/voice/fr/key", "\x00"),
    ("/voice/fr/node?at=1.2.3.4.5.6.7.8.9", ""),
    ("/voice/fr/dialed?at=2&line=nobody", ""),
    ("/voice/fr/dialed?line=ecoute-violences-conjugales", "busy"),
    ("/voice/language/key?n=abc", "99"),
])
def test_malformed_state_or_keys_get_twiml_that_puts_the_caller_on_a_menu(client, path, digits):
    params = dict(twilio_params(), Digits=digits, DialCallStatus=digits)
    root = is_menu_twiml(signed_post(client, path, params))
    gather = root.find("Gather")
    assert gather is not None, ET.tostring(root)  # the caller is listened to again
    assert gather.get("action").startswith("/voice/")


def test_an_oversized_body_is_refused_with_413(client):
    response = signed_post(client, "/voice", dict(twilio_params(), Junk="x" * 100_000))
    assert response.status_code == 413


def test_an_exception_is_apologised_for_with_112_and_the_main_menu(client, phone, bug_below_the_main_menu):
    bug_below_the_main_menu()
    c = phone().press("1").press("3")
    assert "un problème technique est survenu" in c.said and "1 1 2" in c.said
    assert MAIN_MENU_FIRST in c.said and c.waiting == "keys"


def test_an_error_on_the_main_menu_itself_ends_the_call_instead_of_looping(monkeypatch, phone):
    import ivr.call.flow

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(ivr.call.flow, "node", broken)
    c = phone().press("1")
    assert c.ended
    assert "1 1 2" in c.said
    assert len(c.requests) == 3  # /voice, the key (apology), the main menu failing again: no loop


def test_no_log_line_holds_the_callers_number(app, caplog, capsys, monkeypatch, calls_pressing):
    import ivr.call.flow
    caller = "+32470123456"
    forms = [caller, "32470123456", "0470123456", "470123456", "0470 12 34 56", "+32 470 12 34 56", "CA" + "0" * 32]
    client = app.test_client()
    with caplog.at_level(logging.DEBUG):
        calls_pressing(client, caller, ["12", "1211", "2", "7", "#", "1322"])
        client.post("/voice", data=twilio_params(caller=caller), base_url=PUBLIC_URL)  # forged: logged
        monkeypatch.setattr(ivr.call.flow, "node", lambda *a, **k: 1 / 0)
        app.extensions.pop("ivr_answers")  # the calls above left this minute's answers in memory
        call(FlaskTransport(client), PUBLIC_URL, TOKEN, caller=caller).press("1")  # errors: logged
    written = capsys.readouterr()  # the JSON webhook lines (stdout) and the error log (stderr)
    lines = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    lines += written.out.splitlines() + written.err.splitlines()
    assert any("signature" in line for line in lines) and any("webhook failed" in line for line in lines)
    assert sum('"step":' in line for line in lines) > 20
    for line in lines:
        for form in forms:
            assert form not in line


class AlternatingWorkers(FlaskTransport):
    """Each request goes to the next of several separate apps, as behind a load balancer."""

    def __init__(self, apps):
        self.clients = [a.test_client() for a in apps]
        self.count = 0

    def post(self, url, params, headers):
        self.client = self.clients[self.count % len(self.clients)]
        self.count += 1
        return super().post(url, params, headers)


def test_any_worker_can_answer_any_step_of_a_call(make_app):
    apps = [make_app({"TWILIO_AUTH_TOKEN": TOKEN, "TRANSFER_CALLER_ID": "+3225550100",
                      "MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts")})
            for _ in range(3)]
    spread = call(AlternatingWorkers(apps), PUBLIC_URL, TOKEN).press("1").press("3").press("2")
    single = call(FlaskTransport(apps[0].test_client()), PUBLIC_URL, TOKEN).press("1").press("3").press("2")
    assert spread.said == single.said and "0 8 0 0, 9 8, 1 0 0" in spread.said
    spread.press("1").dial_outcome("no-answer").silence()
    assert "La ligne sans horaires." in spread.said  # the page again, after one silence
    assert spread.transport.count == 7


def test_a_transfer_result_for_a_page_that_lost_its_transfer_still_gives_the_number(client):
    # An operator removed the transfer (or moved the helpline) while the line rang.
    response = signed_post(client, "/voice/fr/dialed?at=3.1&line=ligne-courte", dict(twilio_params(), DialCallStatus="busy"))
    said = heard(is_menu_twiml(response))
    assert "Vous pouvez appeler vous-même le 1 0 3" in said and "problème technique" not in said
    assert "Pour réessayer" not in said and "Pour le menu principal, sur 0." in said  # the page's own keys


def test_the_development_switch_is_refused_next_to_a_real_token():
    with pytest.raises(ConfigError, match="both set"):
        create_app({"TWILIO_AUTH_TOKEN": TOKEN, "ALLOW_UNSIGNED": True})


def test_unicode_digits_in_the_state_are_not_a_technical_problem(client, caplog):
    response = signed_post(client, "/voice/fr/node?n=%C2%B2", twilio_params())
    said = heard(is_menu_twiml(response))
    assert MAIN_MENU_FIRST in said and "problème technique" not in said
    assert not any("webhook failed" in r.getMessage() for r in caplog.records)


def test_the_last_resort_apology_is_said_in_french_and_dutch(client, monkeypatch):
    import ivr.call.flow
    import ivr.web.views
    monkeypatch.setattr(ivr.call.flow, "node", lambda *a, **k: 1 / 0)
    monkeypatch.setattr(ivr.web.views.flow, "technical_problem", lambda *a, **k: 1 / 0)
    root = is_menu_twiml(signed_post(client, "/voice/fr/node", twilio_params()))
    says = [(s.get("language"), s.text) for s in root.iter("Say")]
    assert says == [("fr-BE", "En cas de danger, raccrochez et appelez le 1 1 2."),
                    ("nl-BE", "Bij gevaar, leg in en bel 1 1 2.")]
    assert root.find("Hangup") is not None


def raw_status(app, path, form, headers):
    """Straight through the WSGI app: the test client itself cannot send some forged Hosts."""
    from werkzeug.test import EnvironBuilder
    environ = EnvironBuilder(path=path, method="POST", data=form, base_url=PUBLIC_URL).get_environ()
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    status = []
    body = b"".join(app(environ, lambda s, h, e=None: status.append(s)))
    return int(status[0].split()[0]), body


@pytest.mark.parametrize("headers", [
    {"Host": "[a:b]"},
    {"X-Forwarded-Host": "[a:b]"},
    {"X-Forwarded-Proto": "https://a:b"},
])
def test_a_forged_host_the_validator_cannot_parse_is_refused_not_apologised_to(app, headers):
    for path in ["/voice", "/voice/language/key", "/voice/fr/key"]:
        status, body = raw_status(app, path, dict(twilio_params(), Digits="1"),
                                  {"X-Twilio-Signature": "forged", **headers})
        assert status == 403 and b"<Response>" not in body, (path, headers, status)


def test_a_repeated_parameter_is_refused_even_when_signed(client):
    body = [(k, v) for k, v in twilio_params().items()] + [("Digits", "1"), ("Digits", "2")]
    from werkzeug.datastructures import MultiDict
    form = MultiDict(body)
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL + "/voice/language/key", form)
    response = client.post("/voice/language/key", data=form, base_url=PUBLIC_URL,
                           headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_every_webhook_route_refuses_an_unsigned_request(app):
    """The signature is checked by the webhook view itself (views.twilios_webhook), not by a hook
    around the blueprint: a route added later must go through it too."""
    client = app.test_client()
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("voice.")]
    assert len(rules) >= 4
    for rule in rules:
        path = re.sub(r"<any\([^)]*\):step>", "key", rule.rule.replace("<language>", "fr"))
        assert "<" not in path, f"a route this test does not know how to fill: {rule.rule}"
        for method in rule.methods - {"HEAD"}:  # POST, and OPTIONS, which Flask would answer itself
            response = client.open(path, method=method, data=dict(twilio_params(), Digits="1"), base_url=PUBLIC_URL)
            assert response.status_code == 403, (method, rule.rule, response.status_code)
    assert client.options("/voice", base_url=PUBLIC_URL).status_code == 403
