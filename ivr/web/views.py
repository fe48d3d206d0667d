"""HTTP only: Twilio's webhooks in, TwiML out.

Every request must carry a valid X-Twilio-Signature. The call's state travels in the URL (see
`step_url`), so any worker on any host can answer any step. Whatever a request holds, a caller
gets TwiML, never a 5xx: malformed state puts them back on a menu, an exception is apologised for.

What the web layer hands to ivr.ops.observability, on the request (ivr.web.request): its
`webhook` (the Webhook read once the request was known to be Twilio's) and its `reply` (the
flow's Reply, whose events say what happened to the caller). Nothing else.
"""
from __future__ import annotations

import logging
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, request
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from ..call import flow, twiml
from ..call.events import TechnicalProblem
from ..call.flow import Step
from ..menus.model import Line
from ..menus.numbers import is_toll_free, to_e164
from . import answers
from .media import media_url
from .signature import is_from_twilio, signature_algorithm
from .webhook import Webhook

log = logging.getLogger(__name__)

bp = Blueprint("voice", __name__)
TWIML_TYPE = "text/xml; charset=utf-8"


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
    if step.defaulted:
        query.append("d=1")
    # "*" and "#" are keys; in a query string they must be escaped.
    return path + ("?" + "&".join(query).replace("*", "%2A").replace("#", "%23") if query else "")


def decide(line: Line, webhook: Webhook, language_by_number: dict[str, str]) -> flow.Reply:
    """What the flow answers this webhook: from the Webhook and the line alone."""
    now, step = webhook.minute, webhook.step
    if step == "incoming":
        return flow.incoming(line, now, language_by_number.get(to_e164(webhook.to) or ""))
    if step == "language":
        return flow.language_silence(line, webhook.silences, now)
    if step == "language_key":
        return flow.language_key(line, webhook.digits, webhook.silences, now)
    language = line.language(webhook.language)
    if language is None:
        return flow.language_choice(line, 0, now)
    at = webhook.at
    if at is None or (webhook.node_id is not None and webhook.node_id != language.node_id(at)):
        return flow.menu_changed(line, language, now)
    if step == "node":
        return flow.silence(line, language, at, webhook.silences, now, webhook.defaulted)
    if step == "key":
        return flow.key(line, language, at, webhook.silences, webhook.digits, now, webhook.defaulted)
    if step == "others":
        return flow.others(line, language, at, webhook.helpline, webhook.digits, now)
    return flow.dialed(line, language, at, webhook.helpline, webhook.dial_status, now, webhook.dial_seconds)


def answer(**route) -> Response:
    """Every webhook's view: the answer `decide` gives, or the one an identical request got this
    minute (ivr.web.answers, keyed on the Webhook). The route's step and language are read into
    the Webhook with the rest, so nothing else of the request is passed on."""
    req = request._get_current_object()
    app = current_app._get_current_object()
    webhook = req.webhook = twilios_webhook(req, app.config)  # or 403: nothing is read before
    line = app.extensions["ivr"].serving()  # read once: a reload mid-request cannot mix two menus
    kept_answers = answers.answers_for(app.extensions, line)
    kept = kept_answers.get(webhook)
    if kept is None:
        config = app.config
        reply = decide(line, webhook, config["LANGUAGE_BY_NUMBER"])
        caller_id = None
        if isinstance(reply.next, flow.Transfer):
            caller_id = _caller_id(config.get("TRANSFER_CALLER_ID"), webhook.to)
            if not reply.next.show_caller_number and caller_id is None:
                # Twilio would otherwise show the caller's own number to the helpline. Logged once
                # a minute at most for each such request: the answer is kept.
                log.warning("transfer not attempted: no caller ID Twilio accepts (the line's own number is "
                            "toll-free, or unknown); set IVR_TRANSFER_CALLER_ID")
                reply = flow.transfer_not_attempted(line, reply.next, webhook.minute)
        body = kept_answers.twiml(reply, step_url, caller_id, media_url, webhook.origin)
        kept = kept_answers.keep(webhook, reply, body)
    req.reply = kept.reply  # for ivr.ops.observability: what happened to the caller, counted and logged
    return Response(kept.body, content_type=TWIML_TYPE)


def _caller_id(configured: str | None, to: str) -> str | None:
    if configured:
        return configured
    line_number = to_e164(to)  # the line's own number, as Twilio reports it
    # Twilio refuses a call out from a Belgian 0800 number: better the caller hears at once that
    # the transfer failed, with the number to dial.
    return None if line_number and is_toll_free(line_number) else line_number


