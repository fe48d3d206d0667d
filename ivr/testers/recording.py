"""Recording real calls as fixtures (IVR_RECORD_DIR).

With IVR_RECORD_DIR set, every webhook the line answers is appended, with the TwiML it answered,
to one file per call in that folder: the format `ivr.testers.fixtures` reads and `python -m ivr replay`
replays. Before anything reaches the disk the caller's and the line's numbers (in any written
form), CallSid, AccountSid and the caller's location are replaced by the simulated phone's
placeholders, and parameters that may encode them (CallToken...) are dropped.

Several workers may answer steps of the same call. Twilio waits for each answer before the next
request, so steps arrive in order; each is appended to the call's file under an exclusive lock.
The file name is an HMAC of the CallSid with a random key kept in the folder (`.key`), so every
worker finds the same file and the name says nothing about the call: delete `.key` and the names
can no longer be linked to Twilio's call logs.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from pathlib import Path

import phonenumbers
from flask import Flask, request

from ..ops.logs import outside, redact_numbers
from . import phone
from .fixtures import BASE_URL, dump_exchange

log = logging.getLogger(__name__)

# Parameters that identify the call, replaced by the placeholders the simulated phone uses.
PLACEHOLDERS = {
    "From": phone.CALLER, "Caller": phone.CALLER, "To": phone.LINE_NUMBER, "Called": phone.LINE_NUMBER,
    "CallSid": phone.CALL_SID, "AccountSid": phone.ACCOUNT_SID,
    "DialCallSid": "CA" + "1" * 32, "ParentCallSid": "CA" + "2" * 32,
    "ForwardedFrom": phone.CALLER, "CallerName": "",
    # Where the caller is: personal data, emptied.
    "FromCity": "", "FromState": "", "FromZip": "", "CallerCity": "", "CallerState": "", "CallerZip": "",
}
# Signed tokens that carry the caller's identity in an encoded form no search would find.
DROPPED = {"CallToken", "StirPassportToken"}
SID = re.compile(r"\b(CA|AC)[0-9a-fA-F]{32}\b")


def enable(app: Flask) -> None:
    """Record the webhooks of this app when RECORD_DIR (IVR_RECORD_DIR) is set."""
    app.config.setdefault("RECORD_DIR", os.environ.get("IVR_RECORD_DIR", ""))
    if not app.config["RECORD_DIR"]:
        return
    folder = Path(app.config["RECORD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    log.warning("IVR_RECORD_DIR: recording every call's webhooks (numbers replaced) in %s", folder)

    @app.after_request
    def record(response):
        # Only answered webhooks of a call: forged requests (403) must not fill the disk.
        if response.status_code == 200 and request.path.startswith("/voice") and request.form.get("CallSid"):
            try:
                # The host in the line's URLs (recordings) is the deployment's: written as BASE_URL.
                answer = response.get_data(as_text=True).replace(request.host_url.rstrip("/"), BASE_URL)
                _append(folder, request.full_path if request.query_string else request.path,
                        request.method, request.form.to_dict(), answer, app.config["CLOCK"]())
            except OSError as e:  # the folder is gone, full, or not ours to write: say so, once a minute
                _cannot_write(folder, e)
            except Exception:  # recording must never cost the caller their answer
                log.exception("could not record a step at %s", request.path)
        return response


_WARNED_AT: dict[str, float] = {}  # folder -> when this worker last said it cannot write there
WARN_EVERY_SECONDS = 60.0


def _cannot_write(folder: Path, error: OSError) -> None:
    now = time.monotonic()
    last = _WARNED_AT.get(str(folder))
    if last is not None and now - last < WARN_EVERY_SECONDS:
        return
    _WARNED_AT[str(folder)] = now
    # No traceback: the reason is the system's (errno), and the step's data stays out of the log.
    log.warning("IVR_RECORD_DIR: cannot write in %s (%s); calls are answered but not recorded "
                "(said at most once a minute)", folder, error.strerror or type(error).__name__)


# Twilio's parameters that hold no personal data and look like numbers to the redactor.
NOT_NUMBERS = {"ApiVersion"}  # 2010-04-01


def scrub(params: dict, text: str, path: str = "") -> tuple[dict, str, str]:
    """The request's parameters, the answer and the request's path with every identifying value
    replaced: the caller's and the line's numbers however they are written or escaped, in every
    parameter; any other phone number in a parameter or the path is blanked ([number]). The
    answer keeps the helplines' numbers, which replaying it compares."""
    numbers = [(params.get(name, ""), phone.CALLER) for name in ("From", "Caller", "ForwardedFrom")]
    numbers += [(params.get(name, ""), phone.LINE_NUMBER) for name in ("To", "Called")]
    patterns = [(p, placeholder) for number, placeholder in numbers if (p := _any_form(number))]

    def clean(value: str) -> str:
        for pattern, placeholder in patterns:
            value = pattern.sub(placeholder, value)
        value = SID.sub(lambda m: phone.CALL_SID if m.group(1).upper() == "CA" else phone.ACCOUNT_SID, value)
        return value

    cleaned = {}
    for name, value in params.items():
        if name in DROPPED:
            continue
        if name in PLACEHOLDERS:
            cleaned[name] = PLACEHOLDERS[name]
        else:
            value = clean(value)
            cleaned[name] = value if name in NOT_NUMBERS else _other_numbers(value)
    return cleaned, clean(text), _other_numbers(clean(path))


