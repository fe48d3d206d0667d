"""The checked, immutable menu model: what the line knows, and nothing about Flask or Twilio.

`ivr.menus.load` builds it from menus.yaml and prompts/*.yaml; `ivr.call.flow` walks it during a call.
A caller's place in the tree is the path of keys they pressed from the main menu ("3", "3.1"):
it travels in the URL Twilio calls back, so any worker can answer any step.
"""
from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping
from zoneinfo import ZoneInfo

from .numbers import EMERGENCY, PhoneNumber

# Every fixed sentence a language must provide, with the blanks each may use. The loader refuses
# a prompts file that lacks one or uses a blank that is not listed.
PROMPTS: Mapping[str, frozenset[str]] = MappingProxyType({
    "language_choice": frozenset({"key"}),  # said in its own voice: "Pour le français, appuyez sur 1."
    # Said first, right after the language choice: short, because every second before help counts.
    "safety": frozenset({"emergency", "police", "quick_exit"}),
    # Said after a menu's options, never before them.
    "keys_help": frozenset({"repeat", "back", "main_menu"}),
    # After a submenu's options: repeat, and the way back (the main menu says only keys_help).
    "submenu_help": frozenset({"repeat", "back", "main_menu"}),
    "option": frozenset({"what", "key"}),
    "not_an_option": frozenset(),
    "silence_goodbye": frozenset({"emergency"}),
    "quick_exit_message": frozenset(),
    "free_and_anonymous": frozenset(),
    "free": frozenset(),
    "anonymous": frozenset(),
    "number_to_call": frozenset({"number"}),
    "hang_up_and_dial": frozenset({"number"}),
    # Sentences about a transfer never name the service: someone in the room may hear them.
    "transfer_offer": frozenset({"key"}),
    "if_no_answer": frozenset({"name", "number"}),  # a line whose hours are not confirmed: the open one to call
    "if_asked_to_choose": frozenset({"key"}),  # a switchboard's menu: the key that reaches the helpline
    "call_history": frozenset(),  # at the end of a page of helplines
    "page_help": frozenset({"repeat", "back", "main_menu"}),
    "transferring": frozenset(),
    "transfer_busy": frozenset(),
    "transfer_no_answer": frozenset(),
    "transfer_failed": frozenset(),
    "transfer_ended": frozenset(),  # then the line hangs up
    "dial_yourself": frozenset({"number"}),
    "after_transfer": frozenset({"key", "main_menu"}),
    # After a failed transfer, before the retry: a line that answers day and night.
    "day_and_night": frozenset({"name", "number"}),
    # A transfer that ended after only a few seconds may have reached an answering machine:
    # one neutral sentence, then once, one key to hear other numbers, then the goodbye.
    "short_transfer_ended": frozenset(),
    "other_numbers_offer": frozenset({"key"}),
    "menu_changed": frozenset(),
    "technical_problem": frozenset({"emergency"}),
    "open_now": frozenset(),
    "closed_now": frozenset(),
    "open_alternative": frozenset({"name"}),
    "key_star": frozenset(),
    "key_hash": frozenset(),
    # The static fallback document (`python -m ivr fallback`), played when the line itself is down:
    # first line_down in every language, then each language's helplines after line_down_helplines.
    "line_down": frozenset({"emergency", "police"}),
    "line_down_helplines": frozenset({"police"}),
    "line_down_goodbye": frozenset(),
})


# Fixed sentences an operator may replace by a recording: those that are the same every time
# they are said (their blanks are the line's fixed numbers and keys). A helpline's recording
# replaces its name and description; its number is always read from menus.yaml, so a
# recording can never give a caller an outdated number.
RECORDABLE_PROMPTS = frozenset({
    "safety", "keys_help", "submenu_help", "page_help", "not_an_option", "silence_goodbye", "quick_exit_message",
    "free_and_anonymous", "free", "anonymous", "menu_changed", "technical_problem", "open_now",
    "closed_now", "call_history", "transferring", "transfer_busy", "transfer_no_answer", "transfer_failed",
    "transfer_ended", "short_transfer_ended",
})
AUDIO_TYPES = {".mp3": "audio/mpeg", ".wav": "audio/wav"}  # what Twilio's <Play> accepts and we serve


@dataclass(frozen=True, slots=True)
class Recording:
    file: str  # the file name under prompts/<language>/
    version: str  # a hash of its content, so caches fetch a replaced file again


@dataclass(frozen=True, slots=True)
class Keys:
    """Keys that do the same thing on every menu of every language."""
    repeat: str
    back: str
    main_menu: str
    change_language: str
    quick_exit: str

    def all(self) -> dict[str, str]:
        return {
            "repeat": self.repeat,
            "back": self.back,
            "main_menu": self.main_menu,
            "change_language": self.change_language,
            "quick_exit": self.quick_exit,
        }


BRUSSELS = ZoneInfo("Europe/Brussels")


