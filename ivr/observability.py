"""What operators see: /healthz, /metrics, and one JSON log line per webhook.

`init_app` hooks in around every request: it times the webhook, works out from the request and
the flow's reply (`g.ivr_reply`, set by `ivr.web`) what happened to the caller, counts it in the
metrics and logs it. Nothing here can change what the caller hears: any failure while recording
is itself logged and the answer goes out unchanged.
"""
from __future__ import annotations

import hmac
import logging
import os
import time

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from . import logs, metrics, web
from .flow import Ask, Reply, Step, Transfer
from .model import Language, Line, Page

log = logging.getLogger(__name__)
bp = Blueprint("observability", __name__)

STEPS = {"voice.incoming": "incoming", "voice.language_choice": "language", "voice.language_key": "language_key"}


def init_app(app: Flask) -> None:
    app.config.setdefault("METRICS_TOKEN", os.environ.get("IVR_METRICS_TOKEN", ""))
    app.config.setdefault("WEBHOOK_LOG", True)  # off only for the testers' in-process tools
    app.extensions["ivr_call_id_key"] = logs.call_id_key(app.config.get("TWILIO_AUTH_TOKEN", ""))
    logs.setup_error_log()
    app.register_blueprint(bp)
    app.before_request(_start_clock)
    app.after_request(_record)


@bp.route("/healthz", methods=["GET"])
def healthz():
    holder = current_app.extensions["ivr"]
    line = holder.line  # never None: the app does not start without a valid menu
    loaded = getattr(holder, "loaded_at", None)
    # refused_edit_errors: the last edit of the files was refused with this many errors, and the
    # menu above is still the one in use (live reload keeps the last good one).
    return jsonify(status="ok", menu_version=line.version,
                   loaded_at=loaded.isoformat(timespec="seconds") if loaded else None,
                   refused_edit_errors=len(getattr(holder, "refused", ())))


@bp.route("/metrics", methods=["GET"])
def prometheus():
    token = current_app.config.get("METRICS_TOKEN") or ""
    if not token:
        return Response("metrics are off: set IVR_METRICS_TOKEN\n", 404, mimetype="text/plain")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return Response("a bearer token is needed\n", 401, {"WWW-Authenticate": "Bearer"}, mimetype="text/plain")
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)


def _start_clock():
    g.ivr_started = time.perf_counter()


def _record(response: Response) -> Response:
    req = request._get_current_object()  # once: each use of the proxy costs a context lookup
    if req.blueprint in ("observability", "media"):  # not webhooks: health, scrapes, audio files
        return response
    try:
        _count_and_log(current_app._get_current_object(), req, g._get_current_object(), response)
    except Exception:  # counting must never cost the caller their answer
        log.exception("could not record a webhook at %s", req.path)
    return response


def step_name(req) -> str:
    endpoint = req.endpoint or ""
    if endpoint == "voice.step":
        return (req.view_args or {}).get("action", "unknown")
    return STEPS.get(endpoint, "unknown")


def _count_and_log(app: Flask, req, store, response: Response) -> None:
    seconds = time.perf_counter() - store.get("ivr_started", time.perf_counter())
    step = step_name(req)
    status = response.status_code
    ok = status < 400
    form = req.form if ok else {}  # a refused body (413) is never parsed again
    key = None
    if step in ("key", "language_key"):
        key = web.digits(form) if ok else ""  # the web layer's own reading of the key
        if key == "?":
            key = "other"
    language = outcome = None
    if store.get("ivr_error"):
        outcome = "technical_problem"
        metrics.count(metrics.TECHNICAL_PROBLEMS, step)
    reply = store.get("ivr_reply")
    if ok and reply is not None:
        language, counted = _count(req, store.get("ivr_line") or web.line(), step, key, reply)
        outcome = outcome or counted
    elif not ok:
        outcome = "refused"
    metrics.count(metrics.WEBHOOKS, step, str(status))
    metrics.observe(metrics.LATENCY, seconds, step)
    if app.config["WEBHOOK_LOG"]:
        logs.write_webhook_line({
            "call": logs.call_id(app.extensions["ivr_call_id_key"], form.get("CallSid", "")),
            "step": step, "language": language.code if language else None, "key": key,
            "outcome": outcome, "status": status, "ms": round(seconds * 1000, 1)})


def _count(req, line: Line, step: str, key: str | None, reply: Reply) -> tuple[Language | None, str]:
    """Count what the reply does to the caller (the flow names it: `Reply.outcome`); returns its
    language and that outcome."""
    nxt = reply.next
    outcome = reply.outcome or "other"
    language = _reply_language(line, reply)
    code = language.code if language else "none"  # "none": still at the language choice
    if outcome == "wrong_key":
        metrics.count(metrics.WRONG_KEYS, code)
    if step in ("language", "node") and req.args.get("n", "0") not in ("", "0"):
        metrics.count(metrics.SILENCES, code)
    if language is None:
        return None, outcome
    if outcome == "call_started":
        metrics.count(metrics.CALLS_STARTED, code)
    elif outcome == "language_changed":
        metrics.count(metrics.LANGUAGE_CHANGES, code)
    elif outcome == "quick_exit":
        metrics.count(metrics.QUICK_EXITS, code)
    elif outcome == "transfer":
        metrics.count(metrics.TRANSFERS_STARTED, code, nxt.then.helpline or "unknown")
    if step == "dialed":
        helpline_id = req.args.get("line", "")
        if helpline_id not in language.helplines:
            helpline_id = "unknown"
        status = req.form.get("DialCallStatus", "")
        metrics.count(metrics.TRANSFERS, code, helpline_id, status if status in metrics.DIAL_STATUSES else "other")
    if isinstance(nxt, Ask):
        at = nxt.on_key.at
        node = language.node(at)
        if isinstance(node, Page) and outcome in ("helplines", "wrong_key", "closed"):  # the page was read
            for helpline in node.helplines:
                metrics.count(metrics.HELPLINES_HEARD, code, helpline.id)
        if step == "key" and key and outcome in ("menu", "helplines") and at == (web.at_keys(req.args) or ()) + (key,):
            menu = language.node(at[:-1])
            if menu is not None and not isinstance(menu, Page):
                metrics.count(metrics.MENU_CHOICES, code, menu.id, key)
    return language, outcome


def _reply_language(line: Line, reply: Reply) -> Language | None:
    nxt = reply.next
    code = None
    if isinstance(nxt, Ask):
        code = nxt.on_key.language
    elif isinstance(nxt, Transfer):
        code = nxt.then.language
    elif isinstance(nxt, Step):
        code = nxt.language
    elif reply.said:
        code = reply.said[0].language
    return line.language(code)
