"""Flask's request, reading Twilio's form body with less machinery.

Every webhook is a small application/x-www-form-urlencoded POST whose ~25 parameters are all read
(the signature covers them). werkzeug's general form parser (streams, parser objects, the
multipart machinery set up on the way) took about a third of a request's own time; this reads
the body once and splits it. Anything else goes to werkzeug as before, and so does a body
without a Content-Length or over MAX_CONTENT_LENGTH (which werkzeug refuses with 413).
"""
from __future__ import annotations

import math
import re
import time
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus, unquote_to_bytes, urlsplit

from flask import Request

if TYPE_CHECKING:
    from ..call.flow import Reply
    from .webhook import Webhook


# X-Request-Start: a start up to this long after the app saw the request is clocks a little apart
# (read as no wait); a wait longer than QUEUE_LIMIT_SECONDS is no webhook's (Twilio gives up at
# 15 s): both are ignored, and counted (ivr_request_start_ignored_total).
CLOCK_SKEW_SECONDS = 1.0
QUEUE_LIMIT_SECONDS = 60.0


class WebhookRequest(Request):
    """Twilio's body is read once into `form_pairs` and `params`; werkzeug's MultiDict `form` is
    built from them only when something asks for it (the line itself reads `params`)."""

    form_pairs: list[tuple[str, str]] | None = None  # the body's parameters in order, when read here
    _params: dict[str, str] | None = None
    # What ivr.web.views hands to ivr.ops.observability: the Webhook read from this request once it
    # was known to be Twilio's, and the flow's Reply the caller got (its events say what happened).
    webhook: Webhook | None = None
    reply: Reply | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.started = time.perf_counter()  # for the webhook's latency (ivr.ops.observability)
        self.arrived = time.time()  # the same moment on the wall clock, to compare with X-Request-Start

    def queued_seconds(self) -> tuple[float, str | None]:
        """How long the request waited before the app saw it, as the proxy in front says in
        X-Request-Start: Heroku's router (milliseconds since 1970), nginx's `t=${msec}` (seconds,
        with a decimal point), or microseconds. Returns (seconds, None), or (0, why) for a value
        that cannot be a wait: "unreadable" (not a time), "future" (over a second after the app
        saw the request: clocks apart) or "too_long" (over QUEUE_LIMIT_SECONDS, four times what
        Twilio waits for an answer). (0, None) without the header or for a start a little after
        arrival (clocks a little apart). The caller decides whether the header can be believed."""
        value = self.environ.get("HTTP_X_REQUEST_START", "")
        if not value:
            return 0.0, None
        value = value.strip()
        if value[:2] in ("t=", "T="):
            value = value[2:]
        try:
            start = float(value)
        except ValueError:
            return 0.0, "unreadable"
        if not math.isfinite(start) or start <= 0:
            return 0.0, "unreadable"
        if start > 1e14:
            start /= 1e6
        elif start > 1e11:
            start /= 1e3
        waited = self.arrived - start
        if waited < -CLOCK_SKEW_SECONDS:
            return 0.0, "future"
        if waited > QUEUE_LIMIT_SECONDS:
            return 0.0, "too_long"
        return max(waited, 0.0), None

    @property
    def params(self) -> dict[str, str]:
        """The POST parameters as a plain dict, the first value of each name (Twilio never repeats
        one; ivr.web.views refuses a request that does). Cheaper to read than the MultiDict `form`,
        whose get() raises and catches an exception for every name it lacks."""
        if self._params is None:
            if not (self._read_twilio_body() and self._params is not None):
                self._params = self.form.to_dict()
        return self._params

    def parameters(self) -> list[tuple[str, str]]:
        """Every POST parameter as (name, value), a repeated name once per value."""
        if self._read_twilio_body():
            return self.form_pairs
        return list(self.form.items(multi=True))

    def _load_form_data(self) -> None:
        if "form" in self.__dict__ or not self._read_twilio_body():
            return super()._load_form_data()
        # As werkzeug does: set them in the instance, past the cached properties.
        self.__dict__["form"] = self.parameter_storage_class(self.form_pairs)
        self.__dict__["files"] = self.parameter_storage_class()
        return None

    def _read_twilio_body(self) -> bool:
        """Read an urlencoded body of known length into `form_pairs` (and `params`, when no name
        repeats). False for anything else, which werkzeug reads as before (or refuses: 413)."""
        if self.form_pairs is not None:
            return True
        if "form" in self.__dict__:  # werkzeug read it already
            return False
        # Straight from the WSGI environ: werkzeug's mimetype and content_length parse the
        # headers through several layers.
        environ = self.environ
        content_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        length = environ.get("CONTENT_LENGTH", "")
        if content_type != "application/x-www-form-urlencoded" or not (length.isascii() and length.isdigit()) \
                or environ.get("HTTP_TRANSFER_ENCODING"):
            return False
        length, limit = int(length), self.max_content_length  # ivr.web.views sets the limit: no app lookup
        if limit is not None and length > limit:
            return False  # werkzeug refuses it (413)
        # The body may have been read already (get_data caches it); otherwise straight from the
        # server's input: werkzeug's limited-stream wrapper cost ~6 us a request.
        raw = getattr(self, "_cached_data", None)
        if raw is None:
            raw = self._cached_data = environ["wsgi.input"].read(length)
        try:
            items = _pairs(raw)
        except UnicodeDecodeError:  # never Twilio's: werkzeug decides what such a body says
            return False
        self.form_pairs = items
        params = dict(items)
        if len(params) == len(items):
            self._params = params
        return True


