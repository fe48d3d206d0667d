"""What operators see: /healthz, /metrics, and the JSON line each webhook writes; and that none
of it says who called."""
import io
import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ivr import create_app
from ivr.ops import logs
from ivr.testers.phone import CALL_SID, FlaskTransport, call, twilio_params
from line_settings import PUBLIC_URL, TEST_MENUS, TOKEN

METRICS_TOKEN = "metrics-test-token"
CALLER = "+32470123456"
# The caller's number as it may appear anywhere, and the CallSid.
FORMS = [CALLER, "32470123456", "0470123456", "470123456", "0470 12 34 56", "+32 470 12 34 56",
         "0470/12.34.56", CALL_SID]


@pytest.fixture
def app(make_app):
    return make_app({"TWILIO_AUTH_TOKEN": TOKEN, "TRANSFER_CALLER_ID": "+3225550100", "TESTING": True,
                     "METRICS_TOKEN": METRICS_TOKEN,
                     "MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts")})


def scrape(client):
    response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    values = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def grew(before, after, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0) - before.get(key, 0)


def test_healthz_gives_the_menu_version_and_load_time_to_anyone(client, line):
    response = client.get("/healthz")  # no signature, as a load balancer asks
    assert response.status_code == 200
    health = response.get_json()
    assert health["status"] == "ok"
    assert health["menu_version"] == line.version and len(line.version) == 12
    assert health["loaded_at"].endswith("+00:00")


def test_metrics_are_off_without_a_token_and_need_the_bearer_token_when_on(client, make_app):
    off = make_app({"TWILIO_AUTH_TOKEN": TOKEN, "METRICS_TOKEN": ""}).test_client()
    assert off.get("/metrics").status_code == 404
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": METRICS_TOKEN}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200


def test_a_call_shows_in_the_metrics(app, client):
    before = scrape(client)
    c = call(FlaskTransport(client), PUBLIC_URL, TOKEN)
    c.press("1")  # French: safety message, main menu
    c.press("7")  # not an option
    c.press("1")  # la ligne couple
    c.press("1")  # put through
    c.dial_outcome("busy")
    c.silence()   # the page again
    c.press("#")  # quick exit
    after = scrape(client)
    assert grew(before, after, "ivr_calls_started_total", language="fr") == 1
    assert grew(before, after, "ivr_wrong_keys_total", language="fr") == 1
    assert grew(before, after, "ivr_menu_choices_total", language="fr", menu="accueil", key="1") == 1
    # read when chosen, and again after the silence
    assert grew(before, after, "ivr_helplines_heard_total", language="fr", helpline="ligne-couple") == 2
    assert grew(before, after, "ivr_transfers_started_total", language="fr", helpline="ligne-couple") == 1
    assert grew(before, after, "ivr_transfers_total", language="fr", helpline="ligne-couple",
                status="busy") == 1
    assert grew(before, after, "ivr_silences_total", language="fr") == 1
    assert grew(before, after, "ivr_quick_exits_total", language="fr") == 1
    answered = sum(grew(before, after, "ivr_webhook_seconds_count", step=step)
                   for step in ("incoming", "language_key", "key", "dialed", "node"))
    assert answered == len(c.requests) == 8


def test_a_call_answered_from_memory_is_counted_and_logged_like_the_first(client, capsys):
    """The second and third identical calls get their answers from memory (ivr.web.answers), and
    what the metrics and the log say about them is worked out only once: it must still count."""
    def same_call():
        c = call(FlaskTransport(client), PUBLIC_URL, TOKEN).press("1").press("7").press("1").press("1")
        c.dial_outcome("busy")
        c.silence()

    capsys.readouterr()
    first = scrape(client)
    same_call()
    second = scrape(client)
    same_call()
    same_call()
    fourth = scrape(client)
    # Which latency bucket an answer falls in depends on the machine's load and on the first call
    # being the cold one: compared are how many answers each step counted (_count and the +Inf
    # bucket), not how fast they came.
    once = {key: second.get(key, 0) - first.get(key, 0) for key in second
            if key[0].startswith("ivr_") and not key[0].endswith(("_sum", "_created"))
            and not (key[0].endswith("_bucket") and dict(key[1])["le"] != "+Inf")}
    twice = {key: fourth.get(key, 0) - second.get(key, 0) for key in once}
    assert sum(once.values()) > 20
    assert twice == {key: 2 * value for key, value in once.items()}
    lines = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    words = [[(x["step"], x["language"], x["key"], x["outcome"], x["status"]) for x in lines[7 * i:7 * i + 7]] for i in range(3)]
    assert len(lines) == 3 * 7 and words[0] == words[1] == words[2]


def test_switching_language_is_not_counted_as_a_new_call(client):
    before = scrape(client)
    call(FlaskTransport(client), PUBLIC_URL, TOKEN).press("1").press("8")
    after = scrape(client)
    assert grew(before, after, "ivr_calls_started_total", language="fr") == 1
    assert grew(before, after, "ivr_calls_started_total", language="nl") == 0
    assert grew(before, after, "ivr_language_changes_total", language="nl") == 1


def test_no_metric_label_carries_a_number_or_call_sid_even_when_a_request_puts_one_there(client):
    from test_webhook import signed_post
    params = dict(twilio_params(caller=CALLER), DialCallStatus=CALLER, Digits=CALLER)
    signed_post(client, f"/voice/fr/dialed?at=2&line={CALLER}", params)
    signed_post(client, "/voice/fr/dialed?at=1&line=ligne-couple", params)
    text = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).get_data(as_text=True)
    assert 'helpline="ligne-couple",language="fr",status="other"' in text
    for form in FORMS:
        assert form not in text


