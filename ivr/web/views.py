"""HTTP only: Twilio's webhooks in, TwiML out.

Every request must carry a valid X-Twilio-Signature. The call's state travels in the URL (see
`step_url`), so any worker on any host can answer any step. Whatever a request holds, a caller
gets TwiML, never a 5xx: malformed state puts them back on a menu, an exception is apologised for.
"""
from __future__ import annotations

import datetime
import logging
import re
from typing import Callable
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, g, request
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from ..call import flow, twiml
from ..call.flow import Step
from ..menus.load import KEYPAD
from ..menus.model import BRUSSELS
from ..menus.numbers import is_toll_free, to_e164
from . import answers
from .media import media_url
from .signature import is_from_twilio, signature_algorithm

log = logging.getLogger(__name__)

bp = Blueprint("voice", __name__)
TWIML_TYPE = "text/xml; charset=utf-8"
SILENCES = re.compile(r"[0-9]{1,2}")  # ASCII digits only: str.isdigit() also takes "²"


def line():
    """The line this request is answered from: read once, so a reload in the middle of a request
    cannot give it half the old menus and half the new."""
    store = g._get_current_object()
    the_line = store.get("ivr_line")
    if the_line is None:
        the_line = store.ivr_line = current_app.extensions["ivr"].serving()
    return the_line


def step_url(step: Step) -> str:
    """The URL Twilio calls back for a step: the path names the action, the query the state."""
    query = []
    if step.action in ("language", "language_key"):
        path = "/voice/language" if step.action == "language" else "/voice/language/key"
    else:
        path = f"/voice/{step.language}/{step.action}"
        if step.at:
            query.append("at=" + ".".join(step.at))
        if step.node_id:
            query.append("id=" + step.node_id)
        if step.helpline:
            query.append("line=" + step.helpline)
    if step.silences:
        query.append(f"n={step.silences}")
    if step.after_error:
        query.append("e=1")
    # "*" and "#" are keys; in a query string they must be escaped.
    return path + ("?" + "&".join(query).replace("*", "%2A").replace("#", "%23") if query else "")


# The request's parts are read through `req = request._get_current_object()`, once per view:
# every use of Flask's `request` proxy costs a context lookup, and a webhook made dozens.

def silences(args) -> int:
    value = args.get("n", "0")
    return int(value) if SILENCES.fullmatch(value) else 0


def at_keys(args) -> tuple[str, ...] | None:
    """The key path from the URL; None when it cannot be a path (the caller goes to the main menu)."""
    value = args.get("at", "")
    if not value:
        return ()
    keys = tuple(value.split("."))
    if len(keys) > flow.MAX_DEPTH or not all(len(k) == 1 and k in KEYPAD for k in keys):
        return None
    return keys


def digits(params) -> str:
    """One keypad key, '' for silence, or '?' for anything else (treated as a wrong key)."""
    value = params.get("Digits", "")
    if value == "":
        return ""
    return value if len(value) == 1 and value in KEYPAD else "?"


def _answer(req, the_line, decide: Callable[[datetime.datetime], flow.Reply]) -> Response:
    """Answer with `decide(now)`'s reply, or with the answer an identical request got this minute.

    The key holds everything the views and `_caller_id` read from a request (see ivr.web.answers):
    a view that reads anything more must add it here."""
    params = req.params
    app = current_app._get_current_object()
    now = app.config["CLOCK"]()
    local = now.astimezone(BRUSSELS) if now.tzinfo else now  # as opening hours read the clock
    minute = (local.year, local.month, local.day, local.hour, local.minute)
    # The origin goes into the key: recordings' URLs name it (request.root_url cost ~8 us).
    origin = f"{req.scheme}://{req.host}{req.script_root}"
    key = (req.path, req.query_string, params.get("Digits"), params.get("DialCallStatus"), params.get("To"), origin,
           minute)
    store = answers.store_for(app.extensions, the_line)
    kept = store.decided(key)
    if kept is None:
        reply = decide(now)
        nxt = reply.next
        caller_id = None
        if isinstance(nxt, flow.Transfer):
            caller_id = _caller_id(req)
            if not nxt.show_caller_number and caller_id is None:
                # Twilio would otherwise show the caller's own number to the helpline. Logged once
                # a minute at most for each such request: the answer is kept.
                log.warning("transfer not attempted: no caller ID Twilio accepts (the line's own number is "
                            "toll-free, or unknown); set IVR_TRANSFER_CALLER_ID")
                language = the_line.language(nxt.then.language)
                reply = flow.dialed(the_line, language, nxt.then.at, nxt.then.helpline, "failed", now)
        kept = store.keep_decided(key, minute, reply, store.twiml(reply, step_url, caller_id, media_url, origin))
    g.ivr_decided = kept  # for ivr.ops.observability: what the caller got, counted and logged
    return Response(kept.body, content_type=TWIML_TYPE)


def _caller_id(req) -> str | None:
    configured = current_app.config.get("TRANSFER_CALLER_ID")
    if configured:
        return configured
    line_number = to_e164(req.params.get("To", ""))  # the line's own number, as Twilio reports it
    # Twilio refuses a call out from a Belgian 0800 number: better the caller hears at once that
    # the transfer failed, with the number to dial.
    return None if line_number and is_toll_free(line_number) else line_number


