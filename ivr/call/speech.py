"""What the line says: sentences built from the prompts and the menu model, per language.

Nothing here knows about Twilio or HTTP: a sentence is text in one language, and `ivr.call.twiml`
gives it a voice. The phone numbers in a sentence stay numbers (`Said.parts`), so the voice can
read them digit by digit in their Belgian groups; `Said.text` spells them out ("0 8 0 0, 3 0,
0 3 0") for testers and logs of what was said.
"""
from __future__ import annotations

import datetime
import functools
import string
from dataclasses import dataclass

from ..menus.model import Helpline, Language, Line, Menu, Page, Recording
from ..menus.numbers import FULL, PhoneNumber, spoken

OTHER_NUMBERS_KEY = "1"  # after a short transfer: the one key that reads other numbers


@dataclass(frozen=True)
class Said:
    text: str  # as a tester reads it, numbers spelled digit by digit
    language: str  # a language code of the line: "fr", "nl"
    recording: Recording | None = None  # played instead of speaking the text, where an operator recorded it
    parts: tuple[str | PhoneNumber, ...] = ()  # the text cut around its phone numbers; () when it has none
    offers: str | None = None  # the key this sentence offers the caller ("..., appuyez sur 2.")


def key_name(language: Language, key: str) -> str:
    if key == "*":
        return language.prompts["key_star"]
    if key == "#":
        return language.prompts["key_hash"]
    return key


@functools.lru_cache(maxsize=1024)
def _template(text: str) -> tuple[tuple[str, str | None], ...]:
    """A prompt cut into (literal text, blank or None); prompts are few, and read on every webhook."""
    return tuple((literal, blank) for literal, blank, _, _ in string.Formatter().parse(text))


def sentence(language: Language, prompt: str, offers: str | None = None, **blanks: str | PhoneNumber) -> Said:
    parts: list[str | PhoneNumber] = []
    for literal, blank in _template(language.prompts[prompt]):
        parts.append(literal)
        if blank is not None:
            value = blanks[blank]
            parts.append(value if isinstance(value, PhoneNumber) else str(value))
    return said_with_numbers(parts, language.code, language.recordings.get(prompt), offers)


def said_with_numbers(parts, language_code: str, recording: Recording | None = None,
                      offers: str | None = None) -> Said:
    merged: list[str | PhoneNumber] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    text = "".join(spoken(p) if isinstance(p, PhoneNumber) else p for p in merged)
    has_number = any(isinstance(p, PhoneNumber) for p in merged)
    return Said(text, language_code, recording, tuple(merged) if has_number else (), offers)


def numbers_in(said: Said) -> tuple[PhoneNumber, ...]:
    return tuple(p for p in said.parts if isinstance(p, PhoneNumber))


def language_choice(line: Line) -> tuple[Said, ...]:
    """Each language offers itself, in its own voice."""
    return tuple(sentence(lang, "language_choice", offers=lang.key, key=key_name(lang, lang.key))
                 for lang in line.languages)


def safety(line: Line, language: Language) -> tuple[Said, ...]:
    """Said once per call, before any menu: danger first, and the key that ends the call."""
    return (sentence(
        language, "safety",
        emergency=line.emergency_number,
        police=line.police_number,
        quick_exit=key_name(language, line.keys.quick_exit),
    ),)


def other_languages(line: Line, language: Language) -> tuple[Said, ...]:
    """The way to another language, said in that language so its speakers recognise it."""
    key = line.keys.change_language
    return tuple(sentence(other, "language_choice", offers=key, key=key_name(other, key))
                 for other in line.languages if other.code != language.code)


def menu(line: Line, language: Language, node: Menu) -> tuple[Said, ...]:
    """The options first, each description then key; how to hear them again after them."""
    said = [Said(node.intro, language.code)] if node.intro else []
    for option in node.options:
        said.append(sentence(language, "option", offers=option.key, what=option.say,
                             key=key_name(language, option.key)))
    keys = line.keys
    said.append(sentence(
        language, "keys_help" if node.id == language.main_menu else "submenu_help",
        repeat=key_name(language, keys.repeat),
        back=key_name(language, keys.back),
        main_menu=key_name(language, keys.main_menu),
    ))
    return tuple(said)


def page(line: Line, language: Language, node: Page, at: tuple[str, ...], now: datetime.datetime) -> tuple[Said, ...]:
    """The page's helplines in their order, each closed one after an open line named for it (its
    number, and its transfer where it has one; once per page), then the call-history reminder and
    the keys."""
    transfer_keys = {h.id: key for key, h in node.transfers()}
    said: list[Said] = []
    read: set[str] = set()
    for helpline in node.helplines:
        if helpline.id in read:  # named already, as the open line for a closed one
            continue
        is_open = helpline.open_at(now)
        if is_open is False:
            other = language.alternative_to(helpline, at, now)
            if other is not None and other.id not in read:
                said.extend(alternative_reading(language, other, transfer_keys.get(other.id)))
                read.add(other.id)
        # A closed line is not offered for transfer: its number is read, for later.
        key = None if is_open is False else transfer_keys.get(helpline.id)
        said.extend(helpline_reading(language, helpline, key, is_open, now))
        read.add(helpline.id)
    said.append(sentence(language, "call_history"))
    said.append(page_help(line, language))
    return tuple(said)


