"""Call fixtures: one YAML file per call, its webhooks and the TwiML the line answered.

    call: French, partner violence, transfer busy      # what the call is, for the reader
    clock: '2026-11-27T12:00:00+01:00'                 # when it happens (opening hours); required
    steps:
    - request:
        path: /voice/fr/key?at=            # path and query, as Twilio requested it
        method: POST                       # optional, POST by default
        params: {Digits: '2', ...}         # optional: missing Twilio parameters get placeholders
      answer: |                            # the TwiML expected (optional: `replay --update` fills it)
        <Response>...</Response>

`replay` plays a fixture through the simulated phone (`ivr.testers.phone`): the caller does what the
recorded requests say (the keys in `Digits`, silence when there are none, the transfer outcome in
`DialCallStatus`), each request the phone then makes must be the recorded one, and each answer
must mean the same TwiML as the recorded one: same verbs, attributes and texts in the same order;
attribute order and whitespace do not count. A replay in this process sets the line's clock to
the fixture's `clock`, so helplines with opening hours sound as they did when it was recorded.

What differs from one deployment to another is not part of the comparison: the host in the URLs
the line writes (recorded and compared as BASE_URL) and the number a transfer shows (the `<Dial>`'s
`callerId`, IVR_TRANSFER_CALLER_ID, compared as "the line's", unless it is the caller's own).
"""
from __future__ import annotations

import datetime
import difflib
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from twilio.request_validator import RequestValidator

from ..menus.model import BRUSSELS
from . import phone

# The parameters that say what the caller did; listed first in a file, since they matter most.
ACTION_PARAMS = ("Digits", "FinishedOnKey", "DialCallStatus", "DialCallDuration", "DialCallSid")
BASE_URL = "https://line.example.org"  # in-process replays: any host will do, it is signed as such
# How a transfer's caller ID is compared: it is the deployment's (IVR_TRANSFER_CALLER_ID), not the call's.
LINES_CALLER_ID = "(the line's IVR_TRANSFER_CALLER_ID)"
NO_CLOCK = ("needs `clock:`, the Brussels time the call happens, since opening hours change what a caller "
            "hears; add a line like clock: '2026-11-27T12:00:00+01:00' (`replay --update` writes the current hour)")
NOT_PUT_THROUGH = ("the line did not put the caller through, as it did when this was recorded: a line without "
                   "IVR_TRANSFER_CALLER_ID does not try a transfer on a toll-free number (the call's To, "
                   f"{phone.LINE_NUMBER}); set IVR_TRANSFER_CALLER_ID where the line runs, e.g. "
                   f"IVR_TRANSFER_CALLER_ID={phone.TRANSFER_CALLER_ID} make run")


class FixtureError(ValueError):
    """A fixture file that cannot be read; the message names the file and the step."""


# -- the file format ---------------------------------------------------------------------------
class _Literal(str):
    pass


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Literal, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|"))


def pretty(twiml: str) -> str:
    """TwiML indented one verb a line, as a tester would write it."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError:
        return twiml
    ET.indent(root, "  ")
    return ET.tostring(root, encoding="unicode") + "\n"


def _ordered(params: dict) -> dict:
    first = [k for k in ACTION_PARAMS if k in params]
    return {k: params[k] for k in first + sorted(k for k in params if k not in first)}


def exchange_data(path: str, method: str, params: dict, answer: str | None) -> dict:
    request = {"path": path, "method": method, "params": _ordered(params)}
    data = {"request": request}
    if answer is not None:
        data["answer"] = _Literal(pretty(answer))
    return data


def dump_exchange(path: str, method: str, params: dict, answer: str | None) -> str:
    """One exchange as YAML list item text, to be appended under `steps:`."""
    return yaml.dump([exchange_data(path, method, params, answer)], Dumper=_Dumper, allow_unicode=True,
                     sort_keys=False, width=100)


@dataclass
class Exchange:
    """One request Twilio sent and the answer it got: an item of the file's `steps:`."""
    path: str
    method: str = "POST"
    params: dict = field(default_factory=dict)
    answer: str | None = None


