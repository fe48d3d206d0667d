"""Each webhook's answer, decided once per minute and kept for every identical request.

A webhook's answer depends only on the line, the app's settings, what the request says (its path
and query string, and its Digits, DialCallStatus and To parameters: all the web layer reads) and
the clock, read to the minute in Brussels time (as opening hours read it). The same request in the
same minute gets the same answer, so `ivr.web.views` keeps (reply, TwiML) under those; every caller who
presses 3 in the main menu asks the same thing. Only the current minute's answers are kept. One
store per app (its settings) and loaded line: a reloaded line is a new object and starts an empty
store, so no answer outlives the menu it was built from. Bounded; when full, the oldest answer goes.
Taking this out costs half again as many instructions per webhook (docs/performance.md).
"""
from __future__ import annotations

from typing import Callable

from ..call import twiml
from ..call.flow import Reply, Step
from ..menus.model import Line

# Enough for every request of a large menu in a minute (200 menus: about 3,000 distinct replies)
# while staying a few MB: an answer is 0.5 to 4 KB.
MAX_ANSWERS = 4000


class Decided:
    """One webhook's answer, kept for every identical request: the flow's reply, its TwiML (as the
    bytes sent), and `notes`, where another layer keeps what it works out from this answer once
    (ivr.ops.observability: what to count and log), since that holds for every request that gets it."""
    __slots__ = ("reply", "body", "notes")

    def __init__(self, reply: Reply, body: str):
        self.reply = reply
        self.body = body.encode()
        self.notes = None


class Answers:
    """The answers of one loaded line."""

    def __init__(self, line: Line, max_answers: int = MAX_ANSWERS):
        self.line = line
        self.max_answers = max_answers
        self._decided: dict[tuple, Decided] = {}  # this minute's answers only
        self._minute: tuple | None = None

    def __len__(self) -> int:
        return len(self._decided)

    def decided(self, request_key: tuple) -> Decided | None:
        """The answer kept for this request (whose key holds its minute), if any."""
        return self._decided.get(request_key)

    def keep_decided(self, request_key: tuple, minute: tuple, reply: Reply, body: str) -> Decided:
        if minute != self._minute:
            # No request of an earlier minute can come again: its answers would only hold memory.
            self._minute, self._decided = minute, {}
        decided = Decided(reply, body)
        _bounded_set(self._decided, request_key, decided, self.max_answers)
        return decided

    def twiml(self, reply: Reply, url: Callable[[Step], str], caller_id: str | None,
              media_url: Callable | None = None, host: str = "") -> str:
        """The reply's TwiML, rendered each time: it is kept only with the decided answer. (Keeping
        it per reply too saved 0.15 % of a webhook's instructions.) `host` is not needed to render."""
        return twiml.render(self.line, reply, url, caller_id, media_url)


def _bounded_set(store: dict, key, value, max_items: int) -> None:
    if len(store) >= max_items:
        # Dicts keep insertion order: the oldest goes. Two threads may evict at once (a
        # threaded server): whoever comes second finds it gone, which is fine.
        try:
            store.pop(next(iter(store)), None)
        except (StopIteration, RuntimeError):
            pass
    store[key] = value


def store_for(holder: dict, line: Line) -> Answers:
    """The answers kept in `holder` (an app's extensions) for `line`; a new, empty store when the
    line was reloaded since."""
    answers = holder.get("ivr_answers")
    if answers is None or answers.line is not line:
        answers = holder["ivr_answers"] = Answers(line)
    return answers