@functools.cache
def public_holidays():
    """Belgium's public holidays, from the maintained `holidays` package rather than a list kept by
    hand; it works each year out the first time a date of that year is asked about. Imported at
    the first question: the package loads its 250 countries (0.2 s of CPU, a third of a command's
    start), which a command that never asks does without. The line asks as it starts (create_app),
    so that no caller waits for it."""
    import holidays
    return holidays.country_holidays("BE")


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """When a helpline answers, in Brussels time. A range may run past midnight (22:00-02:00);
    a closed date closes that whole calendar day: the end of the night before, and the night
    that would start on it."""
    always: bool
    weekly: tuple[tuple[int, int, int], ...] = ()  # (weekday, Monday = 0; start; end) in minutes
    closed: frozenset[datetime.date] = frozenset()
    closed_on_public_holidays: bool = False

    def is_open(self, now: datetime.datetime) -> bool:
        if self.always:
            return True
        local = now.astimezone(BRUSSELS) if now.tzinfo else now
        if self.closed_on(local.date()):
            return False
        minute = local.hour * 60 + local.minute
        today = local.weekday()
        yesterday = (today - 1) % 7
        for day, start, end in self.weekly:
            if day == today and start <= minute < end:
                return True
            if day == yesterday and end > 1440 and minute < end - 1440 \
                    and not self.closed_on(local.date() - datetime.timedelta(days=1)):
                return True
        return False

    def closed_on(self, day: datetime.date) -> bool:
        return day in self.closed or (self.closed_on_public_holidays and day in public_holidays())


@dataclass(frozen=True, slots=True)
class Helpline:
    id: str
    name: str
    about: str | None
    hours: str | None
    free: bool
    anonymous: bool
    number: PhoneNumber | None  # None: reached another way, see how_to_reach
    transfer: str | None  # E.164; only set for a full number the line may put callers through to
    how_to_reach: str | None
    show_caller_number: bool  # transfer with the caller's own number as caller ID (off by default)
    source: str | None
    checked: datetime.date | None
    opening_hours: OpeningHours | None = None  # None: not confirmed, so never claimed
    # The widest hours any source gives, where the exact ones are unsettled: outside them the line
    # is certainly closed (nights, weekends, public holidays). Never said aloud.
    may_be_open: OpeningHours | None = None
    if_asked_to_choose: str | None = None  # the key a caller presses in the helpline's own switchboard menu
    if_closed: tuple[str, ...] = ()  # helplines to name instead while this one is closed (or may be)
    press_after_answer: str | None = None  # keys Twilio sends once the transfer is answered (a switchboard's choice)
    more: str | None = None  # said after the number and the hours: a chat, a website

    def open_at(self, now: datetime.datetime) -> bool | None:
        """True or False when the hours are known; False outside `may_be_open`; None otherwise."""
        if self.opening_hours is not None:
            return self.opening_hours.is_open(now)
        if self.may_be_open is not None and not self.may_be_open.is_open(now):
            return False
        return None

    @property
    def day_and_night(self) -> bool:
        """A source confirms it answers at every hour."""
        return self.opening_hours is not None and self.opening_hours.always


@dataclass(frozen=True, slots=True)
class Option:
    key: str
    say: str  # the description said before the key: "pour les violences dans le couple"
    menu: str | None  # leads to this menu...
    helplines: tuple[str, ...]  # ...or reads these helplines, one after the other


@dataclass(frozen=True, slots=True)
class Menu:
    id: str
    intro: str | None
    options: tuple[Option, ...]

    def option(self, key: str) -> Option | None:
        for option in self.options:
            if option.key == key:
                return option
        return None


@dataclass(frozen=True, slots=True)
class Page:
    """What a caller hears after choosing an option that lists helplines."""
    option: Option
    helplines: tuple[Helpline, ...]
    # Lines named in the page's if_closed that are not on the page: read while one of the page's
    # lines is closed, and put through to with the keys after the page's own.
    alternatives: tuple[Helpline, ...] = ()

    def transfers(self) -> tuple[tuple[str, Helpline], ...]:
        """(key, helpline) for each helpline the caller can be put through to: 1, 2, ... The keys
        never depend on the hour, so a key pressed just after a minute turned means the same line."""
        lines = [h for h in self.helplines + self.alternatives if h.transfer]
        return tuple((str(i), h) for i, h in enumerate(lines, start=1))