_PLACED = re.compile("|".join(re.escape(p) for p in (phone.CALLER, phone.LINE_NUMBER)))


def _other_numbers(value: str) -> str:
    """Numbers blanked, the placeholders put in their place kept (a replay reads them)."""
    return outside(_PLACED, value, redact_numbers)


def _digit(d: str) -> str:
    return f"(?:{d}|%(?:25)*3{d})"  # as written, or percent-escaped (%34, %2534...)


# Between two digits: spaces, dots, slashes, dashes, brackets, "+" (a space in a form body), and
# the same percent-escaped, once or more (%20, %2520, %2F...).
_SEP = r"(?:[\s./()+-]|%(?:25)*(?:20|2[BbDdEeFf]|28|29|09))*"


def _any_form(number: str):
    """A pattern for a number however it is written or escaped: +32 470 12 34 56, 0032470123456,
    32470123456, 0470/12.34.56, %2B32%20470..., 4 7 0 1 2... (the national digits with any
    separators, any prefix)."""
    digits = re.sub(r"\D", "", number or "")
    if len(digits) < 6:  # anonymous or withheld callers: nothing to find
        return None
    try:
        parsed = phonenumbers.parse(number, "BE")
        national, country = str(parsed.national_number), str(parsed.country_code)
    except phonenumbers.NumberParseException:
        national, country = digits, ""
    sep = _SEP
    prefix = f"(?:{_digit('0')}{sep})"
    if country:
        plus = r"(?:\+|%(?:25)*2[Bb]|" + _digit("0") + _digit("0") + ")"
        prefix = (f"(?:(?:{plus}{sep})?{sep.join(map(_digit, country))}{sep}(?:{_digit('0')}{sep})?"
                  f"|{_digit('0')}{sep})")
    return re.compile(r"(?<!\d)" + prefix + "?" + sep.join(map(_digit, national)) + r"(?!\d)")


def _key(folder: Path) -> bytes:
    path = folder / ".key"
    if not path.exists():
        # Written whole under another name, then linked: a worker never reads half a key, and
        # when two workers race, the first link wins and both use its key.
        draft = folder / f".key.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            draft.write_text(secrets.token_hex(32))
            draft.chmod(0o600)
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink(missing_ok=True)  # never left behind, even when the disk refused it
    return path.read_text().strip().encode()


def file_for(folder: Path, call_sid: str) -> Path:
    name = hmac.new(_key(folder), call_sid.encode(), hashlib.sha256).hexdigest()[:16]
    return folder / f"call-{name}.yaml"


def _append(folder: Path, path: str, method: str, params: dict, answer: str, now: dt.datetime) -> None:
    target = file_for(folder, params["CallSid"])
    params, answer, path = scrub(params, answer, path)
    # Readable by the owner only; the hour alone is kept, so a file cannot be matched to one call
    # in Twilio's call log by its start time.
    hour = now.replace(minute=0, second=0, microsecond=0)
    header = (f"# Recorded by the line (IVR_RECORD_DIR); numbers and ids are placeholders.\n"
              f"# Replay: python -m ivr replay FILE. Format: docs/testing.md\n"
              f"call: recorded {hour.strftime('%Y-%m-%d %H:00')}\n"
              f"clock: '{hour.isoformat(timespec='minutes')}'\nsteps:\n").encode()
    step = dump_exchange(path, method, params, answer).encode("utf-8")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size  # checked under the lock: one header per call
        try:
            _write_all(fd, step if size else header + step)
        except OSError:
            # A full disk or a size limit: take back what was written of this step, and a file
            # this step created is removed rather than left empty or half a header.
            os.ftruncate(fd, size)
            if size == 0:
                os.unlink(target)
            raise
    finally:
        os.close(fd)  # also lets the lock go


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
