"""How long a caller listens before help: the line's speech timed as Twilio plays it.

An estimate, counted the same way everywhere (`ivr tree --timing`, `ivr check`, the tests):
150 words a minute; half a second for each digit read out (numbers and keys); every pause the
line writes (between a number's groups); a short gap between two sentences. A caller presses a
key the moment the sentence offering it ends, so a path's time is the speech up to each offer,
then the page it leads to, up to the helpline's number.

The flow itself is run (ivr.call.flow), so what is timed is what a caller hears, at two moments that
differ most for opening hours: a weekday morning and a Sunday night. The slower one counts.
"""
from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from ..call import flow
from ..call.speech import Said
from ..call.twiml import GROUP_PAUSE_MS
from ..menus.model import BRUSSELS, Helpline, Language, Line, Menu
from ..menus.numbers import PhoneNumber
from ..menus.yamlfile import Located, Problem

WORDS_PER_MINUTE = 150
DIGIT_SECONDS = 0.5
SENTENCE_GAP_SECONDS = 0.3  # between two sentences (<Say> verbs)
MOMENTS = (  # a weekday morning, when office lines are open, and a Sunday night, when they are not
    datetime.datetime(2026, 12, 8, 10, 30, tzinfo=BRUSSELS),
    datetime.datetime(2026, 12, 6, 3, 0, tzinfo=BRUSSELS),
)
_WORD = re.compile(r"[^\W\d_]+")
_DIGIT = re.compile(r"\d")


def text_seconds(text: str) -> float:
    return len(_WORD.findall(text)) * 60 / WORDS_PER_MINUTE + len(_DIGIT.findall(text)) * DIGIT_SECONDS


def number_seconds(number: PhoneNumber) -> float:
    digits = sum(len(group) for group in number.groups)
    return digits * DIGIT_SECONDS + (len(number.groups) - 1) * GROUP_PAUSE_MS / 1000


def seconds(said: Said) -> float:
    """One sentence. A recording is timed by the text it replaces."""
    if not said.parts:
        return text_seconds(said.text)
    return sum(number_seconds(p) if isinstance(p, PhoneNumber) else text_seconds(p) for p in said.parts)


def total(said: tuple[Said, ...] | list[Said]) -> float:
    return sum(seconds(s) for s in said) + SENTENCE_GAP_SECONDS * max(len(said) - 1, 0)


def heard(reply: flow.Reply) -> tuple[Said, ...]:
    """Everything a reply says before it listens, hangs up or dials."""
    return reply.said + (reply.next.said if isinstance(reply.next, flow.Ask) else ())


def until_offer_ends(said: tuple[Said, ...], key: str) -> float | None:
    """Seconds until the end of the first sentence offering `key`; None if none offers it."""
    elapsed = 0.0
    for s in said:
        elapsed += seconds(s)
        if s.offers == key:
            return elapsed
        elapsed += SENTENCE_GAP_SECONDS
    return None


def until_number_starts(said: tuple[Said, ...], helpline: Helpline) -> float | None:
    """Seconds until the helpline's number starts (or, for one without a number, how to reach it)."""
    elapsed = 0.0
    for s in said:
        if helpline.number is not None:
            offset = 0.0
            for part in s.parts:
                if part == helpline.number:
                    return elapsed + offset
                offset += number_seconds(part) if isinstance(part, PhoneNumber) else text_seconds(part)
        elif helpline.how_to_reach and s.text.startswith(helpline.how_to_reach[:40]):
            return elapsed
        elapsed += seconds(s) + SENTENCE_GAP_SECONDS
    return None


@dataclass(frozen=True)
class Wait:
    """How long one thing takes to reach, from the start of the call, on the fastest keys."""
    language: str
    what: str  # "first topic", or a helpline's id
    label: str  # what an operator reads: the topic, or the helpline's name and number
    keys: tuple[str, ...]  # pressed after the language choice
    seconds: float
    budget: float

    @property
    def over(self) -> bool:
        return self.seconds > self.budget


def _opening(line: Line, language: Language, now: datetime.datetime) -> tuple[float, flow.Reply]:
    """Seconds until the language's key has been offered, and the reply that key brings."""
    elapsed = 0.0
    if len(line.languages) > 1:
        elapsed = until_offer_ends(heard(flow.incoming(line, now)), language.key) or 0.0
        return elapsed, flow.language_key(line, language.key, 0, now)
    return elapsed, flow.incoming(line, now, language.code)