@dataclass(frozen=True, slots=True)
class Language:
    code: str  # "fr"
    key: str  # the key that picks it at the start of a call
    voice: str  # "Polly.Isabelle-Neural"
    speech_language: str  # "fr-BE"
    prompts: Mapping[str, str]
    main_menu: str
    menus: Mapping[str, Menu]
    helplines: Mapping[str, Helpline]
    recordings: Mapping[str, Recording] = field(default_factory=lambda: MappingProxyType({}))  # by prompt or helpline

    def pages(self) -> tuple[tuple[tuple[str, ...], Page], ...]:
        """Every (key path, page) a caller can reach, walking from the main menu in key order."""
        found = []

        def visit(path):
            node = self.node(path)
            if isinstance(node, Menu):
                for option in node.options:
                    visit(path + (option.key,))
            else:
                found.append((path, node))

        visit(())
        return tuple(found)

    def _near(self, helpline: Helpline, at: tuple[str, ...]) -> list[Helpline]:
        """The lines to offer instead of `helpline`, nearest first: the operator's if_closed, then
        the lines of the same page, then those of the pages of the same menu."""
        candidates = [self.helplines[h] for h in helpline.if_closed if h in self.helplines]
        page = self.node(at)
        if isinstance(page, Page):
            candidates += page.helplines
        menu = self.node(at[:-1]) if at else None
        if isinstance(menu, Menu):
            for option in menu.options:
                candidates += [self.helplines[h] for h in option.helplines if h in self.helplines]
        return candidates

    def alternative_to(self, helpline: Helpline, at: tuple[str, ...], now: datetime.datetime) -> Helpline | None:
        """An open helpline to name while `helpline` is closed: the operator's choice
        (if_closed) first, then one from the same page, then from the same menu."""
        for candidate in self._near(helpline, at):
            if candidate.id != helpline.id and candidate.open_at(now) and (candidate.number or candidate.how_to_reach):
                return candidate
        return None

    def day_and_night_line(self, helpline: Helpline, at: tuple[str, ...]) -> Helpline | None:
        """A line a source confirms answers at every hour, with a number, other than `helpline`:
        from its if_closed, then the same page, the same menu, then the whole language."""
        for candidate in self._near(helpline, at) + list(self.helplines.values()):
            if candidate.id != helpline.id and candidate.day_and_night and candidate.number is not None \
                    and candidate.number.kind != EMERGENCY:
                return candidate
        return None

    def open_elsewhere(self, helpline: Helpline, now: datetime.datetime) -> Helpline | None:
        """The first line of `helpline`'s if_closed whose hours say it is open now."""
        for other_id in helpline.if_closed:
            other = self.helplines.get(other_id)
            if other is not None and other.open_at(now) and (other.number or other.how_to_reach):
                return other
        return None

    def node_id(self, path: tuple[str, ...]) -> str | None:
        """What is at `path`: a menu's name, or the helplines of a page ("urgence-medicale,police").
        Travels in the URL with the path, so a caller whose keys now lead somewhere else after
        an operator renumbered a menu is told so, never put through to another helpline."""
        node = self.node(path)
        if isinstance(node, Menu):
            return node.id
        if isinstance(node, Page):
            return ",".join(h.id for h in node.helplines)
        return None

    def node(self, path: tuple[str, ...]) -> Menu | Page | None:
        """The menu or page reached by pressing `path` from the main menu, or None."""
        node: Menu | Page = self.menus[self.main_menu]
        for key in path:
            if not isinstance(node, Menu):
                return None
            option = node.option(key)
            if option is None:
                return None
            if option.menu:
                node = self.menus[option.menu]
            else:
                lines = tuple(self.helplines[h] for h in option.helplines)
                others = []
                for line in lines:
                    for other in line.if_closed:
                        if other in self.helplines and other not in option.helplines and self.helplines[other] not in others:
                            others.append(self.helplines[other])
                node = Page(option, lines, tuple(others))
        return node


@dataclass(frozen=True, slots=True)
class Budget:
    """Seconds of speech a caller may wait, from the start of the call, on the fastest path."""
    first_topic: float = 20  # until the main menu's first topic has been offered
    numbers: float = 60  # until any helpline's number starts
    sooner: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))  # per helpline id
    page: float = 45  # one menu or page read through once

    def for_number(self, helpline_id: str) -> float:
        return self.sooner.get(helpline_id, self.numbers)


@dataclass(frozen=True, slots=True)
class Line:
    languages: tuple[Language, ...]  # in the order the language choice says them
    default_language: str
    keys: Keys
    emergency_number: PhoneNumber
    police_number: PhoneNumber
    listen_seconds: int  # how long the line waits for a key before counting silence
    silences_before_goodbye: int
    ring_seconds: int  # how long a transfer rings before the caller hears it did not answer
    version: str  # a short hash of the files this was loaded from
    budget: Budget = field(default_factory=Budget)  # how long a caller may wait for help, checked by `ivr check` (ivr.operators.timing)
    # A transfer Twilio reports completed after fewer seconds than this may have reached a machine.
    short_transfer_seconds: int = 45

    def language(self, code: str | None) -> Language | None:
        for language in self.languages:
            if language.code == code:
                return language
        return None

    def language_by_key(self, key: str) -> Language | None:
        for language in self.languages:
            if language.key == key:
                return language
        return None
