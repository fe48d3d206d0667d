"""The TwiML of each flow reply, rendered once per loaded line and then answered from memory.

Building TwiML with twilio's VoiceResponse (an XML tree, then serialised) is most of a request's
own work, and callers ask for the same few answers all evening. A `Reply` (with its Steps and
sentences) is a frozen, hashable value that says exactly what the caller hears, so the rendered
document is kept under (reply, caller ID, URL builders, host: recordings' URLs name the host). The store belongs to one `Line` object:
a reloaded line is a new object and starts an empty store, so no answer outlives the menu it
was built from. Answers that change with the clock come from the flow as different Replies, so
they are never confused either. The store is bounded; when full, the oldest answer goes.
"""
from __future__ import annotations

from typing import Callable

from . import twiml
from .flow import Reply, Step
from .model import Line

# Enough for every answer of a large menu (200 menus: about 3,000 distinct replies) while
# staying a few MB: a rendered answer is 0.5 to 4 KB.
MAX_ANSWERS = 4000


class Answers:
    """The rendered answers of one loaded line."""

    def __init__(self, line: Line, max_answers: int = MAX_ANSWERS):
        self.line = line
        self.max_answers = max_answers
        self._rendered: dict[tuple, str] = {}

    def __len__(self) -> int:
        return len(self._rendered)

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
        if len(self._rendered) >= self.max_answers:
            # Dicts keep insertion order: the oldest goes. Two threads may evict at once (a
            # threaded server): whoever comes second finds it gone, which is fine.
            try:
                self._rendered.pop(next(iter(self._rendered)), None)
            except (StopIteration, RuntimeError):
                pass
        self._rendered[key] = body
        return body


_current: Answers | None = None


def twiml_for(line: Line, reply: Reply, url: Callable[[Step], str], caller_id: str | None,
              media_url: Callable | None = None, host: str = "") -> str:
    """The TwiML of `reply` on `line`, as `twiml.render` would build it (`host`: the request's,
    which recordings' absolute URLs depend on)."""
    global _current
    answers = _current
    if answers is None or answers.line is not line:
        # A new line (a reload, or another app in the same process): start afresh.
        answers = _current = Answers(line)
    return answers.twiml(reply, url, caller_id, media_url, host)
