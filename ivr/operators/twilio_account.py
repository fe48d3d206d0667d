"""`python -m ivr twilio connect URL` and `python -m ivr twilio check [URL]`: the account's phone
number pointed at this line, and a preflight of what would make a real call fail, through
twilio-python's REST client (`twilio.rest.Client`).

The account's credentials come from the environment only, never from an option (a command line is
seen by the host's other users and kept in shell history): TWILIO_ACCOUNT_SID with the auth token
the line already has (TWILIO_AUTH_TOKEN), or an API key (TWILIO_API_KEY and TWILIO_API_SECRET,
which can be revoked alone). The number: IVR_TWILIO_NUMBER or --number; without either, the
account's only number. The line's address: the URL argument, or IVR_PUBLIC_URL.

What Twilio stores is read back from its answers, and said in sentences: Twilio's error, a refused
credential or a network that does not reach Twilio in one sentence each (exit status 2), never a
traceback and never the token.
"""
from __future__ import annotations

import json
import os
import sys
from urllib.parse import urlsplit, urlunsplit

import click

from ..menus.numbers import is_toll_free, to_e164

VOICE_PATH = "/voice"
TIMEOUT_SECONDS = 20
COUNTRY = "BE"  # the helplines the line puts callers through to are Belgian numbers
CREDENTIALS = ("set TWILIO_ACCOUNT_SID (the Console's Account Info) and TWILIO_AUTH_TOKEN, "
               "or TWILIO_API_KEY and TWILIO_API_SECRET for an API key of that account")


class Refused(Exception):
    """What the operator can fix, in one sentence; nothing was changed at Twilio."""


def _http_client():
    """twilio's own HTTP client, with a time limit (its default waits for ever)."""
    from twilio.http.http_client import TwilioHttpClient
    return TwilioHttpClient(timeout=TIMEOUT_SECONDS)


def account_client(environ):
    """A twilio.rest.Client for the account the environment names, or Refused."""
    from twilio.rest import Client
    sid = environ.get("TWILIO_ACCOUNT_SID", "").strip()
    key, secret = environ.get("TWILIO_API_KEY", "").strip(), environ.get("TWILIO_API_SECRET", "").strip()
    token = environ.get("TWILIO_AUTH_TOKEN", "").strip()
    if not sid:
        raise Refused(f"No Twilio account to ask: {CREDENTIALS}.")
    if not sid.startswith("AC"):
        raise Refused(f"TWILIO_ACCOUNT_SID is the account's SID, which starts with AC (the Console's Account Info): "
                      f"it starts with {sid[:2]!r} here.")
    if key and secret:
        return Client(key, secret, sid, http_client=_http_client())
    if token:
        return Client(sid, token, http_client=_http_client())
    raise Refused(f"No credentials for the Twilio account {sid}: {CREDENTIALS}.")


def voice_url(line_url: str) -> str:
    """The URL Twilio must request for a new call: the line's address followed by /voice."""
    parts = _https(line_url)
    if parts is None:
        raise Refused(f"The line's address must start with https:// (Twilio sends every caller's number to it): "
                      f"got {line_url!r}.")
    if parts.query or parts.fragment or parts.path.rstrip("/") not in ("", VOICE_PATH):
        # The line is served at the root of its host: the URLs it gives Twilio start at /voice.
        raise Refused(f"The line's address is https:// and its host, nothing after it (its URLs start at "
                      f"{VOICE_PATH}): got {line_url!r}.")
    return urlunsplit(("https", parts.netloc.lower(), VOICE_PATH, "", ""))


def _https(url: str):
    """urlsplit's parts of an https:// URL with a host, or None."""
    try:
        parts = urlsplit(url.strip())
        return parts if parts.scheme == "https" and parts.hostname else None
    except ValueError:  # "https://[oops": urlsplit refuses it
        return None


def _host(url: str | None) -> str | None:
    try:
        return urlsplit(url or "").hostname
    except ValueError:
        return None


