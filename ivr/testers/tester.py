"""Testers' commands: `call` (a phone in the terminal) and `replay` (recorded calls as tests).

Both run the line through `ivr.testers.phone`, the one implementation of Twilio's behaviour in the
project; see docs/testing.md.
"""
from __future__ import annotations

import datetime
import os
import secrets
import sys
import urllib.error
import urllib.parse
import uuid

import click

from ..menus.load import KEYPAD
from ..menus.model import BRUSSELS
from ..menus.numbers import to_e164
from . import fixtures, phone

# The tester's word for how a transfer ends -> the DialCallStatus Twilio would send.
DIAL_STATUS_FOR = {"answered": "completed", "completed": "completed", "busy": "busy",
            "no-answer": "no-answer", "failed": "failed", "canceled": "canceled"}
SILENCE = {"", "-", "silence"}


class Unreachable(Exception):
    """A running line (--url) that cannot be called: the message says what to do, in one sentence."""


class _Remote(phone.HttpTransport):
    """A running line over HTTP, whose failures to answer at all are told as what to do."""

    def __init__(self, url: str):
        self.url = url

    def post(self, url, params, headers):
        try:
            status, body = super().post(url, params, headers)
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            why = getattr(reason, "strerror", None) or str(reason)
            raise Unreachable(f"cannot reach the line at {self.url} ({why}): is it running there? "
                              "(`make run` serves it on http://127.0.0.1:5000)") from None
        if status == 403:
            raise Unreachable(f"the line at {self.url} refused the call's signature (403): set TWILIO_AUTH_TOKEN "
                              "to the line's auth token, or call a `make run` line, which checks none, without it")
        return status, body


def _in_process(record: bool):
    """The app, in this process, signed with a throwaway token."""
    from .. import create_app
    token = secrets.token_hex(16)
    config = {"TWILIO_AUTH_TOKEN": token, "ALLOW_UNSIGNED": False, "TRUSTED_PROXIES": "0",
              "TRANSFER_CALLER_ID": os.environ.get("IVR_TRANSFER_CALLER_ID") or phone.TRANSFER_CALLER_ID}
    if not record:
        config["RECORD_DIR"] = ""
    # The webhook log lines (JSON, on stdout) would drown what the caller hears.
    config["WEBHOOK_LOG"] = False
    app = create_app(config)
    # The command's app lives as long as the command: its menu watcher stops with it.
    click.get_current_context().call_on_close(app.extensions["ivr"].close)
    return phone.FlaskTransport(app.test_client()), fixtures.BASE_URL, token, app


def clock_setter(app):
    """Sets the in-process line's clock to a fixture's time; None puts the real clock back."""
    real = app.config["CLOCK"]

    def set_clock(when):
        app.config["CLOCK"] = real if when is None else (lambda: when)
    return set_clock


def _load_here():
    """The line of the menu files here (IVR_MENUS, IVR_PROMPTS), for what a running line offers."""
    from .. import MENUS_FILE, PROMPTS_DIR
    from ..menus.load import load
    return load(os.environ.get("IVR_MENUS", str(MENUS_FILE)), os.environ.get("IVR_PROMPTS", str(PROMPTS_DIR)))


def _languages(line):
    """Language codes in the order the language choice offers them (key 1, 2...)."""
    return [language.code for language in (line or _load_here()).languages]


def _http_url(value: str | None) -> str | None:
    """--url: a running line's address, http:// or https://."""
    if value is not None and not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"{value!r} is not a line's address: write it as http://127.0.0.1:5000", param_hint="--url")
    return value


@click.command("call")
@click.option("--url", callback=lambda ctx, param, value: _http_url(value),
              help="call a running line (e.g. http://127.0.0.1:5000) instead of one in this process; "
                   "requests are signed with TWILIO_AUTH_TOKEN when it is set")
@click.option("--lang", help="answer the language choice with this language (fr, nl...)")
@click.option("--to", "to_number", default=phone.LINE_NUMBER, show_default=True, help="the number called (Twilio's To)")
@click.option("--keys", help="a scripted call, no prompts: comma-separated keys, 'silence', a transfer "
                             "outcome (answered, busy, no-answer, failed) or 'hangup'; e.g. 1,2,1,busy,0")
@click.option("--transcript", "transcript_file", type=click.Path(dir_okay=False),
              help="also write the transcript to this file")
@click.option("--clock", help="call at this Brussels time, e.g. 2026-12-24T23:00 (opening hours, holidays); "
                              "not with --url: a running line keeps its own clock")
