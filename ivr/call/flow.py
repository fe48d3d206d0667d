"""The call flow: from where a caller is and what they pressed, to what happens next.

Pure functions over the model. The caller's state is a `Step` (language, path of keys from the
main menu, how many silences so far, the helpline being dialled); `ivr.web.views` turns each Step into
the URL Twilio calls back, so the state lives in the call itself and never in a worker.
A reply is a short list of actions that `ivr.call.twiml` renders, and the events
(`ivr.call.events`) that say what happened to the caller, for the metrics and the log.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace

from ..menus.model import Language, Line, Menu, Page
from . import events as ev
from . import speech
from .speech import Said

# Twilio's DialCallStatus values after a <Dial> ends.
CONNECTED = {"completed", "answered"}
FAILURES = {"busy": "transfer_busy", "no-answer": "transfer_no_answer", "failed": "transfer_failed", "canceled": "transfer_failed"}

MAX_DEPTH = 8  # longest key path accepted from a URL; the shipped menus are 2 deep


@dataclass(frozen=True)
class Step:
    """A place in the call that Twilio can be sent to."""
    action: str  # "language", "language_key", "node", "key", "dialed", "others"
    language: str | None = None
    at: tuple[str, ...] = ()
    silences: int = 0
    helpline: str | None = None
    after_error: bool = False  # sent here by technical_problem: a second failure ends the call
    node_id: str | None = None  # what is at `at` (Language.node_id), checked when the caller comes back
    defaulted: bool = False  # the caller never chose a language: a goodbye is said in every language


@dataclass(frozen=True)
class Ask:
    """Say these (interruptible by a key), then wait for one key."""
    said: tuple[Said, ...]
    on_key: Step
    on_silence: Step


@dataclass(frozen=True)
class Transfer:
    number: str  # E.164
    show_caller_number: bool
    ring_seconds: int
    then: Step  # where Twilio posts the outcome
    press_after_answer: str | None = None  # keys sent once the helpline answers (its switchboard's choice)


@dataclass(frozen=True)
class HangUp:
    pass


@dataclass(frozen=True)
class Reply:
    said: tuple[Said, ...] = ()  # said first, not interruptible
    next: Ask | Transfer | HangUp | Step = field(default_factory=HangUp)  # a Step means <Redirect>
    # What happened to the caller, in order: for metrics and logs, never for speech.
    events: tuple[ev.Event, ...] = ()


def incoming(line: Line, now: datetime.datetime, language_code: str | None = None) -> Reply:
    """A new call. A number mapped to one language skips the choice."""
    language = line.language(language_code)
    if language is not None:
        return start(line, language, now)
    return language_choice(line, 0, now)


def language_choice(line: Line, silences: int, now: datetime.datetime) -> Reply:
    if silences > 1:  # asked twice already: go on in the default language rather than hang up
        return start(line, line.language(line.default_language), now, defaulted=True)
    return Reply(next=Ask(
        speech.language_choice(line),
        on_key=Step("language_key", silences=silences),
        on_silence=Step("language", silences=silences + 1),
    ), events=(ev.LanguageChoiceOffered(None),))


def language_silence(line: Line, silences: int, now: datetime.datetime) -> Reply:
    """Twilio's redirect after the language choice timed out (`silences` so far; 0: sent here
    for another reason, no silence)."""
    reply = language_choice(line, silences, now)
    return _after(ev.Silence(None), reply) if silences else reply


def language_key(line: Line, digits: str, silences: int, now: datetime.datetime) -> Reply:
    if not digits:
        return language_choice(line, silences + 1, now)
    if digits == line.keys.quick_exit:  # no language chosen yet: the neutral goodbye in each
        return quick_exit(None, *line.languages)
    language = line.language_by_key(digits)
    if language is not None:
        return start(line, language, now)
    sorry = tuple(speech.sentence(lang, "not_an_option") for lang in line.languages)
    return _prefixed(sorry, language_choice(line, silences, now), ev.WrongKey(None))


def start(line: Line, language: Language, now: datetime.datetime, changed: bool = False,
          defaulted: bool = False) -> Reply:
    """Right after the language is known (or taken by default: `defaulted`): safety first, then
    the main menu."""
    started = ev.LanguageChanged(language.code) if changed else ev.CallStarted(language.code)
    return _after(started, node(line, language, (), 0, now, fresh=True, defaulted=defaulted))


def node(line: Line, language: Language, at: tuple[str, ...], silences: int, now: datetime.datetime,
         fresh: bool = False, defaulted: bool = False) -> Reply:
    where = language.node(at)
    if where is None:
        return menu_changed(line, language, now)
    if silences > line.silences_before_goodbye:
        # A caller who never chose a language may not understand this one: 112 in every language.
        said_in = (language,) + tuple(lang for lang in line.languages if lang.code != language.code) if defaulted else (language,)
        return Reply(
            said=tuple(speech.sentence(lang, "silence_goodbye", emergency=line.emergency_number) for lang in said_in),
            next=HangUp(), events=(ev.Goodbye(language.code),),
        )
    said = speech.safety(line, language) if fresh else ()
    if isinstance(where, Menu):
        said += speech.menu(line, language, where)
        if fresh:
            said += speech.other_languages(line, language)
        heard = ev.MenuHeard(language.code, where.id) if at else ev.MainMenuHeard(language.code)
    else:
        said += speech.page(line, language, where, at, now)
        heard = ev.HelplinesHeard(language.code, tuple(h.id for h in where.helplines))
    on_key, on_silence = _at(language, "key", at, silences), _at(language, "node", at, silences + 1)
    if defaulted:  # kept until the caller picks an option: a wrong key is no sign of understanding
        on_key, on_silence = replace(on_key, defaulted=True), replace(on_silence, defaulted=True)
    return Reply(next=Ask(said, on_key=on_key, on_silence=on_silence), events=(heard,))


def silence(line: Line, language: Language, at: tuple[str, ...], silences: int, now: datetime.datetime,
            defaulted: bool = False) -> Reply:
    """Twilio's redirect after a menu or page timed out (`silences` so far; 0: sent here for
    another reason, such as after an apology, no silence; `defaulted`: no language was chosen)."""
    reply = node(line, language, at, silences, now, defaulted=defaulted)
    return _after(ev.Silence(language.code), reply) if silences else reply


def key(line: Line, language: Language, at: tuple[str, ...], silences: int, digits: str,
        now: datetime.datetime, defaulted: bool = False) -> Reply:
    """The caller pressed `digits` (already checked to be one keypad key, or empty for silence);
    `defaulted`: the caller never chose a language, and has not picked an option since."""
    where = language.node(at)
    if where is None:
        return menu_changed(line, language, now)
    keys = line.keys
    if not digits:
        return node(line, language, at, silences + 1, now, defaulted=defaulted)
    if digits == keys.quick_exit:
        return quick_exit(language)
    if digits == keys.repeat:
        return node(line, language, at, 0, now, defaulted=defaulted)
    if digits == keys.back:  # `defaulted` holds only where no option was picked: the main menu
        return node(line, language, at[:-1], 0, now, defaulted=defaulted)
    if digits == keys.main_menu:
        return node(line, language, (), 0, now, defaulted=defaulted)
    if digits == keys.change_language:
        others = [lang for lang in line.languages if lang.code != language.code]
        if len(others) == 1:
            return start(line, others[0], now, changed=True)
        return language_choice(line, 0, now)
    if isinstance(where, Menu):
        if where.option(digits) is not None:
            return _after(ev.MenuChoice(language.code, where.id, digits), node(line, language, at + (digits,), 0, now))
    else:
        for transfer_key, helpline in where.transfers():
            if transfer_key == digits and helpline.open_at(now) is False:
                # It closed while the page was being read: say so, and name an open line, unless
                # the page, read again, starts with that line (then it would be said twice).
                page = node(line, language, at, silences, now)
                other = speech.alternative(language, helpline, at, now)
                if isinstance(page.next, Ask) and page.next.said[:len(other)] == other:
                    other = ()
                said = (speech.sentence(language, "closed_now"),) + other
                return _prefixed(said, page, ev.ClosedNow(language.code, helpline.id))
            if transfer_key == digits:
                return Reply(
                    said=(speech.sentence(language, "transferring"),),
                    next=Transfer(
                        helpline.transfer, helpline.show_caller_number, line.ring_seconds,
                        then=Step("dialed", language.code, at, helpline=helpline.id),
                        press_after_answer=helpline.press_after_answer,
                    ),
                    events=(ev.TransferStarted(language.code, helpline.id),),
                )
    return _prefixed((speech.sentence(language, "not_an_option"),), node(line, language, at, silences, now, defaulted=defaulted),
                     ev.WrongKey(language.code))


def dialed(line: Line, language: Language, at: tuple[str, ...], helpline_id: str | None, status: str,
           now: datetime.datetime, seconds: int | None = None) -> Reply:
    """Twilio tells how a transfer ended (its DialCallStatus, and DialCallDuration in `seconds`
    when sent). Whatever happened, the caller is never left alone."""
    ended = ev.TransferEnded(language.code, helpline_id if helpline_id in language.helplines else None, status)
    where = language.node(at)
    helpline = None
    if isinstance(where, Page):
        helpline = next((h for h in where.helplines + where.alternatives if h.id == helpline_id), None)
    if helpline is None:
        return _after(ended, menu_changed(line, language, now))
    if status in CONNECTED and seconds is not None and seconds < line.short_transfer_seconds:
        # Over in a few seconds: perhaps an answering machine or a closed switchboard's message.
        # One neutral sentence, and once, one key to hear other numbers; silence ends the call.
        key = speech.OTHER_NUMBERS_KEY
        said = (speech.sentence(language, "short_transfer_ended"),
                speech.sentence(language, "other_numbers_offer", offers=key, key=key))
        then = Step("others", language.code, at, helpline=helpline.id, node_id=language.node_id(at))
        return Reply(next=Ask(said, on_key=then, on_silence=replace(then, silences=1)),
                     events=(ended, ev.RetryOffered(language.code)))
    if status in CONNECTED:
        # The caller may have put the phone down because someone came in: nothing more is said
        # that could tell what the call was about.
        return Reply(said=(speech.sentence(language, "transfer_ended"),), next=HangUp(),
                     events=(ended, ev.EndedAfterTransfer(language.code)))
    said = [speech.sentence(language, FAILURES.get(status, "transfer_failed"))]
    yourself = speech.dial_yourself(language, helpline)
    if yourself:
        said.append(yourself)
    open_line = speech.day_and_night(language, helpline, at)
    if open_line:
        said.append(open_line)
    # The page may have lost this transfer in a menu edit while the line rang, or the line may have
    # closed meanwhile: then no retry key (it would put no one through).
    retry = next((k for k, h in where.transfers() if h.id == helpline.id), None)
    if helpline.open_at(now) is False:
        retry = None
    if retry is not None:
        said.append(speech.sentence(
            language, "after_transfer",
            key=speech.key_name(language, retry),
            main_menu=speech.key_name(language, line.keys.main_menu),
        ))
    else:
        said.append(speech.page_help(line, language))
    return Reply(next=Ask(
        tuple(said),
        on_key=_at(language, "key", at, 0),
        on_silence=_at(language, "node", at, 1),
    ), events=(ended, ev.RetryOffered(language.code)))


def others(line: Line, language: Language, at: tuple[str, ...], helpline_id: str | None, digits: str,
           now: datetime.datetime) -> Reply:
    """The answer to the one offer after a short transfer: its key reads other numbers (a line
    that answers day and night, and the page's other lines that are open now); then, or on any
    other key or silence, the neutral goodbye, and the line hangs up."""
    goodbye = speech.sentence(language, "transfer_ended")
    ended = ev.EndedAfterTransfer(language.code)
    where = language.node(at)
    helpline = language.helplines.get(helpline_id or "")
    if digits != speech.OTHER_NUMBERS_KEY or not isinstance(where, Page) or helpline is None:
        return Reply(said=(goodbye,), next=HangUp(), events=(ended,))
    said: list[Said] = []
    open_line = speech.day_and_night(language, helpline, at)
    named = set()
    if open_line:
        said.append(open_line)
        named.add(language.day_and_night_line(helpline, at).id)
    for other in where.helplines + where.alternatives:
        if other.id == helpline.id or other.id in named or other.number is None or other.open_at(now) is not True:
            continue
        said.append(Said(speech._end(other.name), language.code))
        said.extend(speech.reaching(language, other))
        named.add(other.id)
    said.append(speech.sentence(language, "call_history"))
    said.append(goodbye)
    return Reply(said=tuple(said), next=HangUp(),
                 events=(ev.HelplinesHeard(language.code, tuple(sorted(named))), ended))


def transfer_not_attempted(line: Line, transfer: Transfer, now: datetime.datetime) -> Reply:
    """No caller ID Twilio would accept (ivr.web.views): the caller hears at once what a failed
    transfer says, with the number to dial; nothing rang, so no transfer is counted."""
    then = transfer.then
    language = line.language(then.language)
    reply = dialed(line, language, then.at, then.helpline, "failed", now)
    happened = tuple(e for e in reply.events if not isinstance(e, ev.TransferEnded))
    return replace(reply, events=(ev.TransferNotAttempted(language.code, then.helpline),) + happened)


def quick_exit(language: Language | None, *languages: Language) -> Reply:
    """The neutral goodbye, said in `languages` (the caller's `language`, or every one at the
    language choice, where `language` is None)."""
    said_in = languages or (language,)
    return Reply(said=tuple(speech.sentence(lang, "quick_exit_message") for lang in said_in), next=HangUp(),
                 events=(ev.QuickExit(language.code if language else None),))


def menu_changed(line: Line, language: Language, now: datetime.datetime) -> Reply:
    """The caller's place no longer exists (an old URL, a menu edited mid-call): main menu."""
    return _prefixed((speech.sentence(language, "menu_changed"),), node(line, language, (), 0, now),
                     ev.MenuChanged(language.code))


def technical_problem(line: Line, language: Language | None, again: bool) -> Reply:
    """What a caller hears instead of Twilio's "application error" when something broke.

    The first time, the caller goes back to the main menu; if the main menu itself fails
    (`again`), the call ends after the emergency number rather than looping on an error.
    """
    language = language or line.language(line.default_language)
    happened = (ev.TechnicalProblem(language.code),)
    if again:
        said = (speech.sentence(language, "silence_goodbye", emergency=line.emergency_number),)
        return Reply(said=said, next=HangUp(), events=happened)
    sorry = speech.sentence(language, "technical_problem", emergency=line.emergency_number)
    return Reply(said=(sorry,), next=Step("node", language.code, (), 0, after_error=True), events=happened)


def _at(language: Language, action: str, at: tuple[str, ...], silences: int) -> Step:
    return Step(action, language.code, at, silences, node_id=language.node_id(at) if at else None)


def _after(event: ev.Event, reply: Reply) -> Reply:
    """The reply, with what happened just before it."""
    return replace(reply, events=(event,) + reply.events)


def _prefixed(said: tuple[Said, ...], reply: Reply, event: ev.Event) -> Reply:
    """Put a short sentence before a reply; inside its Ask so a key can cut it short."""
    events = (event,) + reply.events
    if isinstance(reply.next, Ask) and not reply.said:
        ask = reply.next
        return Reply(next=Ask(said + ask.said, ask.on_key, ask.on_silence), events=events)
    return Reply(said=said + reply.said, next=reply.next, events=events)