def the_number(client, wanted: str | None):
    """The account's IncomingPhoneNumber the line answers: `wanted`, or the account's only one."""
    if wanted:
        e164 = to_e164(wanted)
        if e164 is None:
            raise Refused(f"{wanted!r} is not a phone number: give the line's number as +32..., in IVR_TWILIO_NUMBER or --number.")
        found = [n for n in client.incoming_phone_numbers.list(phone_number=e164, limit=20) if n.phone_number == e164]
        if not found:
            raise Refused(f"{e164} is not a number of the Twilio account {client.account_sid}: check IVR_TWILIO_NUMBER "
                          f"(or --number) and TWILIO_ACCOUNT_SID.")
        return found[0]
    numbers = client.incoming_phone_numbers.list(limit=50)
    if not numbers:
        raise Refused(f"The Twilio account {client.account_sid} has no phone number: buy one in the Console "
                      f"(Phone Numbers), then run this again.")
    if len(numbers) > 1:
        listed = ", ".join(sorted(n.phone_number for n in numbers))
        raise Refused(f"The Twilio account has {len(numbers)} numbers ({listed}): say which one callers dial, "
                      f"with IVR_TWILIO_NUMBER or --number.")
    return numbers[0]


def fallback_sentence(number, line_host: str | None) -> tuple[str, bool]:
    """What Twilio does when the line does not answer, and whether that is a problem."""
    fallback = number.voice_fallback_url
    if not fallback:
        return (f"{number.phone_number} has no fallback URL: when the line is down, callers hear Twilio's error "
                f"message instead of the helplines' numbers. Paste fallback.xml (python -m ivr fallback) into a "
                f"TwiML Bin and give its URL: python -m ivr twilio connect URL --fallback BIN-URL.", True)
    if line_host and _host(fallback) == line_host:
        return (f"{number.phone_number}'s fallback URL, {fallback}, is on the line's own host: when the line is "
                f"down it does not answer either. Put fallback.xml in a TwiML Bin and give its URL with --fallback.", True)
    return f"When the line does not answer, Twilio plays {fallback} ({number.voice_fallback_method or 'POST'}).", False


def connect(client, line_url: str, fallback: str | None, wanted: str | None) -> list[str]:
    """Point the number at the line (its voice URL, POST); set the fallback when one is given."""
    url = voice_url(line_url)
    line_host = _host(url)
    if fallback is not None:
        parts = _https(fallback)
        if parts is None:
            raise Refused(f"The fallback URL must start with https://: got {fallback!r}.")
        if parts.hostname.lower() == line_host:
            raise Refused(f"The fallback URL is on the line's own host ({line_host}): Twilio asks it when the line "
                          f"does not answer, so it must live elsewhere. Paste fallback.xml into a TwiML Bin and give "
                          f"its URL. Nothing was changed.")
    number = the_number(client, wanted)
    if number.trunk_sid:
        raise Refused(f"A SIP trunk ({number.trunk_sid}) handles {number.phone_number}'s calls, so Twilio would ignore "
                      f"a voice URL: take the number off the trunk in the Console first. Nothing was changed.")
    changes = {"voice_url": url, "voice_method": "POST"}
    said = []
    if number.voice_application_sid:  # a TwiML App's URLs win over the number's own
        changes["voice_application_sid"] = ""
        said.append(f"{number.phone_number} was handled by the TwiML App {number.voice_application_sid}: no longer.")
    if fallback is not None:
        changes.update(voice_fallback_url=fallback.strip(), voice_fallback_method="POST")
    updated = client.incoming_phone_numbers(number.sid).update(**changes)
    said.insert(0, f"{updated.phone_number} now sends its calls to {updated.voice_url} ({updated.voice_method}).")
    said.append(fallback_sentence(updated, line_host)[0])
    return said


