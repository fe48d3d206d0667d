"""A forger's near misses of a genuine signature are refused, on both ways Twilio signs a webhook:
the auth token with HMAC-SHA1 (ivr.web.signature's fast path, then twilio's validator) and a
Webhook Rule's SharedKey with HMAC-SHA256 (X-Twilio-Webhooks-Signature-Settings,
IVR_WEBHOOK_SHARED_KEYS). Each list of near misses holds the genuine signature's tail changed,
each character changed, every truncation, extensions, other algorithms' digests of the same
data, and the empty string; the genuine signature itself is accepted in the same test, so a
refusal is the signature's doing."""
import base64
import hashlib
import hmac

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from ivr.testers.phone import twilio_params
from ivr.web.signature import is_from_twilio, signature_algorithm
from line_settings import PUBLIC_URL, TEST_MENUS, TOKEN

SHARED_KEY = "a-shared-key-secret"
SETTINGS = "key=webhooks_sharedkey_0123456789abcdefghijklmnop,algorithm=HMAC_SHA256"
BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
URL = PUBLIC_URL + "/voice/language/key"
PARAMS = dict(twilio_params(), Digits="1")

# The two ways a webhook reaches the line signed: (secret, algorithm, extra headers).
AUTH_TOKEN = (TOKEN, None, {})
WEBHOOK_RULE = (SHARED_KEY, "HMAC_SHA256", {"X-Twilio-Webhooks-Signature-Settings": SETTINGS})


def signed_data(url, params) -> bytes:
    """What Twilio signs, written out here from its "Secure webhooks" page, not from the code."""
    return (url + "".join(name + params[name] for name in sorted(params))).encode()


def mac(secret, url, params, digest) -> bytes:
    return hmac.new(secret.encode(), signed_data(url, params), digest).digest()