def page_help(line: Line, language: Language) -> Said:
    keys = line.keys
    return sentence(
        language, "page_help",
        repeat=key_name(language, keys.repeat),
        back=key_name(language, keys.back),
        main_menu=key_name(language, keys.main_menu),
    )


def helpline_reading(language: Language, helpline: Helpline, transfer_key: str | None,
                     is_open: bool | None = None, now: datetime.datetime | None = None) -> tuple[Said, ...]:
    """As a volunteer would say it, the number early: who and what, the number twice, the key to
    press in its own switchboard, the hours and whether it is open (before any transfer offer, so a
    caller who presses at once has heard them), the key to be put through, then free or anonymous,
    and anything more."""
    recording = language.recordings.get(helpline.id)
    facts = [fact for fact in (helpline.name, helpline.about) if fact]
    if recording:
        said = [Said(" ".join(_end(fact) for fact in facts), language.code, recording)]
    else:
        said = [Said(_end(fact), language.code) for fact in facts]
    said.extend(reaching(language, helpline))
    if helpline.if_asked_to_choose:
        said.append(sentence(language, "if_asked_to_choose", key=key_name(language, helpline.if_asked_to_choose)))
    if helpline.hours:
        said.append(Said(_end(helpline.hours), language.code))
    if is_open is False:
        said.append(sentence(language, "closed_now"))
    elif is_open and not helpline.day_and_night:
        said.append(sentence(language, "open_now"))
    if transfer_key:
        said.append(sentence(language, "transfer_offer", offers=transfer_key, key=key_name(language, transfer_key)))
    if is_open is None and now is not None:
        # Hours no source confirms: name a line that is open now, in case nobody answers.
        other = language.open_elsewhere(helpline, now)
        if other is not None and other.number is not None:
            said.append(sentence(language, "if_no_answer", name=other.name, number=other.number))
    if helpline.free and helpline.anonymous:
        said.append(sentence(language, "free_and_anonymous"))
    elif helpline.free:
        said.append(sentence(language, "free"))
    elif helpline.anonymous:
        said.append(sentence(language, "anonymous"))
    if helpline.more:
        said.append(Said(_end(helpline.more), language.code))
    return tuple(said)


def alternative_reading(language: Language, other: Helpline, transfer_key: str | None) -> tuple[Said, ...]:
    """An open line, named before a closed one: its name, how to reach it, its transfer where it has one."""
    said = (sentence(language, "open_alternative", name=other.name),) + reaching(language, other)
    if other.if_asked_to_choose:
        said += (sentence(language, "if_asked_to_choose", key=key_name(language, other.if_asked_to_choose)),)
    if transfer_key:
        said += (sentence(language, "transfer_offer", offers=transfer_key, key=key_name(language, transfer_key)),)
    return said


def alternative(language: Language, helpline: Helpline, at: tuple[str, ...], now: datetime.datetime) -> tuple[Said, ...]:
    """An open line to name while `helpline` is closed, without a transfer offer (said after a key
    pressed for the closed line; the page itself offers the open line's transfer)."""
    other = language.alternative_to(helpline, at, now)
    if other is None:
        return ()
    return alternative_reading(language, other, None)


def day_and_night(language: Language, helpline: Helpline, at: tuple[str, ...]) -> Said | None:
    """After a transfer that did not go through: a line that answers at every hour."""
    other = language.day_and_night_line(helpline, at)
    if other is None:
        return None
    return sentence(language, "day_and_night", name=other.name, number=other.number)


def reaching(language: Language, helpline: Helpline) -> tuple[Said, ...]:
    """How to get through: the number twice (hang up and dial it, if it is short), or how_to_reach."""
    said = []
    if helpline.number is not None:
        prompt = "number_to_call" if helpline.number.kind == FULL else "hang_up_and_dial"
        said.append(sentence(language, prompt, number=helpline.number))
    if helpline.how_to_reach:
        said.append(Said(_end(helpline.how_to_reach), language.code))
    return tuple(said)


def dial_yourself(language: Language, helpline: Helpline) -> Said | None:
    if helpline.number is None:
        return None
    return sentence(language, "dial_yourself", number=helpline.number)


def _end(text: str) -> str:
    """A fact read on its own needs a full stop, or the voice runs it into the next one."""
    return text if text[-1] in ".!?…" else text + "."