def problems(client, environ, line_url: str | None, wanted: str | None) -> tuple[list[str], list[str]]:
    """(what is fine, what would make a real call or its transfer fail), each a sentence."""
    fine, wrong = [], []
    expected = voice_url(line_url) if line_url else None
    number = the_number(client, wanted)
    line = number.phone_number

    # Where Twilio sends a call.
    if number.trunk_sid or number.voice_application_sid:
        handler = f"a SIP trunk ({number.trunk_sid})" if number.trunk_sid else f"the TwiML App {number.voice_application_sid}"
        wrong.append(f"{line}'s calls go to {handler}, which Twilio uses instead of its voice URL: run python -m ivr "
                     f"twilio connect {line_url or 'https://YOUR-HOST'} to send them to the line.")
    elif not number.voice_url:
        wrong.append(f"{line} has no voice URL: its calls reach no line. Run python -m ivr twilio connect "
                     f"{line_url or 'https://YOUR-HOST'}.")
    elif expected and number.voice_url.rstrip("/") != expected:
        wrong.append(f"{line} sends its calls to {number.voice_url}, not to this line ({expected}): run "
                     f"python -m ivr twilio connect {line_url}.")
    elif (number.voice_method or "POST").upper() != "POST":
        wrong.append(f"{line} asks its voice URL with {number.voice_method}: the line answers POST only, so "
                     f"every call would hear Twilio's error. Run python -m ivr twilio connect again.")
    elif expected:
        fine.append(f"{line} sends its calls to this line ({expected}, POST).")
    else:
        fine.append(f"{line} sends its calls to {number.voice_url} ({number.voice_method}); give the line's address "
                    f"(or set IVR_PUBLIC_URL) to check that it is this line's.")
    sentence, bad = fallback_sentence(number, _host(expected or number.voice_url))
    (wrong if bad else fine).append(sentence)

    # The caller ID of transfers (ivr.web.views: IVR_TRANSFER_CALLER_ID, else the line's own number).
    configured = environ.get("IVR_TRANSFER_CALLER_ID", "").strip()
    if configured:
        caller_id = to_e164(configured)
        if caller_id is None:
            wrong.append(f"IVR_TRANSFER_CALLER_ID ({configured!r}) is not a phone number: Twilio would refuse every transfer.")
        elif any(n.phone_number == caller_id for n in client.incoming_phone_numbers.list(phone_number=caller_id, limit=20)):
            fine.append(f"Transfers show {caller_id}, a number of this account.")
        elif any(c.phone_number == caller_id for c in client.outgoing_caller_ids.list(phone_number=caller_id, limit=20)):
            fine.append(f"Transfers show {caller_id}, a verified caller ID of this account.")
        else:
            wrong.append(f"IVR_TRANSFER_CALLER_ID ({caller_id}) is neither a number of this account nor a verified caller "
                         f"ID: Twilio would refuse every transfer. Set it to one of the account's numbers, or verify it "
                         f"(Console: Phone Numbers, Verified Caller IDs).")
    elif is_toll_free(line):
        wrong.append(f"IVR_TRANSFER_CALLER_ID is not set and {line} is toll-free, which Twilio lets no call go out "
                     f"from: the line will not try transfers, callers hear the number to dial instead. Set it to "
                     f"another number of the account.")
    else:
        fine.append(f"Transfers show the line's own number, {line} (IVR_TRANSFER_CALLER_ID is not set).")

    # Calls out to Belgium: the account's voice dialing permissions (Voice Dialing Geographic Permissions).
    country = client.voice.v1.dialing_permissions.countries(COUNTRY).fetch()
    if country.low_risk_numbers_enabled:
        fine.append(f"Calls to {country.name or COUNTRY} are enabled in the account's voice dialing permissions.")
        transfers_fine, transfers_wrong = high_risk_transfers(client, country, environ)
        fine += transfers_fine
        wrong += transfers_wrong
    else:
        wrong.append(f"Calls to {country.name or COUNTRY} are not enabled in the account's voice dialing permissions "
                     f"(Console: Voice, Settings, Geo permissions): every transfer would fail.")
    return fine, wrong


def high_risk_transfers(client, country, environ) -> tuple[list[str], list[str]]:
    """The helplines the menus put callers through to whose numbers Twilio counts as high-risk
    special numbers (premium, shared cost, special services) while the account does not allow them."""
    from .. import MENUS_FILE
    from ..menus.load import inspect
    menus = environ.get("IVR_MENUS") or str(MENUS_FILE)
    line, _ = inspect(menus, environ.get("IVR_PROMPTS") or None)
    if line is None:
        return [], [f"{menus} does not load, so the helplines' transfers were not checked: run python -m ivr check."]
    transfers = {h.transfer: h.name for language in line.languages for h in language.helplines.values() if h.transfer}
    if not transfers:
        return [], []
    if country.high_risk_special_numbers_enabled:
        return [f"High-risk special numbers of {country.name or COUNTRY} are enabled too: no transfer is held back by them."], []
    prefixes = ["+" + "".join(c for c in p.prefix or "" if c.isdigit())
                for p in client.voice.v1.dialing_permissions.countries(COUNTRY).highrisk_special_prefixes.list()]
    wrong = []
    for number, name in sorted(transfers.items()):
        hit = next((p for p in prefixes if len(p) > 1 and number.startswith(p)), None)
        if hit:
            wrong.append(f"Transfers to {name} ({number}) would fail: Twilio counts numbers starting {hit} as high-risk "
                         f"special numbers, which the account's dialing permissions do not allow (Console: Voice, "
                         f"Settings, Geo permissions).")
    if wrong:
        return [], wrong
    return [f"None of the {len(transfers)} numbers the line transfers to is among Twilio's high-risk special numbers."], []