@dataclass
class Fixture:
    file: Path
    name: str
    exchanges: list[Exchange]  # the file's `steps:`
    header: str = ""  # the comment lines at the top, kept on --update
    clock: datetime.datetime | None = None  # when the call happened, for opening hours


def load(file: Path, clock_required: bool = True) -> Fixture:
    """The fixture in `file`; without `clock:` it is refused, unless `clock_required` is False
    (`replay --update` then writes one)."""
    file = Path(file)
    text = file.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise FixtureError(f"{file}: not valid YAML: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or not data["steps"]:
        raise FixtureError(f"{file}: needs a list of `steps:` (see docs/testing.md)")
    exchanges = []
    for number, raw in enumerate(data["steps"], 1):
        request = raw.get("request") if isinstance(raw, dict) else None
        if not isinstance(request, dict) or not str(request.get("path", "")).startswith("/"):
            raise FixtureError(f"{file}: step {number} needs `request:` with a `path:` starting with /")
        params = request.get("params") or {}
        if not isinstance(params, dict):
            raise FixtureError(f"{file}: step {number}: `params:` should be names and values")
        answer = raw.get("answer")
        exchanges.append(Exchange(str(request["path"]), str(request.get("method", "POST")).upper(),
                          {str(k): "" if v is None else str(v) for k, v in params.items()},
                          None if answer is None else str(answer)))
    header = "".join(line for line in _leading_comments(text))
    clock = data.get("clock")
    if clock is None and clock_required:
        raise FixtureError(f"{file}: {NO_CLOCK}")
    if clock is not None:
        try:
            clock = datetime.datetime.fromisoformat(str(clock))
        except ValueError:
            raise FixtureError(f"{file}: clock: should be a time like '2026-11-27T12:00:00+01:00'") from None
        if clock.tzinfo is None:
            raise FixtureError(f"{file}: clock: needs its time zone, like +01:00")
    return Fixture(file, str(data.get("call") or file.stem), exchanges, header, clock)


# The first line of every golden call `make fixtures` (tests/fixtures/record_all.py) writes: the
# files it may replace. Every other fixture is a tester's, kept as it is.
GOLDEN = "# Recorded from a simulated call by tests/fixtures/record_all.py:\n"


def is_golden(file: Path) -> bool:
    with Path(file).open(encoding="utf-8", errors="replace") as f:
        return f.readline() == GOLDEN


def _leading_comments(text: str):
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            return
        yield line


def save(fixture: Fixture) -> None:
    head = {"call": fixture.name}
    if fixture.clock is not None:
        head["clock"] = fixture.clock.isoformat()
    body = yaml.dump({**head, "steps": [exchange_data(s.path, s.method, s.params, s.answer) for s in fixture.exchanges]},
                     Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)
    fixture.file.write_text(fixture.header + body, encoding="utf-8")


def files(paths) -> list[Path]:
    """The fixture files named, folders searched for *.yaml."""
    found = []
    for path in map(Path, paths):
        found += sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
    return found


# -- comparing TwiML by meaning ------------------------------------------------------------------
def described(twiml: str | None) -> list[str]:
    """TwiML as lines a tester reads: one verb a line, attributes sorted, texts with their
    whitespace collapsed. Two answers mean the same TwiML when these lines are equal."""
    if twiml is None:
        return ["(no answer recorded)"]
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError as e:
        return [f"(not XML: {e})"] + twiml.splitlines()
    lines = []

    def visit(element, depth):
        shown = dict(element.attrib)
        if element.tag == "Dial" and shown.get("callerId") not in (None, phone.CALLER):
            shown["callerId"] = LINES_CALLER_ID
        attributes = " ".join(f"{k}={v!r}" for k, v in sorted(shown.items()))
        text = " ".join((element.text or "").split())
        line = "  " * depth + element.tag + (f" [{attributes}]" if attributes else "")
        lines.append(line + (f": {text}" if text else ""))
        for child in element:
            visit(child, depth + 1)

    for child in root:  # every answer is a <Response>
        visit(child, 0)
    return lines if root.tag == "Response" else [f"<{root.tag}> instead of <Response>"] + lines


def same(expected: str | None, answered: str) -> bool:
    return expected is not None and described(expected) == described(answered)


# -- replaying ----------------------------------------------------------------------------------
@dataclass
class Change:
    step: int  # 1-based
    path: str
    what: str
    before: list[str] = field(default_factory=list)
    now: list[str] = field(default_factory=list)
    hint: str = ""  # the setting to change, when the difference is the deployment's

    def report(self) -> str:
        lines = [f"  step {self.step} (POST {self.path}): {self.what}"]
        if self.hint:
            lines.append(f"    why: {self.hint}")
        if self.before or self.now:
            diff = difflib.unified_diff(self.before, self.now, "before", "now", lineterm="", n=2)
            lines += ["    " + line for line in diff]
        return "\n".join(lines)


@dataclass
class Result:
    fixture: Fixture
    changes: list[Change]
    transcript: list[str]
    exchanges_now: list[Exchange]
    broken: bool = False  # the line failed the caller (HTTP error, bad TwiML): nothing to update to
    hints: list[str] = field(default_factory=list)  # why it may fail there and not here (replay --url)

    @property
    def passed(self) -> bool:
        return not self.changes

    def report(self) -> str:
        head = f"{self.fixture.file}: {self.fixture.name}"
        if self.passed:
            return f"ok    {head} ({len(self.exchanges_now)} steps)"
        return "\n".join([f"FAIL  {head}"] + [c.report() for c in self.changes]
                         + [f"  why: {hint}" for hint in self.hints])


class _Diverged(Exception):
    """The line no longer follows the recorded call; the rest cannot be compared."""


class _ReplayTransport(phone.Transport):
    """Between the simulated phone and the line: checks each request the phone makes against the
    recorded one, sends Twilio's recorded parameters (signed), and checks each answer."""

    def __init__(self, inner: phone.Transport, fixture: Fixture, base_url: str, auth_token: str | None,
                 update: bool):
        self.inner, self.fixture, self.base_url, self.auth_token = inner, fixture, base_url, auth_token
        self.update = update
        self.index = 0
        self.diverged = False
        self.changes: list[Change] = []
        self.exchanges_now: list[Exchange] = []

    def next_params(self) -> dict | None:
        exchanges = self.fixture.exchanges
        return exchanges[self.index].params if self.index < len(exchanges) else None

    def post(self, url, params, headers):
        parts = urllib.parse.urlsplit(url)
        path = parts.path + ("?" + parts.query if parts.query else "")
        number = self.index + 1
        recorded = self.fixture.exchanges[self.index] if self.index < len(self.fixture.exchanges) else None
        self.index += 1
        if recorded is not None and recorded.path == path:
            sent = dict(phone.twilio_params(), **recorded.params)  # what Twilio sent, gaps filled
            # A hand-written step may leave out what the caller did; the phone knows it.
            sent.update({k: v for k, v in params.items() if k in ACTION_PARAMS and k not in recorded.params})
        else:
            before = f"before: {recorded.path}" if recorded else "before, the call had no more steps"
            self.changes.append(Change(number, path, f"the caller is now sent to {path} ({before})"))
            self.diverged = True
            if not self.update:
                raise _Diverged
            sent = dict(recorded.params if recorded else {}, **params)
        full_url = self.base_url + path
        signed = {}
        if self.auth_token:
            signed["X-Twilio-Signature"] = RequestValidator(self.auth_token).compute_signature(full_url, sent)
        status, body = self.inner.post(full_url, sent, signed)
        if self.base_url != BASE_URL:  # the host the line writes in its URLs is the deployment's
            body = body.replace(self.base_url, BASE_URL)
        expected = recorded.answer if recorded else None
        if status != 200:
            self.changes.append(Change(number, path, f"the line answered HTTP {status}"))
        elif not same(expected, body):
            what = "no answer was recorded" if expected is None else "the answer changed"
            before, now = described(expected), described(body)
            dialed = any(line.startswith("Dial") for line in before) and not any(line.startswith("Dial") for line in now)
            self.changes.append(Change(number, path, what, before, now, NOT_PUT_THROUGH if dialed else ""))
        self.exchanges_now.append(Exchange(path, "POST", sent, body))
        return status, body


def replay(fixture: Fixture, transport: phone.Transport, base_url: str = BASE_URL,
           auth_token: str | None = None, update: bool = False) -> Result:
    """Play the recorded call again through the simulated phone; with `update`, the answers
    (and paths) the line gives now become the fixture's exchanges."""
    wire = _ReplayTransport(transport, fixture, base_url.rstrip("/"), auth_token, update)
    broken = False
    first = fixture.exchanges[0]
    base = {k: v for k, v in dict(phone.twilio_params(), **first.params).items() if k not in ACTION_PARAMS}
    call = phone.Call(wire, base_url, None, base)  # the wire signs Twilio's recorded parameters
    try:
        call.start(first.path)
        while not call.ended and (params := wire.next_params()) is not None:
            _act(call, wire, params)
    except _Diverged:
        pass
    except phone.LineError as e:
        broken = True
        wire.changes.append(Change(max(wire.index, 1), wire.exchanges_now[-1].path if wire.exchanges_now else first.path,
                                   f"the caller would suffer: {e}"))
        wire.diverged = True
    left = len(fixture.exchanges) - wire.index
    if left > 0 and (update or not wire.diverged):
        wire.changes.append(Change(wire.index + 1, fixture.exchanges[wire.index].path,
                                   f"the call now ends before this step; before, it had {left} more step(s)"))
    broken = broken or any(c.what.startswith("the line answered HTTP") for c in wire.changes)
    return Result(fixture, wire.changes, call.transcript, wire.exchanges_now, broken)


def _act(call: phone.Call, wire: _ReplayTransport, params: dict) -> None:
    """Do what the caller did before the next recorded request."""
    if call.waiting == "dial":
        call.dial_outcome(params.get("DialCallStatus") or "completed")
        return
    digits = params.get("Digits", "")
    before = wire.index
    for key in digits:
        if wire.index != before:
            raise phone.LineError(f"the line answered after fewer keys than {digits!r}")
        call.press(key)
    if wire.index == before:  # still listening: the Gather ended on its finish key or on silence
        finish = params.get("FinishedOnKey", "")
        if finish and finish == call.listening.get("finishOnKey"):
            call.press(finish)
        else:
            call.silence()


def run(paths, transport: phone.Transport, base_url: str = BASE_URL, auth_token: str | None = None,
        update: bool = False, set_clock=None) -> list[Result]:
    """`set_clock(when)` sets the in-process line's clock to a fixture's time (None: real time)."""
    results = []
    for file in files(paths):
        fixture = load(file, clock_required=not update)
        if fixture.clock is None:  # --update of a hand-written file: it is played at this hour
            fixture.clock = datetime.datetime.now(BRUSSELS).replace(minute=0, second=0, microsecond=0)
        if set_clock is not None:
            set_clock(fixture.clock)
        result = replay(fixture, transport, base_url, auth_token, update)
        if update and not result.broken and (not result.passed or not _has_clock(file)):
            fixture.exchanges = result.exchanges_now
            save(fixture)
        results.append(result)
    return results


def _has_clock(file: Path) -> bool:
    return load(file, clock_required=False).clock is not None
