"""The line reads Twilio's form body itself; it must read it exactly as werkzeug would."""
import io
import urllib.parse

import pytest
from flask import Request
from werkzeug.test import EnvironBuilder

from ivr.testers.phone import twilio_params
from ivr.web.request import WebhookRequest
from line_settings import PUBLIC_URL


def both(body, content_type="application/x-www-form-urlencoded", **environ_changes):
    environ = EnvironBuilder(path="/voice", method="POST", data=body, content_type=content_type).get_environ()
    environ.update(environ_changes)
    environ = {k: v for k, v in environ.items() if v is not None}
    raw = environ["wsgi.input"].read()
    forms = []
    for cls in (Request, WebhookRequest):
        environ["wsgi.input"] = io.BytesIO(raw)
        request = cls(dict(environ))
        forms.append(request.form)
    # The plain dict the line reads: the first value of each name, as werkzeug's form.get gives.
    assert request.params == forms[0].to_dict()
    return forms


@pytest.mark.parametrize("body", [
    urllib.parse.urlencode(dict(twilio_params(), Digits="#", FromCity="LIÈGE", CallerName="A B")),
    "Digits=%2A&To=%2B3280099990&Empty=&Empty=&Bare&Plus=a+b&&Pct=100%25",
    "Digits=1&CallerName=Tom+%26+Jerry&Q=a%3Db&q=a%3db&Pct=%2526&Amp=%26%3D",  # escaped separators
    "CallerName=%C3%89lodie+%E2%82%AC&Bad=%ZZ%C3&Raw=Élodie",  # accents, a broken escape, raw UTF-8
    "",
])
def test_the_form_is_read_as_werkzeug_reads_it(body):
    theirs, ours = both(body)
    assert list(ours.lists()) == list(theirs.lists())


@pytest.mark.parametrize("changes", [
    {"CONTENT_LENGTH": None},  # no length given: werkzeug decides how much to read
    {"CONTENT_LENGTH": None, "wsgi.input_terminated": True},  # as servers that de-chunk say
])
def test_a_body_without_a_length_is_read_as_werkzeug_reads_it(changes):
    theirs, ours = both("Digits=1&To=%2B3280099990", **changes)
    assert list(ours.lists()) == list(theirs.lists())


def test_other_bodies_still_go_to_werkzeug():
    theirs, ours = both('{"Digits": "1"}', content_type="application/json")
    assert ours == theirs == {}


def test_a_body_over_the_limit_is_refused_not_crashed_on(client):
    response = client.post("/voice", data={"Digits": "1" * 40_000}, base_url=PUBLIC_URL)
    assert response.status_code == 413


def test_any_body_is_read_as_werkzeug_reads_it():
    import random
    rng = random.Random(7)
    alphabet = ["a", "Z", "0", "+", "%", "%2B", "%26", "%3D", "%3d", "%25", "%C3%A9", "é", "=", "&", " ", "%Z"]
    for _ in range(500):
        body = "".join(rng.choices(alphabet, k=rng.randint(0, 30)))
        theirs, ours = both(body)
        assert list(ours.lists()) == list(theirs.lists()), body


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded; charset=utf-8",
                                          "Application/X-WWW-Form-Urlencoded", "text/plain"])
def test_the_content_type_is_read_as_werkzeug_reads_it(content_type):
    theirs, ours = both("Digits=1&To=%2B3280099990", content_type=content_type)
    assert list(ours.lists()) == list(theirs.lists())


@pytest.mark.parametrize("length", ["+3", " 3", "-1", "3x", "٣"])
def test_an_odd_content_length_is_read_as_werkzeug_reads_it(length):
    theirs, ours = both("Digits=1&To=%2B3280099990", CONTENT_LENGTH=length)
    assert list(ours.lists()) == list(theirs.lists())