def twilios_error(error) -> tuple[int | None, int | None, str]:
    """(HTTP status, Twilio's error code, its message) of an error twilio's client raised: a
    TwilioRestException, an RFC 9457 TwilioServiceException, or a list's "Unable to fetch page"
    TwilioException that carries the response."""
    status = getattr(error, "status", None)
    if status is not None:
        message = getattr(error, "msg", None) or getattr(error, "detail", None) or getattr(error, "title", None) or ""
        return status, getattr(error, "code", None), message
    response = error.args[1] if len(error.args) > 1 else None
    status = getattr(response, "status_code", None)
    try:
        payload = json.loads(response.text)
    except (AttributeError, TypeError, ValueError):
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    return status, payload.get("code"), str(payload.get("message") or payload.get("detail") or "")


def _say_or_refuse(work):
    """Run `work` and turn what can go wrong talking to Twilio into one sentence (exit status 2)."""
    import requests
    from twilio.base.exceptions import TwilioException
    try:
        return work()
    except Refused as e:
        message = str(e)
    except TwilioException as e:
        status, code, said = twilios_error(e)
        if status == 401:
            message = ("Twilio refused the account's credentials (HTTP 401): check TWILIO_ACCOUNT_SID and "
                       "TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and TWILIO_API_SECRET). Nothing was changed.")
        elif status is not None:
            message = f"Twilio answered HTTP {status}{f' (error {code})' if code else ''}: {said or 'no reason given'}"
            message = message.rstrip(".") + "."
        else:
            message = f"Talking to Twilio's API failed ({type(e).__name__}): run the command again."
    except requests.Timeout:
        message = (f"Twilio's API did not answer within {TIMEOUT_SECONDS} s: run the command again "
                   f"(it is safe to repeat).")
    except requests.ConnectionError:
        message = "Could not reach Twilio's API (the connection failed): check this host's network. Nothing was changed."
    except requests.RequestException as e:
        message = f"Talking to Twilio's API failed ({type(e).__name__}): run the command again."
    click.echo(message, err=True)
    sys.exit(2)


@click.group("twilio")
def twilio_group():
    """Connect the Twilio number to the line, and check what would make real calls fail."""


NUMBER = click.option("--number", envvar="IVR_TWILIO_NUMBER",
                      help="the account's number callers dial (default: IVR_TWILIO_NUMBER, or the account's only number)")


@twilio_group.command("connect")
@click.argument("url", envvar="IVR_PUBLIC_URL")
@click.option("--fallback", help="URL Twilio asks when the line does not answer (a TwiML Bin holding fallback.xml); "
                                 "not on the line's own host")
@NUMBER
def connect_command(url, fallback, number):
    """Send the number's calls to the line at URL (https://YOUR-HOST): its voice URL, with POST."""
    for sentence in _say_or_refuse(lambda: connect(account_client(os.environ), url, fallback, number)):
        click.echo(sentence)


@twilio_group.command("check")
@click.argument("url", required=False, envvar="IVR_PUBLIC_URL")
@NUMBER
def check_command(url, number):
    """Say what would make a real call or its transfer fail: the number's voice and fallback URLs,
    the transfers' caller ID, calls to Belgium in the dialing permissions."""
    fine, wrong = _say_or_refuse(lambda: problems(account_client(os.environ), os.environ, url, number))
    for sentence in fine + wrong:
        click.echo(sentence)
    if wrong:
        click.echo(f"{len(wrong)} problem(s) above would make real calls or transfers fail.")
        sys.exit(1)
    click.echo("OK: nothing found that would make a real call or its transfer fail.")
