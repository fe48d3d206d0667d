"""Each webhook's answer, decided once per minute and kept for every identical request.

A webhook's answer depends only on the line, the app's settings and the request's `Webhook`
(ivr.web.webhook: its step and state, Digits, DialCallStatus and To, origin and Brussels minute),
which is all a view is given. So `ivr.web.views` keeps (reply, TwiML) under the Webhook itself:
every caller who presses 3 in the main menu this minute asks the same thing. Only the current
minute's answers are kept. One store per app (its settings) and loaded line: a reloaded line is a
new object and starts an empty store, so no answer outlives the menu it was built from. Bounded;
when full, the oldest answer goes. Taking this out costs half again as many instructions per
webhook (docs/performance.md).
"""
from __future__ import annotations

from typing import Callable

from ..call import twiml
from ..call.flow import Reply, Step
from ..menus.model import Line
from .webhook import Webhook

# Enough for every request of a large menu in a minute (200 menus: about 3,000 distinct replies)
# while staying a few MB: an answer is 0.5 to 4 KB.
MAX_ANSWERS = 4000


class Kept:
    """One webhook's answer, kept for every identical request: the flow's reply and its TwiML (as
    the bytes sent)."""
    __slots__ = ("reply", "body")

    def __init__(self, reply: Reply, body: str):
        self.reply = reply
        self.body = body.encode()


class Answers:
    """The answers of one loaded line."""

    def __init__(self, line: Line, max_answers: int = MAX_ANSWERS):
        self.line = line
        self.max_answers = max_answers
        self._kept: dict[Webhook, Kept] = {}  # this minute's answers only
        self._minute = None

    def __len__(self) -> int:
        return len(self._kept)

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
        """The reply's TwiML, rendered each time: it is kept only with the decided answer. (Keeping
        it per reply too saved 0.15 % of a webhook's instructions.) `host` is not needed to render."""
        return twiml.render(self.line, reply, url, caller_id, media_url)


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
