"""Answers kept in memory: each flow reply's TwiML, rendered once per loaded line, and each
webhook's answer, decided once per minute.

Building TwiML with twilio's VoiceResponse (an XML tree, then serialised) is most of a request's
own work, and callers ask for the same few answers all evening. A `Reply` (with its Steps and
sentences) is a frozen, hashable value that says exactly what the caller hears, so the rendered
document is kept under (reply, caller ID, URL builders, host: recordings' URLs name the host). The store belongs to one `Line` object:
a reloaded line is a new object and starts an empty store, so no answer outlives the menu it
was built from. Answers that change with the clock come from the flow as different Replies, so
they are never confused either.

A webhook's answer depends only on the line, the app's settings and the request's `Webhook`
(ivr.web.webhook: its step and state, Digits, DialCallStatus and To, origin and Brussels minute),
which is all a view is given. So `ivr.web.views` keeps (reply, TwiML) under the Webhook itself:
every caller who presses 3 in the main menu this minute asks the same thing. Only the current
minute's answers are kept. One store per app (its settings) and loaded line.

Both stores are bounded; when full, the oldest answer goes.
"""
from __future__ import annotations

from typing import Callable

from ..call import twiml
from ..call.flow import Reply, Step
from ..menus.model import Line
from .webhook import Webhook

# Enough for every answer of a large menu (200 menus: about 3,000 distinct replies) while
# staying a few MB: a rendered answer is 0.5 to 4 KB.
MAX_ANSWERS = 4000


class Kept:
    """One webhook's answer, kept for every identical request: the flow's reply and its TwiML (as
    the bytes sent)."""
    __slots__ = ("reply", "body")

    def __init__(self, reply: Reply, body: str):
        self.reply = reply
        self.body = body.encode()


class Answers:
    """The rendered answers of one loaded line."""

    def __init__(self, line: Line, max_answers: int = MAX_ANSWERS):
        self.line = line
        self.max_answers = max_answers
        self._rendered: dict[tuple, str] = {}
        self._kept: dict[Webhook, Kept] = {}  # this minute's answers only
        self._minute = None

    def __len__(self) -> int:
        return len(self._rendered)

    def get(self, webhook: Webhook) -> Kept | None:
        """The answer kept for this webhook (which holds its minute), if any."""
        return self._kept.get(webhook)

    def keep(self, webhook: Webhook, reply: Reply, body: str) -> Kept:
        if webhook.minute != self._minute:
            # No request of an earlier minute can come again: its answers would only hold memory.
            self._minute, self._kept = webhook.minute, {}
        kept = Kept(reply, body)
        _bounded_set(self._kept, webhook, kept, self.max_answers)
        return kept

    def twiml(self, reply: Reply, url: Callable[[Step], str], caller_id: str | None,
              media_url: Callable | None = None, host: str = "") -> str:
        key = (reply, caller_id, url, media_url, host)
        try:
            return self._rendered[key]
        except KeyError:
            pass
        except TypeError:  # a reply holding something unhashable: still answered, just not kept
            return twiml.render(self.line, reply, url, caller_id, media_url)
        body = twiml.render(self.line, reply, url, caller_id, media_url)
        _bounded_set(self._rendered, key, body, self.max_answers)
        return body


def _bounded_set(kept: dict, key, value, max_items: int) -> None:
    if len(kept) >= max_items:
        # Dicts keep insertion order: the oldest goes. Two threads may evict at once (a
        # threaded server): whoever comes second finds it gone, which is fine.
        try:
            kept.pop(next(iter(kept)), None)
        except (StopIteration, RuntimeError):
            pass
    kept[key] = value


def answers_for(holder: dict, line: Line) -> Answers:
    """The answers kept in `holder` (an app's extensions) for `line`; a new, empty store when the
    line was reloaded since."""
    answers = holder.get("ivr_answers")
    if answers is None or answers.line is not line:
        answers = holder["ivr_answers"] = Answers(line)
    return answers
