"""What happened to the caller, as the flow decided it: small frozen values a Reply carries.

The flow reports; it never counts or logs. `ivr.ops.observability` turns these into the metrics
and the log line, so it need not work out again from the request what the flow decided. Each
event names the language the caller is in (None at the language choice, before one is chosen).
`outcome` is the word of the log line's `outcome` member (docs/operations.md): a reply's outcome
is that of its first event that has one; events without one (a silence, a menu choice, a
transfer's end) only count.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Event:
    language: str | None
    outcome: ClassVar[str | None] = None


@dataclass(frozen=True, slots=True)
class LanguageChoiceOffered(Event):
    outcome: ClassVar[str] = "language_choice"


@dataclass(frozen=True, slots=True)
class CallStarted(Event):
    """The caller heard the safety message: a call, once per call."""
    outcome: ClassVar[str] = "call_started"


@dataclass(frozen=True, slots=True)
class LanguageChanged(Event):
    """The caller switched to this language mid-call (and hears the safety message again)."""
    outcome: ClassVar[str] = "language_changed"


@dataclass(frozen=True, slots=True)
class MainMenuHeard(Event):
    outcome: ClassVar[str] = "main_menu"


@dataclass(frozen=True, slots=True)
class MenuHeard(Event):
    """A menu below the main one."""
    menu: str
    outcome: ClassVar[str] = "menu"


@dataclass(frozen=True, slots=True)
class MenuChoice(Event):
    """The caller chose the option `key` of `menu`."""
    menu: str
    key: str


@dataclass(frozen=True, slots=True)
class HelplinesHeard(Event):
    """A page was read: these helplines' names and numbers."""
    helplines: tuple[str, ...]
    outcome: ClassVar[str] = "helplines"


@dataclass(frozen=True, slots=True)
class WrongKey(Event):
    outcome: ClassVar[str] = "wrong_key"


@dataclass(frozen=True, slots=True)
class Silence(Event):
    """A menu or the language choice timed out with no key pressed."""


@dataclass(frozen=True, slots=True)
class Goodbye(Event):
    """Silent too long: the short goodbye with the emergency number, and the line hangs up."""
    outcome: ClassVar[str] = "goodbye"


@dataclass(frozen=True, slots=True)
class QuickExit(Event):
    outcome: ClassVar[str] = "quick_exit"


@dataclass(frozen=True, slots=True)
class MenuChanged(Event):
    """The caller's place no longer exists (an operator's edit, an old URL): the main menu."""
    outcome: ClassVar[str] = "menu_changed"


@dataclass(frozen=True, slots=True)
class ClosedNow(Event):
    """The caller pressed to be put through, but the helpline had closed meanwhile."""
    helpline: str
    outcome: ClassVar[str] = "closed"


@dataclass(frozen=True, slots=True)
class TransferStarted(Event):
    helpline: str
    outcome: ClassVar[str] = "transfer"


@dataclass(frozen=True, slots=True)
class TransferNotAttempted(Event):
    """No caller ID Twilio would accept: the caller hears at once that it failed."""
    helpline: str


@dataclass(frozen=True, slots=True)
class TransferEnded(Event):
    """Twilio's DialCallStatus for a transfer; `helpline` None when the language has no such helpline."""
    helpline: str | None
    status: str


@dataclass(frozen=True, slots=True)
class RetryOffered(Event):
    """After a transfer that did not go through: the number to dial, and the keys to retry or leave."""
    outcome: ClassVar[str] = "after_transfer"


@dataclass(frozen=True, slots=True)
class EndedAfterTransfer(Event):
    """A transfer that went through has ended: one neutral sentence, and the line hangs up."""
    outcome: ClassVar[str] = "transfer_ended"


@dataclass(frozen=True, slots=True)
class TechnicalProblem(Event):
    """Something broke: the caller heard the apology instead of Twilio's error."""
    outcome: ClassVar[str] = "technical_problem"


def outcome(events: tuple[Event, ...]) -> tuple[str, str | None]:
    """The log line's outcome and language: those of the first event that has an outcome."""
    for event in events:
        if event.outcome is not None:
            return event.outcome, event.language
    return "other", None
