"""What operators see: /healthz, /metrics, and one JSON log line per webhook.

`init_app` hooks in around every request: it times the webhook, works out from the request and
the flow's reply (`g.ivr_decided` or `g.ivr_reply`, set by `ivr.web.views`) what happened to the caller, counts it in the
metrics and logs it. Nothing here can change what the caller hears: any failure while recording
is itself logged and the answer goes out unchanged.
"""
from __future__ import annotations

import hmac
import logging
import os
import time
from typing import NamedTuple

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from ..call.flow import Ask, Reply, Step, Transfer
from ..menus.model import Language, Line, Page
from ..web import views as web
from . import logs, metrics

log = logging.getLogger(__name__)
bp = Blueprint("observability", __name__)

STEPS = {"voice.incoming": "incoming", "voice.language_choice": "language", "voice.language_key": "language_key"}


def init_app(app: Flask) -> None:
    app.config.setdefault("METRICS_TOKEN", os.environ.get("IVR_METRICS_TOKEN", ""))
    app.config.setdefault("WEBHOOK_LOG", True)  # off only for the testers' in-process tools
    # X-Request-Start (the time a request waited in front of the app) is believed only from a
    # proxy: a client facing the app directly could write any time there.
    app.config.setdefault("QUEUE_TIME", str(app.config.get("TRUSTED_PROXIES", "1")) not in ("", "0"))
    app.extensions["ivr_call_id_key"] = logs.call_id_key(app.config.get("TWILIO_AUTH_TOKEN", ""))
    logs.setup_error_log()
    app.register_blueprint(bp)
    app.after_request(_record)


@bp.route("/healthz", methods=["GET"])
def healthz():
    holder = current_app.extensions["ivr"]
    line = holder.serving()  # never None: the app does not start without a valid menu
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
    try:
        body, content_type = metrics.exposition()
    except Exception:  # a scrape that fails is told so, never with a 500
        log.exception("could not read the metrics")
        return Response("the metrics cannot be read now; see the error log\n", 503, mimetype="text/plain")
    return Response(body, content_type=content_type)


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


class Facts(NamedTuple):
    """What one webhook did to the caller, for the metrics and the log line."""
    step: str
    counts: tuple  # (metric, labels) for each counter this webhook adds one to
    log_words: str  # the log line's step, language, key and outcome, as JSON members


def _count_and_log(app: Flask, req, store, response: Response) -> None:
    seconds = time.perf_counter() - req.started
    if app.config["QUEUE_TIME"]:
        seconds += req.queued_seconds()
    status = response.status_code
    decided = store.get("ivr_decided")
    if decided is not None and status == 200 and not store.get("ivr_error"):
        # An answer kept for identical requests (ivr.web.answers): so are its facts, worked out once.
        facts = decided.notes
        if facts is None:
            facts = decided.notes = _facts(req, store, status, decided.reply)
    else:
        facts = _facts(req, store, status, store.get("ivr_reply"))
    metrics.count_all(facts.counts)
    metrics.observe_latency(seconds, facts.step)
    if app.config["WEBHOOK_LOG"]:
        params = req.params if status < 400 else {}  # a refused body (413) is never parsed again
        call = logs.call_id(app.extensions["ivr_call_id_key"], params.get("CallSid", ""))
        logs.write_webhook_line(call, facts.log_words, status, round(seconds * 1000, 1))


def _facts(req, store, status: int, reply: Reply | None) -> Facts:
    """Everything here follows from the request's path, query string and keys, and the reply:
    the same for every request that got the same kept answer."""
    step = step_name(req)
    ok = status < 400
    key = None
    if step in ("key", "language_key"):
        key = web.digits(req.params) if ok else ""  # the web layer's own reading of the key
        if key == "?":
            key = "other"
    counts = [(metrics.WEBHOOKS, (step, str(status)))]
    language = outcome = None
    if store.get("ivr_error"):
        outcome = "technical_problem"
        counts.append((metrics.TECHNICAL_PROBLEMS, (step,)))
    if ok and reply is not None:
        language, counted = _count(counts, req, store.get("ivr_line") or web.line(), step, key, reply)
        outcome = outcome or counted
    elif not ok:
        outcome = "refused"
    words = logs.webhook_words(step=step, language=language.code if language else None, key=key, outcome=outcome)
    return Facts(step, tuple(counts), words)


def _count(counts: list, req, line: Line, step: str, key: str | None, reply: Reply) -> tuple[Language | None, str]:
    """Add to `counts` what the reply does to the caller (the flow names it: `Reply.outcome`);
    returns its language and that outcome."""
    nxt = reply.next
    outcome = reply.outcome or "other"
    language = _reply_language(line, reply)
    code = language.code if language else "none"  # "none": still at the language choice
    if outcome == "wrong_key":
        counts.append((metrics.WRONG_KEYS, (code,)))
    if step in ("language", "node") and req.args.get("n", "0") not in ("", "0"):
        counts.append((metrics.SILENCES, (code,)))
    if language is None:
        return None, outcome
    if outcome == "call_started":
        counts.append((metrics.CALLS_STARTED, (code,)))
    elif outcome == "language_changed":
        counts.append((metrics.LANGUAGE_CHANGES, (code,)))
    elif outcome == "quick_exit":
        counts.append((metrics.QUICK_EXITS, (code,)))
    elif outcome == "transfer":
        counts.append((metrics.TRANSFERS_STARTED, (code, nxt.then.helpline or "unknown")))
    if step == "dialed":
        helpline_id = req.args.get("line", "")
        if helpline_id not in language.helplines:
            helpline_id = "unknown"
        status = req.params.get("DialCallStatus", "")
        counts.append((metrics.TRANSFERS, (code, helpline_id, status if status in metrics.DIAL_STATUSES else "other")))
    if isinstance(nxt, Ask):
        at = nxt.on_key.at
        node = language.node(at)
        if isinstance(node, Page) and outcome in ("helplines", "wrong_key", "closed"):  # the page was read
            for helpline in node.helplines:
                counts.append((metrics.HELPLINES_HEARD, (code, helpline.id)))
        if step == "key" and key and outcome in ("menu", "helplines") and at == (web.at_keys(req.args) or ()) + (key,):
            menu = language.node(at[:-1])
            if menu is not None and not isinstance(menu, Page):
                counts.append((metrics.MENU_CHOICES, (code, menu.id, key)))
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
