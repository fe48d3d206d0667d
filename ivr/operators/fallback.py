"""The static TwiML Twilio plays when the line itself does not answer ("Primary handler fails").

It must work with no server of ours: no <Gather>, no URL to call back. First, in every language
and its own voice, that the line has a problem and the emergency and police numbers; then the
first helpline of every language (one that answers day and night, so every caller hears a line
that answers within 30 s: `problems` checks both), then the others of each language; each read
short: name, number twice, hours. Then either a goodbye, or a transfer to the one helpline
`fallback: transfer:` names, after which the call ends.

    fallback:
      helplines:            # per language; default: the helplines with a number on the main menu
        fr: [ecoute-violences-conjugales, prevention-suicide]
      transfer: ecoute-violences-conjugales   # optional; a helpline of the default language
"""
from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path

import click
from twilio.twiml.voice_response import VoiceResponse

from ..call import speech
from ..call.twiml import say_all
from ..menus.load import MenuError, load
from ..menus.model import Helpline, Language, Line, Menu, Page
from ..menus.numbers import EMERGENCY, to_e164
from ..menus.yamlfile import Located, Place, Problem, read


class FallbackError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


def build(menus_path: str | Path, prompts_dir: str | Path | None = None, caller_id: str | None = None) -> str:
    """The fallback TwiML for these files; raises MenuError or FallbackError with every problem."""
    line = load(menus_path, prompts_dir)
    doc = read(menus_path)
    readings, transfer, problems = section(line, doc)
    problems += caller_id_problems(doc, transfer, caller_id, "error")
    if problems:
        raise FallbackError(problems)
    return render(line, readings, transfer, caller_id)


FIRST_NUMBER_WITHIN = 30  # seconds from the start of the fallback until each language's first helpline number


def problems(line: Line, doc: Located) -> list[Problem]:
    """What `ivr check` reports of the fallback: section, so that `ivr fallback` never finds an
    error the check did not (the caller ID comes from the environment: a warning here)."""
    readings, transfer, found = section(line, doc)
    found += first_number_problems(line, doc, readings)
    return found + caller_id_problems(doc, transfer, os.environ.get("IVR_TRANSFER_CALLER_ID"), "warning")


def first_numbers(line: Line, readings: dict[str, tuple[Helpline, ...]]) -> dict[str, tuple[Helpline, float]]:
    """Per language, its first helpline and the seconds until its number starts."""
    from .timing import SENTENCE_GAP_SECONDS, number_seconds, text_seconds
    from .timing import seconds as said_seconds
    out: dict[str, tuple[Helpline, float]] = {}
    elapsed = 0.0
    for item in sequence(line, readings, None):
        if isinstance(item, Helpline):
            continue
        for code, helplines in readings.items():
            if code in out or not helplines or helplines[0].number is None:
                continue
            offset = 0.0
            for part in item.parts:
                if part == helplines[0].number and item.language == code:
                    out[code] = (helplines[0], elapsed + offset)
                    break
                offset += number_seconds(part) if not isinstance(part, str) else text_seconds(part)
        elapsed += said_seconds(item) + SENTENCE_GAP_SECONDS
    return out


def first_number_problems(line: Line, doc: Located, readings: dict[str, tuple[Helpline, ...]]) -> list[Problem]:
    found = []
    starts = first_numbers(line, readings)
    for code, helplines in readings.items():
        if not helplines:
            continue
        first = helplines[0]
        where = doc.place("fallback", "helplines", code, 0) if isinstance(doc.data.get("fallback"), dict) else doc.place()
        if not first.day_and_night:
            found.append(Problem(where, f"fallback: the first {code} helpline, '{first.id}', does not answer day and night "
                                        "(opening_hours: always): put one that does first, so a caller at night hears a line that answers", "warning"))
        if code in starts and starts[code][1] > FIRST_NUMBER_WITHIN:
            found.append(Problem(where, f"fallback: the number of '{first.id}' starts {starts[code][1]:.0f} s into the fallback; "
                                        f"it should start within {FIRST_NUMBER_WITHIN} s: shorten line_down or line_down_helplines", "warning"))
    return found


