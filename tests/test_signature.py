"""The faster signature check accepts exactly what twilio's RequestValidator accepts."""
from urllib.parse import urlparse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


# What the fast path and twilio's validator are given on a random sample: URLs of every shape the
# line may rebuild (ports, IPv6, odd or empty queries, a trailing "?", "#" or ";", one urlparse
# refuses), any parameters (names sent twice among them), any token, and signatures that are the
# genuine one, for either form of the URL, with the other algorithm, or a near miss of one.
_hosts = st.sampled_from(["line.example.org", "line.example.org:443", "line.example.org:80", "127.0.0.1:8000",
                          "[::1]:8000", "[a:b]", "LINE.example.org", "line.example.org:0443"])
_tails = st.sampled_from(["", "?", "#", ";", "?#", "/", "?at=2", "?at=2&", "#top"])
_urls = st.one_of(
    st.builds(lambda scheme, host, path, query, tail: f"{scheme}://{host}/{path}{'?' + query if query else ''}{tail}",
              st.sampled_from(["http", "https", "HTTPS"]), _hosts, st.text(max_size=12), st.text(max_size=12), _tails),
    st.text(max_size=30))
_params = st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=6)


def _mutated(signature: str, data) -> str:
    how = data.draw(st.sampled_from(["as is", "tail", "one character", "truncated", "extended"]))
    if how == "as is" or not signature:
        return signature
    at = data.draw(st.integers(0, len(signature) - 1))
    if how == "tail":
        return signature[:at] + data.draw(st.text(alphabet=signature + "+/=A", min_size=len(signature) - at, max_size=len(signature) - at))
    if how == "one character":
        return signature[:at] + data.draw(st.sampled_from("A0+/=a")) + signature[at + 1:]
    if how == "truncated":
        return signature[:at]
    return signature + data.draw(st.text(min_size=1, max_size=4))


@settings(max_examples=400, deadline=None)
@given(token=st.text(min_size=1, max_size=20), url=_urls, items=_params, as_dict=st.booleans(),
       algorithm=st.sampled_from([None, "HMAC_SHA1", "hmac_sha1", "HMAC_SHA256", "HMAC_SHA512"]), data=st.data())
def test_the_fast_path_and_twilios_validator_agree_on_a_random_sample(token, url, items, as_dict, algorithm, data):
    params = dict(items) if as_dict else MultiDict(items)
    validator = RequestValidator(token)
    signer = data.draw(st.sampled_from([token, token + "x"]))
    signed_url = data.draw(st.sampled_from([url, url.replace(":443/", "/").replace(":8000/", "/"), url.replace(".org/", ".org:443/")]))
    signed_with = data.draw(st.sampled_from(["HMAC_SHA1", "HMAC_SHA256"]))
    genuine = RequestValidator(signer).compute_signature(signed_url, params, signed_with)
    signature = data.draw(st.one_of(st.just(genuine).map(lambda s: _mutated(s, data)), st.text(max_size=30)))

    try:
        twilios = validator.validate(url, params, signature, algorithm)
    except ValueError:  # a URL urlparse refuses: the validator raises
        twilios = False
    fast = is_from_twilio(token, url, params, signature, algorithm)
    if fast != twilios:
        # The one difference the module states: with HMAC-SHA1, the URL is also signed as it
        # stands, where the validator only checks it as urlparse writes it back (a trailing empty
        # "?", "#" or ";" dropped, the scheme lowercased), with and without the port, or not at all.
        sha1 = algorithm is None or algorithm.upper() == "HMAC_SHA1"
        assert fast and sha1 and _rewritten(url) and signature == validator.compute_signature(url, params), \
            (url, signature, fast, twilios)


def _rewritten(url: str) -> bool:
    try:
        return urlparse(url).geturl() != url
    except ValueError:  # a host urlparse refuses: the validator checks no form of it
        return True


def test_an_empty_token_or_signature_accepts_nothing():
    # twilio's validator would accept a signature made with an empty key; a line with no token set
    # must not (create_app refuses to start so, and this is the second lock).
    params = twilio_params()
    assert not is_from_twilio("", "https://line.example.org/voice", params, RequestValidator("").compute_signature("https://line.example.org/voice", params))
    assert not is_from_twilio(TOKEN, "https://line.example.org/voice", params, "")
