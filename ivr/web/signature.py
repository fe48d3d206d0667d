"""Is this webhook from Twilio? The X-Twilio-Signature check, with the least work when it is.

Twilio signs each webhook with HMAC-SHA1, keyed with the account's auth token, over the full URL
it requested followed by every POST parameter's name and value, sorted by name, with nothing in
between (Twilio's "Secure webhooks" page); the header carries it in base64. twilio's
`RequestValidator.validate` computes that twice per request (the URL with and without its port,
as Twilio's signing has varied there), reads each parameter through an exception when given
Flask's form, and compares in a Python loop: about 35 us of a webhook's ~180 us in the app.

Here the URL the line serves (IVR_PUBLIC_URL, with the path and query as requested: always one
of those two forms, and the one Twilio signed in nearly every request) is signed once, the same
way as `RequestValidator.compute_signature`; only when that does not match does `validate` decide.
The signatures computed are twilio's own (tests/test_signature.py checks them against its code);
one difference in what is accepted: a URL ending in an empty "?", "#" or ";" is signed as it
stands here, where `validate` first normalises it away. Either way only a holder of the auth
token can sign.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from twilio.request_validator import HMAC_SHA1, RequestValidator, get_signature_algorithm


def signature_algorithm(settings_header: str | None) -> str:
    """The algorithm X-Twilio-Webhooks-Signature-Settings names (twilio's own reading of it):
    HMAC_SHA256 for a Webhook Rule's SharedKey; HMAC_SHA1 when the header says none."""
    return get_signature_algorithm(settings_header)


def is_from_twilio(key: str, url: str, params, signature: str, algorithm: str | None = None) -> bool:
    """`key`: the auth token, or a SharedKey's secret; `algorithm`: as `signature_algorithm`
    reads it (None: HMAC-SHA1). `params`: the POST parameters, Flask's request.form or a dict."""
    if not signature or not key:
        return False
    sha1 = algorithm is None or algorithm.upper() == HMAC_SHA1
    if sha1 and hmac.compare_digest(_signature(key, url, params), signature.encode()):
        return True
    try:
        # twilio's validator for everything else: HMAC-SHA256, and an algorithm it does not know
        # (refused, with its own warning in the log).
        return RequestValidator(key).validate(url, params, signature, None if sha1 else algorithm)
    except ValueError:  # a URL urlparse refuses (a forged Host such as "[a:b]"): not Twilio's
        return False


def _signature(auth_token: str, url: str, params) -> bytes:
    if type(params) is dict:  # one value per name: what ivr.web.views passes
        data = url + "".join([name + params[name] for name in sorted(params)])
    else:
        parts = [url]
        lists = params.lists() if hasattr(params, "lists") else ((name, [value]) for name, value in params.items())
        for name, values in sorted(lists):
            if len(values) == 1:
                parts.append(name + values[0])
            else:  # a parameter sent more than once: its distinct values, sorted, as twilio does
                parts.extend(name + value for value in sorted(set(values)))
        data = "".join(parts)
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest())
