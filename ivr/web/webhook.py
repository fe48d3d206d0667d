"""One Twilio webhook, as the line reads it: everything a view may decide from, and nothing else.

`Webhook.read` takes the request's route (which step), its query string (the call's state), the
three Twilio parameters the line reads (Digits, DialCallStatus, To), the origin (recordings' URLs
name it) and the clock to the minute in Brussels (opening hours turn on the minute). The views
decide from a Webhook and the line only, so a Webhook is also the key of the answers kept for
identical requests (ivr.web.answers): a view cannot read anything the key lacks.

A NamedTuple: typed, frozen, and hashed and compared in C, since every webhook is looked up by it.
"""
from __future__ import annotations

import datetime
import functools
import re
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

from ..call.flow import MAX_DEPTH
from ..menus.load import KEYPAD
from ..menus.model import BRUSSELS

SILENCES = re.compile(r"[0-9]{1,2}")  # ASCII digits only: str.isdigit() also takes "²"
DURATION = re.compile(r"[0-9]{1,6}")  # DialCallDuration, seconds
STATE = (b"at", b"id", b"line", b"n", b"e", b"d")  # the query string's names the line reads


class Webhook(NamedTuple):
    step: str  # "incoming", "language", "language_key", "node", "key", "dialed" or "others" (the route)
    language: str | None  # the language code in the path: /voice/<language>/<step>
    at: tuple[str, ...] | None  # the keys pressed from the main menu; None: cannot be a path of keys
    node_id: str | None  # what the caller was told is at `at` (`id=`), None when not said
    helpline: str | None  # the helpline being dialled (`line=`)
    silences: int  # silences so far (`n=`)
    after_error: bool  # sent here after an apology (`e=1`): a second failure ends the call
    digits: str  # one keypad key, "" for silence, "?" for anything else (a wrong key)
    dial_status: str  # Twilio's DialCallStatus after a transfer, as sent
    to: str  # the number the caller called (Twilio's To), as sent: the line's own number
    origin: str  # scheme://host/root the request came to
    minute: datetime.datetime  # the clock, to the minute, in Brussels time when the clock has a zone
    defaulted: bool = False  # no language was chosen: the language was taken by default (`d=1`)
    dial_seconds: int | None = None  # Twilio's DialCallDuration after a transfer; None when not sent

    @classmethod
    def read(cls, step: str, language: str | None, query_string: bytes, params: dict, origin: str,
             now: datetime.datetime) -> "Webhook":
        at, node_id, helpline, silences, after_error, defaulted = _state(query_string) if query_string else _NO_STATE
        digits = params.get("Digits", "")
        if digits and not (len(digits) == 1 and digits in KEYPAD):
            digits = "?"
        local = now.astimezone(BRUSSELS) if now.tzinfo else now  # as opening hours read the clock
        duration = params.get("DialCallDuration", "")
        return cls(step, language, at, node_id, helpline, silences, after_error, digits,
                   params.get("DialCallStatus", ""), params.get("To", ""), origin,
                   local.replace(second=0, microsecond=0), defaulted,
                   int(duration) if DURATION.fullmatch(duration) else None)

    @property
    def key_pressed(self) -> str | None:
        """The key of a key step as the log names it ("other" for anything but one key), else None."""
        if self.step not in ("key", "language_key"):
            return None
        return "other" if self.digits == "?" else self.digits


_NO_STATE = ((), None, None, 0, False, False)


# The line's own URLs are few (one per place in the menus and number of silences), and a Webhook
# is read only from a request whose signature was checked: parsed once each (~10 us), a worker
# keeps them. Bounded all the same.
@functools.lru_cache(maxsize=4096)
def _state(query_string: bytes) -> tuple:
    """(at, node_id, helpline, silences, after_error, defaulted) from a query string."""
    state = _query(query_string)
    silences = state.get("n", "0")
    return (_keys(state.get("at", "")), state.get("id"), state.get("line"),
            int(silences) if SILENCES.fullmatch(silences) else 0, state.get("e") == "1", state.get("d") == "1")


def _keys(value: str) -> tuple[str, ...] | None:
    """The key path from the URL; None when it cannot be a path (the caller goes to the main menu)."""
    if not value:
        return ()
    keys = tuple(value.split("."))
    if len(keys) > MAX_DEPTH or not all(len(k) == 1 and k in KEYPAD for k in keys):
        return None
    return keys


def _query(query_string: bytes) -> dict[str, str]:
    """The state the line reads from a query string, decoded as werkzeug's `request.args` decodes
    it (UTF-8; the first value of a repeated name). Only the line's own
    names: werkzeug's MultiDict of every name cost more than the rest of a kept answer's lookup."""
    state: dict[str, str] = {}
    for pair in query_string.split(b"&"):
        name, _, value = pair.partition(b"=")
        if b"%" in name or b"+" in name:
            name = _unescaped(name).encode("utf-8", "replace")
        if name in STATE:
            text = name.decode()
            if text not in state:
                state[text] = _unescaped(value) if b"%" in value or b"+" in value else value.decode("utf-8", "replace")
    return state


def _unescaped(raw: bytes) -> str:
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:  # werkzeug leaves escapes that are not UTF-8 as they were
        return raw.decode("latin-1")