def test_each_webhook_writes_one_json_line_with_a_call_id_that_is_not_the_call_sid(client, capsys):
    capsys.readouterr()
    c = call(FlaskTransport(client), PUBLIC_URL, TOKEN).press("1").press("1").press("5")
    lines = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert len(lines) == len(c.requests) == 4
    assert [(x["step"], x["language"], x["key"], x["outcome"]) for x in lines] == [
        ("incoming", None, None, "language_choice"),
        ("language_key", "fr", "1", "call_started"),
        ("key", "fr", "1", "helplines"),
        ("key", "fr", "5", "wrong_key"),
    ]
    ids = {x["call"] for x in lines}
    assert len(ids) == 1 and len(ids.pop()) == 10
    assert all(x["status"] == 200 and x["ms"] >= 0 and x["time"].endswith("Z") for x in lines)


def test_a_call_id_with_many_digits_is_logged_as_it_is(app, client, capsys):
    """About one call id in twenty has 8 digits in a row; the log must not take it for a phone
    number and blank it, or that call's lines could not be followed."""
    import re
    key = app.extensions["ivr_call_id_key"]
    sid = next(s for s in (f"CA{n:032x}" for n in range(100000)) if re.search(r"\d{8}", logs.call_id(key, s)))
    capsys.readouterr()
    call(FlaskTransport(client), PUBLIC_URL, TOKEN, call_sid=sid).press("1")
    lines = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert [x["call"] for x in lines] == [logs.call_id(key, sid)] * 2


def test_the_call_id_is_a_keyed_hash(monkeypatch):
    monkeypatch.delenv("IVR_LOG_KEY", raising=False)
    key = logs.call_id_key(TOKEN)
    other_key = logs.call_id_key("another-account-token")
    assert logs.call_id(key, CALL_SID) == logs.call_id(key, CALL_SID)  # one call, one id, on any worker
    assert logs.call_id(key, CALL_SID) != logs.call_id(key, "CA" + "1" * 32)
    assert logs.call_id(key, CALL_SID) != logs.call_id(other_key, CALL_SID)  # not a plain hash anyone can redo
    assert logs.call_id(key, "") is None


def test_a_forged_webhook_is_logged_as_refused(client, capsys):
    capsys.readouterr()
    assert client.post("/voice", data=twilio_params(caller=CALLER), base_url=PUBLIC_URL).status_code == 403
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["outcome"] == "refused" and line["status"] == 403


def test_no_log_line_at_any_level_holds_the_callers_number(app, client, capsys, monkeypatch, calls_pressing):
    """Full calls, a forged request and failures whose error message holds the caller's number:
    every line written to stdout or stderr is scanned for the number in all its forms."""
    from flask import request

    import ivr.call.flow
    capsys.readouterr()
    calls_pressing(client, CALLER, ["12", "1211", "2", "7", "#", "1322", "18"])
    client.post("/voice", data=twilio_params(caller=CALLER), base_url=PUBLIC_URL)  # forged

    def broken(*args, **kwargs):
        raise RuntimeError(f"no menu for {request.form['From']} on call {request.form['CallSid']}")

    monkeypatch.setattr(ivr.call.flow, "node", broken)
    app.extensions.pop("ivr_answers")  # the calls above left this minute's answers in memory
    c = call(FlaskTransport(client), PUBLIC_URL, TOKEN, caller=CALLER).press("1")
    assert c.ended and "1 1 2" in c.said
    out, err = capsys.readouterr()
    assert "webhook failed" in err and "RuntimeError: no menu for [number] on call [sid]" in err
    assert out.count("\n") > 20 and '"outcome":"technical_problem"' in out
    for text in (out, err):
        for form in FORMS:
            assert form not in text


def test_the_redacting_formatter_blanks_numbers_in_messages_and_tracebacks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.Redacting("%(asctime)s %(message)s"))
    logger = logging.getLogger("test.redacting")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("0470/12.34.56")
        except ValueError:
            logger.error("caller %s, Called %s", "+32 470 12 34 56", "+3280099990", exc_info=True)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "caller [number], Called [number]" in text and "ValueError: [number]" in text
    assert text[:4].isdigit()  # the time stamp is left alone


def test_healthz_follows_live_reload_and_tells_when_an_edit_was_refused(menu_copy):
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "TRANSFER_CALLER_ID": "+3225550100", "MENUS": str(menu_copy.menus),
                      "PROMPTS": str(menu_copy.prompts), "RELOAD_SECONDS": 0})
    client, live = app.test_client(), app.extensions["ivr"]
    first = client.get("/healthz").get_json()
    assert first["refused_edit_errors"] == 0

    menu_copy.replace('intro: "Sous-menu."', 'intro: "Sous-menu, nouvelle version."')
    assert live.refresh()
    second = client.get("/healthz").get_json()
    assert second["menu_version"] != first["menu_version"] and second["loaded_at"] >= first["loaded_at"]

    menu_copy.replace("main_menu: accueil", "main_menu: nulle-part")
    assert not live.refresh()
    third = client.get("/healthz").get_json()
    assert third["status"] == "ok" and third["menu_version"] == second["menu_version"]
    assert third["refused_edit_errors"] >= 1


def test_a_failing_webhook_is_counted_as_a_technical_problem(client, bug_below_the_main_menu):
    before = scrape(client)
    bug_below_the_main_menu()
    c = call(FlaskTransport(client), PUBLIC_URL, TOKEN).press("1").press("3")
    assert "1 1 2" in c.said and c.waiting == "keys"  # apologised, back on the main menu
    after = scrape(client)
    assert grew(before, after, "ivr_technical_problems_total", step="key") == 1
    assert grew(before, after, "ivr_webhooks_total", step="key", status="200") == 1
