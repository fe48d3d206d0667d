"""Is this webhook from Twilio? The X-Twilio-Signature check, with the least work when it is.

twilio's `RequestValidator.validate` signs the URL twice on every request, with and without its
port, because Twilio's own signing has varied on that point. The URL as it reached us is always
one of those two forms, and is the one Twilio signed in nearly every request, so it is tried
first; `validate` decides only when that does not match. The set of requests accepted is the
same as with `validate` alone.
"""
from __future__ import annotations

import hmac

from twilio.request_validator import RequestValidator


def is_from_twilio(auth_token: str, url: str, params, signature: str) -> bool:
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    if hmac.compare_digest(validator.compute_signature(url, params).encode(), signature.encode()):
        return True
    return validator.validate(url, params, signature)