def section(line: Line, doc: Located) -> tuple[dict[str, tuple[Helpline, ...]], Helpline | None, list[Problem]]:
    """The helplines each language reads and the helpline to transfer to, from menus.yaml's
    fallback: section, with every mistake in it."""
    data = doc.data.get("fallback") if isinstance(doc.data, dict) else None
    data = data or {}
    problems: list[Problem] = []

    def problem(message, *path):
        problems.append(Problem(doc.place("fallback", *path), message))

    if not isinstance(data, dict):
        problem("fallback: takes 'helplines' (per language) and 'transfer' (one helpline id)")
        data = {}
    for name in set(data) - {"helplines", "transfer"}:
        close = difflib.get_close_matches(str(name), ["helplines", "transfer"], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        problem(f"fallback: takes 'helplines' (per language) and 'transfer' (one helpline id), not '{name}'{hint}", name)
    chosen = data.get("helplines") or {}
    if not isinstance(chosen, dict):
        problem("fallback: helplines: should list helpline ids per language, like fr: [ecoute-violences-conjugales]", "helplines")
        chosen = {}
    readings: dict[str, tuple[Helpline, ...]] = {}
    for language in line.languages:
        ids = chosen.get(language.code)
        if ids is None:
            readings[language.code] = main_menu_helplines(language)
            continue
        found = []
        for i, hid in enumerate(ids if isinstance(ids, list) else [ids]):
            helpline = language.helplines.get(str(hid))
            if helpline is None:
                problem(f"fallback: '{hid}' is not a helpline of language {language.code}", "helplines", language.code, i)
            elif helpline.number is None:
                problem(f"fallback: '{hid}' has no number to say; a caller with no line to call back needs one",
                        "helplines", language.code, i)
            else:
                found.append(helpline)
        readings[language.code] = tuple(found)
    for code in chosen:
        if line.language(str(code)) is None:
            problem(f"fallback: helplines: '{code}' is not a language of the line", "helplines", code)

    transfer = None
    if data.get("transfer") is not None:
        default = line.language(line.default_language)
        transfer = default.helplines.get(str(data["transfer"]))
        if transfer is None or not transfer.transfer:
            problem(f"fallback: transfer: '{data['transfer']}' should be a helpline of {default.code} "
                    "with a transfer: number", "transfer")
            transfer = None
    return readings, transfer, problems


DOCUMENT = "fallback.xml"  # the committed document, next to menus.yaml


def document_caller_id(text: str) -> str | None:
    """The caller ID the committed document was made with (only a transfer has one): the check
    makes it again with the same, so it compares the menus, not the machine's environment."""
    import xml.etree.ElementTree as ET
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    dial = root.find("Dial")
    return dial.get("callerId") if dial is not None else None


def staleness(line: Line, doc: Located, menus_path: str | Path, document: Path) -> list[Problem]:
    """An error when the committed fallback document is not what the menus make now: the copy
    pasted into Twilio would read numbers that are no longer the line's."""
    try:
        committed = document.read_text(encoding="utf-8")
    except OSError as e:
        return [Problem(Place(str(document), 1, 1), f"{document} cannot be read ({e.strerror})")]
    readings, transfer, found = section(line, doc)
    if found:
        return []  # the fallback: section's own errors are reported already, and say more
    caller_id = document_caller_id(committed)
    if caller_id_problems(doc, transfer, caller_id, "error"):
        caller_id = None  # made before the section named a transfer: stale anyway
    now = render(line, readings, transfer, caller_id) + "\n"
    if committed == now:
        return []
    return [Problem(Place(str(document), 1, 1),
                    f"{document.name} no longer matches {Path(menus_path).name}: run `make fallback` "
                    f"(python -m ivr fallback --out {document.name}) and paste it into Twilio again")]


def caller_id_problems(doc: Located, transfer: Helpline | None, caller_id: str | None, severity: str) -> list[Problem]:
    if transfer is None or transfer.show_caller_number or caller_id:
        return []
    # Without a caller ID Twilio would show the caller's own number to the helpline.
    return [Problem(doc.place("fallback", "transfer"),
                    "fallback: transfer: needs a caller ID: set IVR_TRANSFER_CALLER_ID or use --caller-id", severity)]


def main_menu_helplines(language: Language) -> tuple[Helpline, ...]:
    """The helplines with a number on the pages right under the main menu, emergency numbers aside
    (they are said first anyway), in the order of the menu."""
    main = language.node(())
    found: list[Helpline] = []
    for option in main.options if isinstance(main, Menu) else ():
        page = language.node((option.key,))
        if isinstance(page, Page):
            for helpline in page.helplines:
                if helpline.number is not None and helpline.number.kind != EMERGENCY and helpline not in found:
                    found.append(helpline)
    return tuple(found)


def sequence(line: Line, readings: dict[str, tuple[Helpline, ...]], transfer: Helpline | None) -> list:
    """What the fallback says, in order: the emergency number in every language first, so that no
    caller waits through another language before hearing 112; then each language's helplines;
    then a goodbye, or the transfer (its number said before it rings, since nothing can be said
    after a transfer that ended well). The Transfer marker stands where the <Dial> goes."""
    said: list = []
    for language in line.languages:
        said.append(speech.sentence(language, "line_down", emergency=line.emergency_number,
                                    police=line.police_number))
    # Each language's first helpline before any language's second: no caller waits through
    # another language's list before hearing a line that answers.
    # The shortest of these first, so the language read last waits least for its line.
    from .timing import total
    firsts = [short_reading(language, readings[language.code][0], hours=False)
              for language in line.languages if readings[language.code]]
    for reading in sorted(firsts, key=total):
        said.extend(reading)
    for language in line.languages:
        if readings[language.code][1:]:
            said.append(speech.sentence(language, "line_down_helplines", police=line.police_number))
        for helpline in readings[language.code][1:]:
            said.extend(short_reading(language, helpline))
    if transfer is None:
        said.extend(speech.sentence(language, "line_down_goodbye") for language in line.languages)
        return said
    for language in line.languages:
        said.append(speech.sentence(language, "transferring"))
        said.append(speech.sentence(language, "dial_yourself", number=transfer.number))
    said.append(transfer)
    return said


def short_reading(language: Language, helpline: Helpline, hours: bool = True) -> tuple:
    """A helpline as the fallback reads it: its name, its number twice, its hours (not for the
    first, which answers day and night)."""
    said = [speech.Said(speech._end(helpline.name), language.code)]
    said.extend(speech.reaching(language, helpline))
    if hours and helpline.hours:
        said.append(speech.Said(speech._end(helpline.hours), language.code))
    return tuple(said)


def render(line: Line, readings: dict[str, tuple[Helpline, ...]], transfer: Helpline | None,
           caller_id: str | None) -> str:
    response = VoiceResponse()
    for item in sequence(line, readings, transfer):
        if isinstance(item, Helpline):
            # No action URL: when the transfer ends, Twilio goes on to the next verb, <Hangup>:
            # a caller whose call went well hears nothing more.
            dial = response.dial(timeout=line.ring_seconds,
                                 caller_id=None if item.show_caller_number else caller_id)
            dial.number(item.transfer, send_digits=item.press_after_answer)
        else:
            # Always the voice, never an operator's recording: <Play> would need our server for the file.
            say_all(line, response, (item,), media_url=None)
    response.hangup()
    return str(response)


@click.command("fallback")
@click.argument("menus", required=False, envvar="IVR_MENUS")
@click.option("--prompts", "prompts_dir", envvar="IVR_PROMPTS", help="folder of the prompts files (default: prompts/ next to MENUS)")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), help="write here instead of stdout")
@click.option("--caller-id", envvar="IVR_TRANSFER_CALLER_ID", default="",
              help="caller ID shown if the fallback transfers (default: IVR_TRANSFER_CALLER_ID)")
def fallback_command(menus, prompts_dir, out, caller_id):
    """Write the static TwiML for Twilio's "Primary handler fails" URL (see docs/operations.md)."""
    from .. import MENUS_FILE
    if caller_id and to_e164(caller_id) is None:
        raise click.UsageError(f"--caller-id {caller_id!r} is not a valid phone number (use +32...)")
    try:
        twiml = build(menus or str(MENUS_FILE), prompts_dir, to_e164(caller_id) if caller_id else None)
    except MenuError:
        raise  # a broken menu file: one sentence and status 2, as for every command
    except FallbackError as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    if out:
        try:
            with open(out, "w", encoding="utf-8") as f:
                f.write(twiml + "\n")
        except OSError as e:
            click.echo(f"cannot write {out} ({e.strerror}): choose a file in a folder that exists", err=True)
            sys.exit(2)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(twiml)
