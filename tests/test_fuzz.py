"""Property-based: whatever arrives, the line answers valid TwiML or a clean 4xx, never a 5xx.

Hypothesis sends random paths, methods, query strings, parameters, Digits, DialCallStatus and raw
bodies (huge, non-UTF-8), both signed as Twilio would sign them (so they get past the signature
check into the call flow) and unsigned."""
import urllib.parse
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from ivr import create_app
from ivr.testers.phone import twilio_params
from line_settings import PUBLIC_URL, TEST_MENUS, TOKEN

VERBS = {"Say", "Play", "Pause", "Gather", "Redirect", "Dial", "Number", "Hangup"}
SSML = {"prosody", "say-as", "break"}  # inside <Say> only: how numbers are read
TEST_FILES = {"MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts")}
LIMIT = 16 * 1024
# 500 random requests for each of the two tests below, new ones at each run: 5 s of CPU in all
# (1,000 took 11 s, the largest share of any one file of the suite's; docs/performance.md).
FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

KNOWN = ["/voice", "/voice/language", "/voice/language/key", "/voice/fr/node", "/voice/fr/key",
         "/voice/fr/dialed", "/voice/nl/key", "/voice/xx/key", "/voice/fr", "/", "/voice/fr/key/extra"]
STATUSES = ["completed", "answered", "busy", "no-answer", "failed", "canceled", "", "queued"]
some_text = st.text(max_size=40) | st.text(alphabet="0123456789*#.", max_size=12)

paths = st.one_of(
    st.sampled_from(KNOWN[:8]), st.sampled_from(KNOWN[:8]), st.sampled_from(KNOWN),
    st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=5).map(
        lambda parts: "/" + "/".join(urllib.parse.quote(p, safe="") for p in parts)),
)
key_paths = st.lists(st.sampled_from(list("0123456789*#")), max_size=4).map(".".join)
queries = st.fixed_dictionaries({}, optional={
    "at": key_paths | some_text,
    "n": st.integers(min_value=-2, max_value=12).map(str) | some_text,
    "line": st.sampled_from(["ligne-couple", "ligne-bureau", "ligne-sans-horaires", "ligne-nuit", "lijn-doorverbinden"]) | some_text,
    "fresh": st.sampled_from(["1", "0"]) | some_text,
    "e": st.sampled_from(["1", "0"]) | some_text,
    "x": some_text,
})
params = st.fixed_dictionaries(
    {"Digits": some_text | st.sampled_from(list("0123456789*#")),
     "DialCallStatus": st.sampled_from(STATUSES) | some_text},
    optional={"Junk": st.text(max_size=200), "From": some_text, "CallSid": some_text},
)
methods = st.sampled_from(["POST"] * 8 + ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])


@pytest.fixture(scope="module")
def signed_app():
    # No menu watcher: a module-wide app would keep it past each test (the fuzzing edits no menu).
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "TESTING": True, "RELOAD_SECONDS": 0, **TEST_FILES})
    yield app
    app.extensions["ivr"].close()


@pytest.fixture(scope="module")
def unsigned_app():
    app = create_app({"TWILIO_AUTH_TOKEN": "", "ALLOW_UNSIGNED": True, "TESTING": True, "RELOAD_SECONDS": 0,
                      **TEST_FILES})
    yield app
    app.extensions["ivr"].close()


def check(response, path):
    assert response.status_code < 500, (path, response.status_code)
    if response.status_code >= 400 or path.split("?")[0] in ("/healthz", "/metrics"):
        return
    assert response.status_code == 200
    if not response.data:  # HEAD / OPTIONS
        return
    assert response.mimetype == "text/xml", (path, response.mimetype)
    root = ET.fromstring(response.get_data())
    assert root.tag == "Response"
    assert {element.tag for element in root.iter()} - {"Response"} - SSML <= VERBS
    in_say = {id(e) for say in root.iter("Say") for e in say.iter()}
    assert all(id(e) in in_say for e in root.iter() if e.tag in SSML), path
    # The apology is valid TwiML too, but it means the code failed on this input: not allowed.
    said = " ".join("".join(e.itertext()) for e in root.iter("Say"))
    assert "problème technique" not in said and "technisch probleem" not in said, (path, said)


@FUZZ
@given(method=methods, path=paths, query=queries, extra=params)
def test_signed_requests_of_any_shape_get_twiml_or_a_clean_4xx(signed_app, method, path, query, extra):
    url_path = path + ("?" + urllib.parse.urlencode(query) if query else "")
    form = dict(twilio_params(), **extra)
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL + url_path, form if method == "POST" else {})
    response = signed_app.test_client().open(
        url_path, method=method, data=form if method == "POST" else None, base_url=PUBLIC_URL,
        headers={"X-Twilio-Signature": signature})
    check(response, url_path)
    if method == "POST" and path in KNOWN[:8]:
        assert response.status_code == 200  # a signed webhook is always answered with TwiML


@FUZZ
@given(path=paths, query=queries, body=st.binary(max_size=3000),
       content_type=st.sampled_from(["application/x-www-form-urlencoded", "text/plain", "multipart/form-data",
                                     "application/x-www-form-urlencoded; charset=latin-1"]))
def test_raw_and_non_utf8_bodies_get_twiml_or_a_clean_4xx(unsigned_app, path, query, body, content_type):
    url_path = path + ("?" + urllib.parse.urlencode(query) if query else "")
    response = unsigned_app.test_client().post(url_path, data=body, content_type=content_type)
    check(response, url_path)


@settings(max_examples=20, deadline=None)
@given(size=st.integers(min_value=LIMIT + 1, max_value=4 * LIMIT), path=st.sampled_from(KNOWN[:8]),
       signed=st.booleans())
def test_bodies_over_the_limit_get_413_on_every_webhook(signed_app, unsigned_app, size, path, signed):
    app = signed_app if signed else unsigned_app
    response = app.test_client().post(path, data=b"Digits=1&Junk=" + b"x" * size, base_url=PUBLIC_URL,
                                      content_type="application/x-www-form-urlencoded",
                                      headers={"X-Twilio-Signature": "anything"})
    assert response.status_code == 413


def test_a_body_of_twilios_usual_size_is_answered(signed_app):
    form = dict(twilio_params(), Digits="1", Junk="x" * 1500)  # about 2 KB in all
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL + "/voice/language/key", form)
    response = signed_app.test_client().post("/voice/language/key", data=form, base_url=PUBLIC_URL,
                                             headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200 and "Pour la ligne couple, appuyez sur 1.".encode() in response.data
