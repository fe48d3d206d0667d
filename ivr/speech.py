"""What the line says: sentences built from the prompts and the menu model, per language.

Nothing here knows about Twilio or HTTP: a sentence is plain text in one language, and
`ivr.twiml` gives it a voice. Phone numbers are spelled digit by digit in their Belgian groups
(see `ivr.numbers.spoken`), so testers can read them in the TwiML too.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass

from .model import Helpline, Language, Line, Menu, Page, Recording
from .numbers import FULL, spoken


@dataclass(frozen=True)
class Said:
    text: str
    language: str  # a language code of the line: "fr", "nl"
    recording: Recording | None = None  # played instead of speaking the text, where an operator recorded it


def key_name(language: Language, key: str) -> str:
    if key == "*":
        return language.prompts["key_star"]
    if key == "#":
        return language.prompts["key_hash"]
    return key


def sentence(language: Language, prompt: str, **blanks: str) -> Said:
    return Said(language.prompts[prompt].format(**blanks), language.code, language.recordings.get(prompt))


def language_choice(line: Line) -> tuple[Said, ...]:
    """Each language offers itself, in its own voice."""
    return tuple(sentence(lang, "language_choice", key=key_name(lang, lang.key)) for lang in line.languages)


def safety(line: Line, language: Language) -> tuple[Said, ...]:
    """Said once per call, before any menu: danger first, then how this line keeps callers safe."""
    keys = line.keys
    said = [
        sentence(
            language, "safety",
            emergency=spoken(line.emergency_number),
            police=spoken(line.police_number),
            quick_exit=key_name(language, keys.quick_exit),
        ),
        sentence(
            language, "keys_help",
            repeat=key_name(language, keys.repeat),
            back=key_name(language, keys.back),
            main_menu=key_name(language, keys.main_menu),
        ),
    ]
    # The way to another language is said in that language, so its speakers recognise it.
    for other in line.languages:
        if other.code != language.code:
            said.append(sentence(other, "language_choice", key=key_name(other, keys.change_language)))
    return tuple(said)


def menu(language: Language, node: Menu) -> tuple[Said, ...]:
    said = [Said(node.intro, language.code)] if node.intro else []
    for option in node.options:
        said.append(sentence(language, "option", what=option.say, key=key_name(language, option.key)))
    return tuple(said)


def page(line: Line, language: Language, node: Page, at: tuple[str, ...], now: datetime.datetime) -> tuple[Said, ...]:
    transfer_keys = {h.id: key for key, h in node.transfers()}
    said: list[Said] = []
    for helpline in node.helplines:
        is_open = helpline.open_at(now)
        # A closed line is not offered for transfer; the caller hears an open one instead.
        said.extend(helpline_reading(language, helpline, None if is_open is False else transfer_keys.get(helpline.id), is_open))
        if is_open is False:
            said.extend(alternative(language, helpline, at, now))
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
                     is_open: bool | None = None) -> tuple[Said, ...]:
    """As a volunteer would say it: who, what, when, free or anonymous, then the number twice."""
    recording = language.recordings.get(helpline.id)
    description = " ".join(_end(fact) for fact in (helpline.name, helpline.about, helpline.hours) if fact)
    if recording:
        said = [Said(description, language.code, recording)]
    else:
        said = [Said(_end(fact), language.code) for fact in (helpline.name, helpline.about, helpline.hours) if fact]
    if is_open is not None and not helpline.opening_hours.always:
        said.append(sentence(language, "open_now" if is_open else "closed_now"))
    if helpline.free and helpline.anonymous:
        said.append(sentence(language, "free_and_anonymous"))
    elif helpline.free:
        said.append(sentence(language, "free"))
    elif helpline.anonymous:
        said.append(sentence(language, "anonymous"))
    said.extend(reaching(language, helpline))
    if transfer_key:
        said.append(sentence(language, "transfer_offer", name=helpline.name, key=key_name(language, transfer_key)))
    return tuple(said)


def alternative(language: Language, helpline: Helpline, at: tuple[str, ...], now: datetime.datetime) -> tuple[Said, ...]:
    other = language.alternative_to(helpline, at, now)
    if other is None:
        return ()
    return (sentence(language, "open_alternative", name=other.name),) + reaching(language, other)


def reaching(language: Language, helpline: Helpline) -> tuple[Said, ...]:
    """How to get through: the number twice (hang up and dial it, if it is short), or how_to_reach."""
    said = []
    if helpline.number is not None:
        prompt = "number_to_call" if helpline.number.kind == FULL else "hang_up_and_dial"
        said.append(sentence(language, prompt, number=spoken(helpline.number)))
    if helpline.how_to_reach:
        said.append(Said(_end(helpline.how_to_reach), language.code))
    return tuple(said)


def dial_yourself(language: Language, helpline: Helpline) -> Said | None:
    if helpline.number is None:
        return None
    return sentence(language, "dial_yourself", number=spoken(helpline.number))


def _end(text: str) -> str:
    """A fact read on its own needs a full stop, or the voice runs it into the next one."""
    return text if text[-1] in ".!?…" else text + "."
