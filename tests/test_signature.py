"""The faster signature check accepts exactly what twilio's RequestValidator accepts."""
import pytest
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from ivr.testers.phone import twilio_params
from ivr.web.signature import is_from_twilio

TOKEN = "test-auth-token"


def sign(url, params, token=TOKEN):
    return RequestValidator(token).compute_signature(url, params)


@pytest.mark.parametrize("requested, signed", [
    ("https://line.example.org/voice", "https://line.example.org/voice"),
    # Twilio has signed with the default port spelled out, and without a port that was given.
    ("https://line.example.org/voice", "https://line.example.org:443/voice"),
    ("http://127.0.0.1:8000/voice/fr/key?at=2", "http://127.0.0.1/voice/fr/key?at=2"),
])
def test_every_form_twilio_signs_is_accepted(requested, signed):
    params = dict(twilio_params(), Digits="1")
    assert is_from_twilio(TOKEN, requested, params, sign(signed, params))
    assert is_from_twilio(TOKEN, requested, MultiDict(params), sign(signed, params))  # as Flask gives it
    assert RequestValidator(TOKEN).validate(requested, params, sign(signed, params))


def test_a_parameter_sent_twice_is_signed_with_all_its_values():
    form = MultiDict([("To", "+3280099990"), ("Digits", "1"), ("Digits", "2")])
    signature = RequestValidator(TOKEN).compute_signature("https://line.example.org/voice", form)
    assert is_from_twilio(TOKEN, "https://line.example.org/voice", form, signature)
    assert not is_from_twilio(TOKEN, "https://line.example.org/voice", MultiDict(form.items()), signature)


@pytest.mark.parametrize("signature", [
    "", "not-a-signature", sign("https://line.example.org/voice", twilio_params(), token="other-token"),
    sign("https://line.example.org/voice/fr/node", twilio_params()),  # another URL
    sign("https://line.example.org/voice", dict(twilio_params(), Digits="2")),  # other parameters
])
def test_anything_else_is_refused(signature):
    assert not is_from_twilio(TOKEN, "https://line.example.org/voice", twilio_params(), signature)


def test_the_signature_is_computed_exactly_as_twilio_computes_it():
    import random

    from ivr.web.signature import _signature
    rng = random.Random(5)
    alphabet = "aZ09+%&= éÈ€\n"
    for _ in range(300):
        items = [("".join(rng.choices(alphabet, k=rng.randint(1, 6))), "".join(rng.choices(alphabet, k=rng.randint(0, 6))))
                 for _ in range(rng.randint(0, 8))]
        items += [(name, value + "x") for name, value in items[:rng.randint(0, 2)]]  # names sent twice
        form = MultiDict(items)
        url = "https://line.example.org/voice/fr/key?at=" + "".join(rng.choices("0123456789", k=3))
        assert _signature(TOKEN, url, form).decode() == RequestValidator(TOKEN).compute_signature(url, form)
        plain = dict(items)
        assert _signature(TOKEN, url, plain).decode() == RequestValidator(TOKEN).compute_signature(url, plain)
