"""Is this webhook from Twilio? The X-Twilio-Signature check, with the least work when it is.

twilio's `RequestValidator.validate` signs the URL twice on every request, with and without its
port, because Twilio's own signing has varied on that point. The URL as it reached us is always
one of those two forms, and is the one Twilio signed in nearly every request, so it is tried
first; `validate` decides only when that does not match. The set of requests accepted is the
same as with `validate` alone.

twilio asks the form for each parameter's values with `getall()`, then `getlist()` when that
raises AttributeError; werkzeug's form has only `getlist()`, so each of the 25 or so parameters
cost an exception. `_Form` answers `getall()` directly.
"""
from __future__ import annotations

import hmac

from twilio.request_validator import RequestValidator


class _Form:
    """A werkzeug MultiDict as twilio's validator reads it."""

    def __init__(self, form):
        self.form = form

    def __iter__(self):
        return iter(self.form)

    def __len__(self):
        return len(self.form)

    def getall(self, name: str) -> list[str]:
        return self.form.getlist(name)


def is_from_twilio(auth_token: str, url: str, params, signature: str) -> bool:
    """`params`: the POST parameters, a werkzeug MultiDict (request.form) or a plain dict."""
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    if hasattr(params, "getlist"):
        params = _Form(params)
    if hmac.compare_digest(validator.compute_signature(url, params).encode(), signature.encode()):
        return True
    return validator.validate(url, params, signature)