def call_command(url, lang, to_number, keys, transcript_file, clock):
    """Call the line from the terminal and hear what a caller hears."""
    line_number = to_e164(to_number)
    if line_number is None:
        raise click.BadParameter(f"{to_number!r} is not a phone number", param_hint="--to")
    when = _brussels_time(clock) if clock else None
    if url:
        if when is not None:
            click.echo(f"--clock cannot set the clock of the line running at {url}; call without --url to "
                       "hear the line at another hour", err=True)
            sys.exit(2)
        transport, base_url, token, line = _Remote(url), url.rstrip("/"), os.environ.get("TWILIO_AUTH_TOKEN"), None
    else:
        transport, base_url, token, app = _in_process(record=True)
        line = app.extensions["ivr"].line
        if when is not None:
            clock_setter(app)(when)
    refused = _refused_transfer_texts(line)
    language_key = None
    if lang:
        codes = _languages(line)
        if lang not in codes:
            raise click.BadParameter(f"the line offers {', '.join(codes)}", param_hint="--lang")
        language_key = str(codes.index(lang) + 1)

    # A fresh fake CallSid per call, as Twilio gives: recordings of two calls stay apart.
    the_call = phone.Call(transport, base_url, token,
                          phone.twilio_params(line_number=line_number, call_sid="CA" + uuid.uuid4().hex))
    live = keys is None
    shown = 0

    def show():
        nonlocal shown
        if live:
            for text in the_call.transcript[shown:]:
                click.echo(text)
        shown = len(the_call.transcript)

    status = 0
    try:
        the_call.start()
        gather_action = urllib.parse.urlsplit(the_call.listening.get("action", "")).path
        if language_key and gather_action.startswith("/voice/language"):
            the_call.press(language_key)
        if live:
            _interactive(the_call, show, refused)
        else:
            status = play_script(the_call, keys.split(","), refused)
    except phone.LineError as e:
        click.echo(f"line error: {e}", err=True)
        status = 1
    except (KeyboardInterrupt, click.Abort):  # Ctrl-C: the caller hangs up
        the_call.hang_up()
    show()
    text = "\n".join(the_call.transcript) + "\n"
    click.echo("--- transcript ---\n" + text, nl=False)
    if transcript_file:
        try:
            with open(transcript_file, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            click.echo(f"cannot write the transcript to {transcript_file} ({e.strerror}): choose a file in a "
                       "folder that exists", err=True)
            sys.exit(2)
    sys.exit(status)


def _why_only_there(url: str, failed: list) -> None:
    """For calls a running line fails: replayed here too, with this folder's menu files, at the
    fixture's clock and at the current time, to tell the tester which setting differs."""
    from ..menus.load import MenuError
    if not failed:
        return
    try:
        transport, base_url, token, app = _in_process(record=False)
    except MenuError:
        return  # the menu files here are broken: nothing to compare with
    set_clock = clock_setter(app)
    for result in failed:
        if any(change.hint for change in result.changes):
            continue  # already says which setting to change
        fixture = result.fixture
        set_clock(fixture.clock)
        if not fixtures.replay(fixture, transport, base_url, token).passed:
            continue  # it fails here too: a change of the line, not of the deployment
        set_clock(datetime.datetime.now(BRUSSELS))
        if not fixtures.replay(fixture, transport, base_url, token).passed:
            result.hints.append(
                f"it passes in this process at the fixture's clock ({fixture.clock:%Y-%m-%d %H:%M}) and fails here at "
                f"the current time too: opening hours differ, and the line at {url} answers at its own time. "
                "Replay without --url (it sets the clock), or set the fixture's clock: to a time like now")
        else:
            result.hints.append(
                f"it passes in this process with the menu files here: the line at {url} runs other menu files or "
                "settings; start it with the same IVR_MENUS, IVR_PROMPTS, IVR_LANGUAGE_BY_NUMBER and "
                "IVR_TRANSFER_CALLER_ID")
    set_clock(None)


def _brussels_time(text: str) -> datetime.datetime:
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date and time like 2026-12-24T23:00", param_hint="--clock") from None
    # Opening hours are Brussels time: a time without a zone is read as Brussels time.
    return when.replace(tzinfo=BRUSSELS) if when.tzinfo is None else when.astimezone(BRUSSELS)


REFUSED_TRANSFER = ("the line could not place the transfer: set IVR_TRANSFER_CALLER_ID on the server to a number "
                    "of the account that may call out (or call with --to a number that is not toll-free)")


def _refused_transfer_texts(line) -> set[str]:
    """What each language says when a transfer failed. Heard right after a key, with no <Dial> in
    between, it means the line did not even try: it has no caller ID Twilio would accept."""
    if line is None:  # a running line (--url): its sentences are most likely those of these files
        from ..menus.load import MenuError
        try:
            line = _load_here()
        except MenuError:
            return set()
    from ..call import speech
    return {speech.sentence(language, "transfer_failed").text for language in line.languages}


def _transfer_refused(the_call: phone.Call, refused: set[str]) -> bool:
    return the_call.waiting != "dial" and any(h.text in refused for h in the_call.heard)


HELP = """\
  1 to 9, 0, * and #   press these keys (several at once: 121)
  Enter alone          stay silent until the line stops waiting
  q                    hang up
  help                 this list
When the line puts you through, choose how the transfer ends: answered, busy, no-answer or failed."""


def _interactive(the_call: phone.Call, show, refused: set[str] = frozenset()) -> None:
    while not the_call.ended:
        show()
        if the_call.waiting == "dial":
            choice = click.prompt(f"Transfer to {the_call.dialing}: outcome",
                                  type=click.Choice(["answered", "busy", "no-answer", "failed"]),
                                  default="answered")
            the_call.dial_outcome(DIAL_STATUS_FOR[choice])
            continue
        listening = the_call.listening
        ends = [f"{listening['numDigits']} key(s)" if listening["numDigits"] else "any number of keys",
                f"finish key {listening['finishOnKey']}" if listening["finishOnKey"] else "no finish key",
                f"{listening['timeout']} s of silence"]
        typed = f", typed so far: {listening['typed']}" if listening["typed"] else ""
        click.echo(f"(listening: {', '.join(ends)}{typed}; Enter alone = silence, q = hang up, help)")
        try:
            entry = input("keys> ").strip()
        except EOFError:
            entry = "q"
        if entry in ("q", "quit", "hangup"):
            the_call.hang_up()
        elif entry in ("help", "h", "?"):
            click.echo(HELP)
        elif entry == "":
            the_call.silence()
        else:
            _press(the_call, entry, refused)


def _press(the_call: phone.Call, keys: str, refused: set[str] = frozenset()) -> None:
    for position, key in enumerate(keys):
        if key not in KEYPAD:
            click.echo(f"({key!r} is not a key of a phone keypad; ignored; `help` lists what to type)")
        elif the_call.waiting != "keys":
            click.echo(f"(the line is not listening any more: {keys[position:]!r} not pressed)")
            return
        else:
            the_call.press(key)
            if _transfer_refused(the_call, refused):
                click.echo(REFUSED_TRANSFER, err=True)


def play_script(the_call: phone.Call, script: list[str], refused: set[str] = frozenset()) -> int:
    """Run a --keys script; 0 when it fitted the call, 2 (and why, on stderr) when it did not.
    A transfer the line did not even try (`refused`: see _refused_transfer_texts) is said at once."""
    for number, item in enumerate((s.strip() for s in script), 1):
        if the_call.ended:
            click.echo(f"the call ended before script item {number} ({item!r})", err=True)
            return 2
        if item == "hangup":
            the_call.hang_up()
        elif item in DIAL_STATUS_FOR:
            if the_call.waiting != "dial":
                click.echo(f"script item {number} ({item!r}): no transfer is ringing", err=True)
                return 2
            the_call.dial_outcome(DIAL_STATUS_FOR[item])
        elif the_call.waiting != "keys":
            click.echo(f"script item {number} ({item!r}): the line is ringing {the_call.dialing}; "
                       f"give an outcome (answered, busy, no-answer, failed)", err=True)
            return 2
        elif item in SILENCE:
            the_call.silence()
        elif set(item) <= KEYPAD:
            for key in item:
                if the_call.waiting != "keys":
                    click.echo(f"script item {number} ({item!r}): the line stopped listening", err=True)
                    return 2
                the_call.press(key)
                if _transfer_refused(the_call, refused):
                    click.echo(REFUSED_TRANSFER, err=True)
        else:
            click.echo(f"script item {number} ({item!r}) is not keys, silence, an outcome or hangup", err=True)
            return 2
    if not the_call.ended:
        the_call.hang_up()
    return 0


@click.command("replay")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--url", callback=lambda ctx, param, value: _http_url(value),
              help="replay against a running line instead of one in this process "
                   "(signed with TWILIO_AUTH_TOKEN when it is set)")