def _path_as_requested(req) -> str:
    """The path and query exactly as Twilio asked for them (and signed them): request.url would
    un-escape %2A and the like, so they are taken raw from the server when it gives them."""
    environ = req.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    if not raw.startswith("/"):
        raw = quote(req.script_root + req.path)
        if req.query_string:
            raw += "?" + req.query_string.decode("latin-1")
    return raw


def twilios_webhook(req, config) -> Webhook:
    """The request read as a Webhook, once known to be Twilio's: any other is refused (403; a body
    over MAX_CONTENT_LENGTH, 413)."""
    # Read the body first, whatever the route or mode: one over MAX_CONTENT_LENGTH is refused with
    # 413. A form body is read by parsing it (ivr.web.request), and get_data then finds it kept.
    req.max_content_length = config["MAX_CONTENT_LENGTH"]  # what Flask would look up in current_app
    params = req.params  # the body parsed here, where one over the limit is refused
    req.get_data(cache=True)
    site = f"{req.scheme}://{req.host}"  # as the proxies in front say (ProxyFix), when trusted
    if config.get("ALLOW_UNSIGNED"):
        # Local development only: never answer the network without signatures.
        if req.remote_addr not in ("127.0.0.1", "::1"):
            abort(403)
        return _read(req, params, site, config)
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
            url = site + _path_as_requested(req)
            signed = any(is_from_twilio(key, url, params, signature, algorithm) for key in keys)
        except Exception:  # a URL rebuilt from a forged Host or X-Forwarded-* the validator cannot parse
            signed = False
    if not signed:
        log.warning("refused a webhook without a valid Twilio signature: %s %s", req.method, req.path)
        abort(403)
    return _read(req, params, site, config)


def _read(req, params: dict, site: str, config) -> Webhook:
    view_args = req.view_args
    # The origin is in the Webhook: recordings' URLs name it (request.root_url cost ~8 us).
    return Webhook.read(view_args["step"], view_args.get("language"), req.query_string, params,
                        site + req.script_root, config["CLOCK"]())


# One view for every webhook; the route names the step (observability labels by it, even for a
# request the view refuses). OPTIONS is routed to the view too, where its missing signature gets
# 403: Flask would otherwise answer it itself, 200, with no check at all.
WEBHOOK_METHODS = ["POST", "OPTIONS"]
bp.add_url_rule("/voice", view_func=answer, methods=WEBHOOK_METHODS, defaults={"step": "incoming"})
bp.add_url_rule("/voice/language", view_func=answer, methods=WEBHOOK_METHODS, defaults={"step": "language"})
bp.add_url_rule("/voice/language/key", view_func=answer, methods=WEBHOOK_METHODS, defaults={"step": "language_key"})
bp.add_url_rule("/voice/<language>/<any(node, key, dialed, others):step>", view_func=answer, methods=WEBHOOK_METHODS)


@bp.errorhandler(Exception)
def technical_problem(error):
    if isinstance(error, HTTPException):
        return error
    req = request._get_current_object()
    webhook = req.webhook
    if webhook is None:  # failed before the signature was known good: nothing to apologise to
        log.warning("refused a webhook that failed before its signature was checked: %s", request.path)
        return Response("forbidden\n", 403, mimetype="text/plain")
    # Never the request's form: it holds the caller's number.
    log.exception("webhook failed at %s", request.path)
    req.reply = flow.Reply(events=(TechnicalProblem(None),))  # counted even if what follows fails
    try:
        line = current_app.extensions["ivr"].serving()
        reply = flow.technical_problem(line, line.language(webhook.language), again=webhook.after_error)
        req.reply = reply
        return Response(twiml.render(line, reply, step_url, None, media_url), content_type=TWIML_TYPE)
    except Exception:  # the menu model itself is unusable: still answer the caller
        log.exception("could not even apologise at %s", request.path)
        # Nothing of the menus can be trusted here, so this is written in the code, in the two
        # languages the line was built for.
        response = VoiceResponse()
        response.say("En cas de danger, raccrochez et appelez le 1 1 2.", voice="Polly.Isabelle-Neural", language="fr-BE")
        response.say("Bij gevaar, leg in en bel 1 1 2.", voice="Polly.Lisa-Neural", language="nl-BE")
        response.hangup()
        return Response(str(response), mimetype="text/xml")