def near_misses(genuine: str, secret: str, algorithm: str | None, url=URL, params=PARAMS) -> list[tuple[str, str]]:
    """(what it is, signature): every one differs from `genuine`, and none is Twilio's."""
    misses = [("the empty signature", "")]
    # The tail changed: a check that reads only the first characters lets these through.
    for n in (1, 2, 3, 4, 8, len(genuine) // 2, len(genuine) - 1):
        tail = "".join(BASE64[(BASE64.find(c) + 1) % 64] for c in genuine[-n:])
        misses.append((f"the last {n} characters changed", genuine[:-n] + tail))
    # One character changed, at every position: to the next base64 character, to the one whose
    # lowest bit differs (in the last character before "=", a bit the digest does not use: decoding
    # both gives the same bytes), and to "=".
    for i, c in enumerate(genuine):
        value = BASE64.find(c)
        others = {BASE64[(value + 1) % 64], "=", "A" if c != "A" else "B"}
        if value >= 0:
            others.add(BASE64[value ^ 1])
        for other in sorted(others - {c}):
            misses.append((f"character {i} changed from {c!r} to {other!r}", genuine[:i] + other + genuine[i + 1:]))
    for n in range(1, len(genuine)):
        misses.append((f"truncated to {n} characters", genuine[:n]))
    for extra in ("=", "A", "==", " ", "\n", "\x00", genuine):
        misses.append((f"extended with {extra[:4]!r}", genuine + extra))
        misses.append((f"preceded by {extra[:4]!r}", extra + genuine))
    misses.append(("the case of every letter swapped", genuine.swapcase()))
    misses.append(("without its padding", genuine.rstrip("=")))
    right = base64.b64decode(genuine)
    misses.append(("the right digest in hexadecimal", right.hex()))
    misses.append(("the right digest in URL-safe base64, unpadded", base64.urlsafe_b64encode(right).decode().rstrip("=")))
    # Other algorithms over the same data with the same secret, and plain hashes anyone can make.
    for name in ("sha1", "sha256", "sha512", "md5"):
        misses.append((f"HMAC-{name.upper()} of the same data", base64.b64encode(mac(secret, url, params, name)).decode()))
        misses.append((f"{name.upper()} of the data, no secret", base64.b64encode(hashlib.new(name, signed_data(url, params)).digest()).decode()))
    misses.append(("the secret itself", secret))
    misses.append(("the secret in base64", base64.b64encode(secret.encode()).decode()))
    # The right algorithm and secret over something else: other parameters, another URL, no parameters.
    validator = RequestValidator(secret)
    misses.append(("signed for Digits=2", validator.compute_signature(url, dict(params, Digits="2"), algorithm)))
    misses.append(("signed for another page", validator.compute_signature(PUBLIC_URL + "/voice", params, algorithm)))
    misses.append(("signed without the parameters", validator.compute_signature(url, {}, algorithm)))
    misses.append(("signed by another account", RequestValidator("other-" + secret).compute_signature(url, params, algorithm)))
    return [(what, signature) for what, signature in misses if signature != genuine]


def accepted(check, misses) -> list[str]:
    return [f"{what}: {signature!r}" for what, signature in misses if check(signature)]


@pytest.mark.parametrize("way", [AUTH_TOKEN, WEBHOOK_RULE], ids=["auth token, HMAC-SHA1", "webhook rule, HMAC-SHA256"])
@pytest.mark.parametrize("signed_url", [URL, URL.replace(".org/", ".org:443/")], ids=["as requested", "with the port"])
def test_every_near_miss_of_a_genuine_signature_is_refused(way, signed_url):
    secret, algorithm, headers = way
    algorithm_read = signature_algorithm(headers.get("X-Twilio-Webhooks-Signature-Settings"))
    genuine = RequestValidator(secret).compute_signature(signed_url, PARAMS, algorithm)
    assert genuine == base64.b64encode(mac(secret, signed_url, PARAMS, "sha256" if algorithm else "sha1")).decode()
    for params in (PARAMS, MultiDict(PARAMS)):  # a dict, as the line passes it; Flask's form
        assert is_from_twilio(secret, URL, params, genuine, algorithm_read)
        misses = near_misses(genuine, secret, algorithm, signed_url)
        assert len(misses) > 4 * len(genuine)
        assert accepted(lambda signature: is_from_twilio(secret, URL, params, signature, algorithm_read), misses) == []


def post(app, signature, headers):
    return app.test_client().post("/voice/language/key", data=PARAMS, base_url=PUBLIC_URL,
                                  headers={"X-Twilio-Signature": signature, **headers})


@pytest.mark.parametrize("way", [AUTH_TOKEN, WEBHOOK_RULE], ids=["auth token, HMAC-SHA1", "webhook rule, HMAC-SHA256"])
def test_the_line_answers_every_near_miss_with_403(make_app, way):
    secret, algorithm, headers = way
    app = make_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0, "WEBHOOK_SHARED_KEYS": f"old-key, {SHARED_KEY}",
                    "MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts")})
    genuine = RequestValidator(secret).compute_signature(URL, PARAMS, algorithm)
    assert post(app, genuine, headers).status_code == 200
    answered = [(what, signature) for what, signature in near_misses(genuine, secret, algorithm)
                if "\n" not in signature and "\x00" not in signature]  # not sendable in a header
    assert accepted(lambda signature: post(app, signature, headers).status_code != 403, answered) == []
    # The genuine signature under the other way's header: the settings header decides the key.
    other_headers = {} if headers else WEBHOOK_RULE[2]
    assert post(app, genuine, other_headers).status_code == 403


def test_the_sha256_of_the_right_data_with_the_auth_token_is_not_a_sha1_signature():
    # The header is what says SHA-256: without it, a SHA-256 signature is refused, even the right one.
    sha256 = RequestValidator(TOKEN).compute_signature(URL, PARAMS, "HMAC_SHA256")
    assert not is_from_twilio(TOKEN, URL, PARAMS, sha256)
    assert is_from_twilio(TOKEN, URL, PARAMS, sha256, "HMAC_SHA256")