def _url_as_requested(req) -> str:
    """The URL exactly as Twilio asked for it (and signed it): request.url would un-escape
    %2A and the like, so the path and query are taken raw from the server when it gives them."""
    environ = req.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    if not raw.startswith("/"):
        raw = quote(req.script_root + req.path)
        if req.query_string:
            raw += "?" + req.query_string.decode("latin-1")
    return f"{req.scheme}://{req.host}{raw}"


@bp.before_request
def check_signature():
    req = request._get_current_object()
    config = current_app.config
    # Read the body first, whatever the route or mode: one over MAX_CONTENT_LENGTH is refused with
    # 413. A form body is read by parsing it (ivr.web.request), and get_data then finds it kept.
    req.max_content_length = config["MAX_CONTENT_LENGTH"]  # what Flask would look up in current_app
    params = req.params  # the body parsed here, where one over the limit is refused
    req.get_data(cache=True)
    if config.get("ALLOW_UNSIGNED"):
        # Local development only: never answer the network without signatures.
        if req.remote_addr not in ("127.0.0.1", "::1"):
            abort(403)
        g.ivr_signed = True
        return None
    environ = req.environ
    signature = environ.get("HTTP_X_TWILIO_SIGNATURE", "")  # X-Twilio-Signature, without werkzeug's Headers
    # A Webhook Rule of the account signs with one of its SharedKeys and says so in this header
    # (key=<id>,algorithm=HMAC_SHA256); without it, the auth token and HMAC-SHA1.
    settings = environ.get("HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS")
    if settings is None:
        keys, algorithm = (config["TWILIO_AUTH_TOKEN"],), None
    else:
        keys, algorithm = config["WEBHOOK_SHARED_KEYS"], signature_algorithm(settings)
        if not keys:
            log.warning("refused a webhook signed with a Twilio SharedKey (X-Twilio-Webhooks-Signature-Settings): "
                        "set IVR_WEBHOOK_SHARED_KEYS to its secret")
    # Twilio never repeats a parameter; the signature covers a repeated one's values in any order,
    # so a captured request could be replayed with them swapped. Refuse them.
    signed = len(req.parameters()) == len(params)
    if signed:
        try:
            url = _url_as_requested(req)
            signed = any(is_from_twilio(key, url, params, signature, algorithm) for key in keys)
        except Exception:  # a URL rebuilt from a forged Host or X-Forwarded-* the validator cannot parse
            signed = False
    if not signed:
        log.warning("refused a webhook without a valid Twilio signature: %s %s", req.method, req.path)
        abort(403)
    g.ivr_signed = True
    return None


@bp.route("/voice", methods=["POST"])
def incoming():
    req, the_line = request._get_current_object(), line()
    code = current_app.config["LANGUAGE_BY_NUMBER"].get(to_e164(req.params.get("To", "")) or "")
    return _answer(req, the_line, lambda now: flow.incoming(the_line, now, code))


@bp.route("/voice/language", methods=["POST"])
def language_choice():
    req, the_line = request._get_current_object(), line()
    return _answer(req, the_line, lambda now: flow.language_choice(the_line, silences(req.args), now))


@bp.route("/voice/language/key", methods=["POST"])
def language_key():
    req, the_line = request._get_current_object(), line()
    return _answer(req, the_line, lambda now: flow.language_key(the_line, digits(req.params), silences(req.args), now))


@bp.route("/voice/<code>/<any(node, key, dialed):action>", methods=["POST"])
def step(code: str, action: str):
    req, the_line = request._get_current_object(), line()
    return _answer(req, the_line, lambda now: _step(req, the_line, code, action, now))


def _step(req, the_line, code: str, action: str, now) -> flow.Reply:
    args = req.args
    language = the_line.language(code)
    if language is None:
        return flow.language_choice(the_line, 0, now)
    at = at_keys(args)
    if at is None or ("id" in args and args["id"] != language.node_id(at)):
        return flow.menu_changed(the_line, language, now)
    if action == "node":
        return flow.node(the_line, language, at, silences(args), now)
    if action == "key":
        return flow.key(the_line, language, at, silences(args), digits(req.params), now)
    return flow.dialed(the_line, language, at, args.get("line"), req.params.get("DialCallStatus", ""), now)


@bp.errorhandler(Exception)
def technical_problem(error):
    if isinstance(error, HTTPException):
        return error
    if not g.get("ivr_signed"):  # failed before the signature was known good: nothing to apologise to
        log.warning("refused a webhook that failed before its signature was checked: %s", request.path)
        return Response("forbidden\n", 403, mimetype="text/plain")
    g.ivr_error = True
    # Never the request's form: it holds the caller's number.
    log.exception("webhook failed at %s", request.path)
    try:
        the_line = line()
        parts = request.path.split("/")
        language = the_line.language(parts[2]) if len(parts) > 3 else None
        reply = flow.technical_problem(the_line, language, again=request.args.get("e") == "1")
        g.ivr_reply = reply
        return Response(twiml.render(the_line, reply, step_url, None, media_url), content_type=TWIML_TYPE)
    except Exception:  # the menu model itself is unusable: still answer the caller
        log.exception("could not even apologise at %s", request.path)
        # Nothing of the menus can be trusted here, so this is written in the code, in the two
        # languages the line was built for.
        response = VoiceResponse()
        response.say("En cas de danger, raccrochez et appelez le 1 1 2.", voice="Polly.Isabelle-Neural", language="fr-BE")
        response.say("Bij gevaar, leg in en bel 1 1 2.", voice="Polly.Lisa-Neural", language="nl-BE")
        response.hangup()
        return Response(str(response), mimetype="text/xml")
