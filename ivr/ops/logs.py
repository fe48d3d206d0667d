"""Logs that say what the line does and never who called.

- `write_webhook_line`: one JSON line per webhook on stdout, with a short call id that is
  a keyed hash of the CallSid: lines of one call can be followed, but the id cannot be turned back
  into the CallSid, and it says nothing about the phone number.
- `Redacting`: a formatter for every other log line (errors, tracebacks, gunicorn's own, any
  library's), which blanks anything that looks like a phone number or a Twilio SID before it is
  written, in case an exception message ever carries one; `setup_error_log` puts it on every
  handler, with a limit on warnings repeated (`_Repeats`).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import sys
import time
from urllib.parse import unquote

# A phone number in any of its usual forms (+32 470 12 34 56, 0470/12.34.56, 32470123456,
# +32 (0)470...): eight digits or more (a Belgian number without its 0 has 8 or 9), one separator
# at most between two digits. Menu state (at=3.1), latencies and "port (pid)" never match.
_PHONE = re.compile(r"\+?\d(?:[ ./-]?\d){7,}|\+?\d{2,3} ?\(0\) ?\d(?:[ ./-]?\d){6,}")
# Twilio SIDs: CallSid (CA...), AccountSid (AC...), and any other two letters + 32 hex digits.
_SID = re.compile(r"\b[A-Z]{2}[0-9a-fA-F]{32}\b")


# A number written into a URL or a form body: %2B32%20470%2012..., +32+470+12... (a space as "+"),
# even escaped twice (%252B32...), or half escaped (%2B32%20470 12%2034: plain spaces count in a
# run, so the run is read whole). gunicorn's own warnings quote a bad request line as it came.
_ESCAPED_RUN = re.compile(r"(?:%(?:25)*[0-9A-Fa-f]{2}|[\d+./() -])+")


def _unescaped_number(match: re.Match) -> str:
    run = match.group()
    if "%" not in run and "+" not in run[1:]:
        return run  # nothing escaped: the plain pattern below decides
    text = run
    for _ in range(3):  # escaped once, twice or three times
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    for candidate in (text, text.replace("+", " "), "+" + text[1:].replace("+", " ") if text[:1] == "+" else ""):
        if candidate and _PHONE.search(candidate):
            core = run.strip(" ")  # the spaces around the run stay where they were
            return run[:run.index(core)] + "[number]" + run[run.index(core) + len(core):]
    return run


def redact(text: str) -> str:
    if "%" in text or "+" in text:
        text = _ESCAPED_RUN.sub(_unescaped_number, text)
    return _blank_numbers(_SID.sub("[sid]", text))


# Hashes the line writes (a menu's version, 12 hex digits; digests): a run of their digits is not
# a phone number. A word of 12 to 64 hex digits with a letter in it, or 12 after "version " or
# "replaces " (the reload lines), even when all its digits happen to be 0-9.
_HASH = re.compile(r"(?<![0-9A-Za-z])(?:(?=[0-9a-f]*[a-f])[0-9a-f]{12,64}|(?<=version )[0-9a-f]{12}|(?<=replaces )[0-9a-f]{12})(?![0-9A-Za-z])")


def outside(kept: re.Pattern, text: str, change) -> str:
    """`change` applied to the text between the matches of `kept`, the matches left as they are."""
    pieces, last = [], 0
    for found in kept.finditer(text):
        pieces += [change(text[last:found.start()]), found.group()]
        last = found.end()
    return "".join(pieces) + change(text[last:])


def _blank_numbers(text: str) -> str:
    return outside(_HASH, text, lambda part: _PHONE.sub("[number]", part))


def redact_numbers(text: str) -> str:
    """`redact` for phone numbers alone: Twilio SIDs are kept as they are, and never read as numbers
    (for the testers' recordings, which keep a call's SIDs as placeholders)."""
    return outside(_SID, text, _numbers)


def _numbers(text: str) -> str:
    if "%" in text or "+" in text:
        text = _ESCAPED_RUN.sub(_unescaped_number, text)
    return _PHONE.sub("[number]", text)


class Redacting(logging.Formatter):
    """The standard formatter, with numbers and SIDs blanked from the message and the traceback
    (not from the time stamp in front, which would look like a number)."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)
        message = record.getMessage()
        if len(message) > MAX_MESSAGE:  # a header or a body quoted whole: 8 KB a line, each request
            message = message[:MAX_MESSAGE] + f"... [{len(message) - MAX_MESSAGE} characters left out]"
        if getattr(record, "left_out", 0):
            message += f" [and {record.left_out} more like this in the last minute, left out]"
        record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = redact(self.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return super().format(record)


def webhook_words(**words: str | None) -> str:
    """The middle of a webhook's JSON line (step, language, key, outcome), encoded once for every
    request that got the same answer."""
    return _json(words)[1:-1]


def write_webhook_line(call: str | None, words: str, status: int, seconds: float) -> None:
    """One JSON line on stdout for one webhook, written and flushed at once (a worker may be killed
    at any moment; a line left in a buffer is lost). Written directly rather than through
    `logging`: its records, handlers and formatter cost more than the rest of the webhook's
    accounting. Every value is a closed word (step, outcome, language code, key), a number, or the
    call id, a hexadecimal hash: nothing a request chooses, so there is nothing to redact (and the
    redactor took call ids with 8 digits in a row for phone numbers)."""
    global _second
    now = time.time()
    second = int(now)
    stamp = _second  # one read: another thread may replace it meanwhile
    if stamp[0] != second:  # the date and time change once a second: format them then
        stamp = _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    out = sys.stdout
    out.write(f'{{"time":"{stamp[1]}.{int(now * 1000) % 1000:03d}Z","call":{_json(call)},{words},'
              f'"status":{int(status)},"ms":{seconds * 1000:.1f}}}\n')
    out.flush()


_second = (-1, "")
# json.dumps builds a new encoder on every call that passes options; one is enough.
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class _Std(logging.StreamHandler):
    """Writes to whatever sys.stdout or sys.stderr is at the time (test runners swap them)."""

    def __init__(self, name: str):
        self.name_of_stream = name
        super().__init__()

    @property
    def stream(self):
        return getattr(sys, self.name_of_stream)

    @stream.setter
    def stream(self, value):
        pass


MAX_MESSAGE = 2000  # characters of one message (its traceback apart)


class _Repeats(logging.Filter):
    """Warnings of one kind (the same logger and message, whatever its values) are written at most
    PER_MINUTE times a minute; the first written after that says how many were left out. A
    forged or broken request logs a warning each time: 1,000 of them wrote 16 MB in a second.
    Errors are always written."""

    PER_MINUTE = 10

    def __init__(self):
        super().__init__()
        self.seen: dict[tuple, list] = {}  # kind -> [minute started, written, left out]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        kind = (record.name, str(record.msg)[:200])
        now = time.monotonic()
        seen = self.seen.get(kind)
        if seen is None or now - seen[0] >= 60:
            if len(self.seen) > 1000:  # messages that never repeat: forget them all
                self.seen.clear()
            record.left_out = seen[2] if seen else 0
            self.seen[kind] = [now, 1, 0]
            return True
        if seen[1] < self.PER_MINUTE:
            seen[1] += 1
            return True
        seen[2] += 1
        return False


_REPEATS = _Repeats()


def setup_error_log() -> None:
    """Every log line of the process goes to stderr through the redactor and the limit on repeats:
    the line's own (the "ivr" loggers, Flask's app.logger) and any library's, through one handler
    on the root logger. Without it, a library's warning was written by Python's last-resort
    handler as it came: twilio-python's RequestValidator quotes the algorithm a request names in
    X-Twilio-Webhooks-Signature-Settings, number and all. Handlers others set up (gunicorn's) are
    made to redact and limit repeats too."""
    root = logging.getLogger()
    if not any(isinstance(handler, _Std) for handler in root.handlers):
        handler = _Std("stderr")
        handler.setFormatter(Redacting("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    ours = logging.getLogger("ivr")  # also Flask's app.logger, named after the package
    if ours.level == logging.NOTSET:
        ours.setLevel(logging.INFO)
    for logger in (root, logging.getLogger("gunicorn.error")):
        for handler in logger.handlers:
            if not isinstance(handler, _Std) and logger is root:
                continue  # handlers a host or a test runner put on the root logger are theirs
            if not isinstance(handler.formatter, Redacting):
                fmt = handler.formatter._fmt if handler.formatter else None
                datefmt = handler.formatter.datefmt if handler.formatter else None
                handler.setFormatter(Redacting(fmt, datefmt))
            if _REPEATS not in handler.filters:
                handler.addFilter(_REPEATS)


def call_id_key(auth_token: str) -> bytes:
    """The key for call ids: IVR_LOG_KEY, else derived from the auth token (so every worker on every
    host gives a call the same id), else random (development: ids only hold within one process)."""
    configured = os.environ.get("IVR_LOG_KEY", "")
    if configured:
        return hashlib.sha256(configured.encode()).digest()  # any length in, a BLAKE2 key (<= 64 bytes) out
    if auth_token:
        return hmac.new(auth_token.encode(), b"ivr call id", hashlib.sha256).digest()
    return os.urandom(32)


def call_id(key: bytes, call_sid: str) -> str | None:
    """10 hex digits of BLAKE2b keyed with `key` over the CallSid: enough to follow a call, useless
    to find it. BLAKE2's own keyed mode is a MAC, and a third of the cost of HMAC-SHA256 through
    OpenSSL, which sets itself up again on every call."""
    if not call_sid:
        return None
    return hashlib.blake2b(call_sid.encode("utf-8", "replace"), key=key, digest_size=5).hexdigest()