@click.option("--update", is_flag=True, help="after an intended change: rewrite the expected answers, "
                                             "showing what changed")
def replay_command(paths, url, update):
    """Replay recorded calls (files, or folders of *.yaml; default tests/fixtures) and compare answers."""
    from .. import ROOT
    paths = paths or [str(ROOT / "tests" / "fixtures")]
    set_clock = None
    if url:
        # A running line keeps its own clock: pages with opening hours may differ from the recording.
        transport, base_url, token = _Remote(url), url.rstrip("/"), os.environ.get("TWILIO_AUTH_TOKEN")
    else:
        transport, base_url, token, app = _in_process(record=False)
        set_clock = clock_setter(app)
    try:
        results = fixtures.run(paths, transport, base_url, token, update=update, set_clock=set_clock)
    except fixtures.FixtureError as e:
        click.echo(str(e), err=True)
        sys.exit(2)
    if url and not update:
        _why_only_there(url, [r for r in results if not r.passed])
    for result in results:
        if update and not result.passed and not result.broken:
            # An intended change, written to the file: not a failure, whatever the diff below says.
            click.echo("\n".join([f"updated {result.fixture.file}: {result.fixture.name}"]
                                  + [change.report() for change in result.changes]))
            continue
        click.echo(result.report())
        if update and result.broken:
            click.echo(f"      NOT updated: the line fails this call: {result.fixture.file}")
    failed = [r for r in results if not r.passed]
    verb = "changed" if update else "failed"
    click.echo(f"{len(results)} call(s) replayed, {len(failed)} {verb}.")
    if not results or (failed and (not update or any(r.broken for r in failed))):
        sys.exit(1)