def waits(line: Line, language: Language) -> list[Wait]:
    """The first topic, then every helpline in the order of the tree: at each moment the fastest
    page that reads it counts; of the two moments, the slower."""
    budget = line.budget
    main = language.menus[language.main_menu]
    moments = []
    for now in MOMENTS:
        found: dict[str, Wait] = {}
        start, reply = _opening(line, language, now)
        first = until_offer_ends(heard(reply), main.options[0].key) or 0.0
        found["first topic"] = Wait(language.code, "first topic", main.options[0].say, (), start + first,
                                    budget.first_topic)
        for path, page in language.pages():
            elapsed, at, current = start, (), reply
            for key in path:
                elapsed += until_offer_ends(heard(current), key) or 0.0
                current = flow.key(line, language, at, 0, key, now)
                at += (key,)
            for helpline in page.helplines:
                offset = until_number_starts(heard(current), helpline)
                if offset is None:
                    continue
                number = helpline.number.written if helpline.number else "no number"
                wait = Wait(language.code, helpline.id, f"{helpline.name} ({number})", path, elapsed + offset,
                            budget.for_number(helpline.id))
                if helpline.id not in found or wait.seconds < found[helpline.id].seconds:
                    found[helpline.id] = wait
        moments.append(found)
    return [max((m[what] for m in moments if what in m), key=lambda w: w.seconds) for what in moments[0]]


def pages(line: Line, language: Language) -> list[tuple[tuple[str, ...], str, float]]:
    """(keys, menu or page name, seconds to read it once), for every menu and page, slower moment."""
    out = {}
    for now in MOMENTS:
        def visit(at):
            node = language.node(at)
            reply = flow.node(line, language, at, 0, now)
            name = node.id if isinstance(node, Menu) else ", ".join(h.id for h in node.helplines)
            out[at] = (at, name, max(total(heard(reply)), out.get(at, ((), "", 0.0))[2]))
            if isinstance(node, Menu):
                for option in node.options:
                    visit(at + (option.key,))
        visit(())
    return list(out.values())


def problems(line: Line, doc: Located) -> list[Problem]:
    """Warnings for what goes over the budget in menus.yaml's timing:, each at the place to shorten."""
    found = []
    for language in line.languages:
        code = language.code
        for wait in waits(line, language):
            if not wait.over:
                continue
            if wait.what == "first topic":
                place = doc.place(code, "menus", language.main_menu)
                found.append(Problem(place, f"[{code}] the main menu's first topic is offered {wait.seconds:.0f} s after the call starts; the budget is {wait.budget:.0f} s (timing: first_topic_within): shorten the safety message or the menu's intro", "warning"))
            else:
                place = doc.place(code, "helplines", wait.what)
                keys = " then ".join(wait.keys)
                found.append(Problem(place, f"[{code}] the number of helpline '{wait.what}' starts {wait.seconds:.0f} s after the call starts (keys {keys}); the budget is {wait.budget:.0f} s: say less before it, or move it up the menu", "warning"))
        for at, name, secs in pages(line, language):
            if secs > line.budget.page:
                node = language.node(at)
                place = doc.place(code, "menus", node.id) if isinstance(node, Menu) else doc.place(code, "helplines", node.helplines[0].id)
                found.append(Problem(place, f"[{code}] '{name}' takes {secs:.0f} s to read once; the budget for one page is {line.budget.page:.0f} s (timing: page_within)", "warning"))
    return found


def report(line: Line, code: str | None = None) -> str:
    """The table `ivr tree --timing` prints."""
    out = [f"Seconds of speech from the start of the call, on the fastest keys ({WORDS_PER_MINUTE} words a minute, "
           f"{DIGIT_SECONDS} s a digit, the pauses; the slower of a weekday morning and a Sunday night)."]
    for language in line.languages:
        if code and language.code != code:
            continue
        out.append("")
        out.append(f"[{language.code}] key {language.key} at the language choice")
        all_waits = waits(line, language)
        for wait in all_waits:
            keys = " ".join(wait.keys) if wait.keys else "-"
            flag = "  OVER BUDGET" if wait.over else ""
            what = "first topic: " + wait.label if wait.what == "first topic" else wait.label
            out.append(f"  {wait.seconds:5.1f} s  (budget {wait.budget:3.0f})  keys {keys:<6} {what}{flag}")
        numbers = [w for w in all_waits if w.what != "first topic"]
        if numbers:
            slowest = max(numbers, key=lambda w: w.seconds)
            out.append(f"  slowest number: {slowest.label}, {slowest.seconds:.1f} s")
    return "\n".join(out) + "\n"