def _pairs(raw: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs of an urlencoded body, decoded as werkzeug decodes them. Raises
    UnicodeDecodeError for a body that is not UTF-8, as sent or once unescaped."""
    body = raw.decode("utf-8")
    if "%" in body or "+" in body:
        if _ESCAPED_SEPARATOR.search(body):
            return [(_decoded(name), _decoded(value)) for name, _, value in [p.partition("=") for p in body.split("&") if p]]
        # Only Twilio's usual escapes ("+" in numbers, spaces, accents): unescaping the whole body
        # at once (as bytes, the cheapest way) leaves every "&" and "=" where it was.
        body = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    return [(name, value) for name, _, value in [pair.partition("=") for pair in body.split("&") if pair]]


_ESCAPED_SEPARATOR = re.compile("%(26|3[dD])")


def _decoded(text: str) -> str:
    return unquote_plus(text, errors="strict") if "%" in text or "+" in text else text


def public_url(value: str) -> str:
    """IVR_PUBLIC_URL as the line uses it: scheme://host[:port], lower case, no final "/".
    ValueError, with the rest of a sentence, for anything else."""
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # ValueError for a port that is not a number
    except ValueError:
        parts = port = None
    if parts is None or parts.scheme.lower() not in ("https", "http") or not parts.hostname:
        raise ValueError("is not an address Twilio can call: write it as https://line.example.org")
    if parts.username is not None or parts.password is not None or parts.path not in ("", "/") \
            or parts.query or parts.fragment:
        raise ValueError("should be the scheme and host alone, such as https://line.example.org: "
                         "the line is served at the root of its host")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")


class ServedAt:
    """WSGI middleware: every request is read as addressed to the line's one public URL
    (IVR_PUBLIC_URL), so the URL a signature is checked against (ivr.web.views) is that one,
    whatever Host or X-Forwarded-* headers a client sent. A request Twilio signed for another
    host, port or scheme (another line of the same account) then fails its check: 403."""

    def __init__(self, app, url: str):
        self.app = app
        parts = urlsplit(url)
        self.scheme, self.host = parts.scheme, parts.netloc

    def __call__(self, environ, start_response):
        environ["wsgi.url_scheme"] = self.scheme
        environ["HTTP_HOST"] = self.host
        return self.app(environ, start_response)
