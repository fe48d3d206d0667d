"""What operators see: /healthz, /metrics, and one JSON log line per webhook.

`init_app` hooks in after every request: it times the webhook and counts in the metrics and
logs what the flow reported (the events of the Reply that `ivr.web.views` hands over on the request,
with the Webhook's step and key). It never works out again from the request what the flow
decided, and never imports the web layer. Nothing here can change what the caller hears: any
failure while recording is itself logged and the answer goes out unchanged.
"""
from __future__ import annotations

import functools
import hmac
import logging
import os
import time

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import Counter

from ..call import events as ev
from . import logs, metrics

log = logging.getLogger(__name__)
bp = Blueprint("observability", __name__)
# Defined with the others' settings (metrics is imported first: under gunicorn it has set up the
# workers' files). Reasons: "unreadable", "future", "too_long" (ivr.web.request.queued_seconds).
REQUEST_START_IGNORED = Counter("ivr_request_start_ignored", "X-Request-Start values of signed webhooks that "
                                "could not be a wait (not a time, in the future, too long), left out of the latency",
                                ["reason"])


def init_app(app: Flask) -> None:
    app.config.setdefault("METRICS_TOKEN", os.environ.get("IVR_METRICS_TOKEN", ""))
    app.config.setdefault("WEBHOOK_LOG", True)  # off only for the testers' in-process tools
    # X-Request-Start (the time a request waited in front of the app) is read only where the
    # operator says a proxy sets it (IVR_PROXY_SETS_REQUEST_START=1), and only on a request whose
    # signature checked: anyone else could write any time there.
    app.config.setdefault("QUEUE_TIME", False)
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
    rule = req.url_rule  # (request.blueprint works this out again each time it is read)
    if rule is not None and rule.endpoint.startswith(("observability.", "media.")):  # health, scrapes, audio
        return response
    try:
        _count_and_log(current_app._get_current_object(), req, response.status_code)
    except Exception:  # counting must never cost the caller their answer
        log.exception("could not record a webhook at %s", req.path)
    return response


def _count_and_log(app: Flask, req, status: int) -> None:
    """What the web layer handed over on the request (ivr.web.views): the Webhook, read once the
    request was known to be Twilio's, and the Reply whose events say what happened to the caller."""
    seconds = time.perf_counter() - req.started
    webhook, reply = req.webhook, req.reply
    ignored = None
    if webhook is not None and app.config["QUEUE_TIME"]:  # Twilio's, through the declared proxy
        queued, ignored = req.queued_seconds()
        seconds += queued
    if webhook is not None:
        step, key = webhook.step, webhook.key_pressed
    else:  # refused before it was read (403, 413) or not routed (404, 405): the route's step, if any
        step = (req.view_args or {}).get("step", "unknown")
        key = "" if step in ("key", "language_key") else None
    counts = [(metrics.WEBHOOKS, (step, str(status)))]
    if ignored is not None:
        counts.append((REQUEST_START_IGNORED, (ignored,)))
    if reply is not None and status < 400:
        outcome, language = _count(counts, step, reply.events)
    else:
        outcome, language = ("refused" if status >= 400 else "other"), None
    metrics.count_all(counts)
    metrics.observe_latency(seconds, step)
    if app.config["WEBHOOK_LOG"]:
        params = req.params if status < 400 else {}  # a refused body (413) is never parsed again
        call = logs.call_id(app.extensions["ivr_call_id_key"], params.get("CallSid", ""))
        logs.write_webhook_line(call, _words(step, language, key, outcome), status, seconds)


# Every member is a closed word (a step, a language code, a key, an outcome): few combinations,
# each encoded once (~5 us a webhook otherwise).
@functools.lru_cache(maxsize=4096)
def _words(step: str, language: str | None, key: str | None, outcome: str) -> str:
    return logs.webhook_words(step=step, language=language, key=key, outcome=outcome)


def _count(counts: list, step: str, happened: tuple) -> tuple[str, str | None]:
    """Add to `counts` what the flow's events say happened to the caller; returns the log line's
    outcome and language (docs/operations.md names both)."""
    for event in happened:
        kind = type(event)
        code = event.language or "none"  # "none": still at the language choice
        if kind is ev.HelplinesHeard:
            counts.extend((metrics.HELPLINES_HEARD, (code, helpline)) for helpline in event.helplines)
        elif kind is ev.MenuChoice:
            counts.append((metrics.MENU_CHOICES, (code, event.menu, event.key)))
        elif kind is ev.WrongKey:
            counts.append((metrics.WRONG_KEYS, (code,)))
        elif kind is ev.Silence:
            counts.append((metrics.SILENCES, (code,)))
        elif kind is ev.CallStarted:
            counts.append((metrics.CALLS_STARTED, (code,)))
        elif kind is ev.LanguageChanged:
            counts.append((metrics.LANGUAGE_CHANGES, (code,)))
        elif kind is ev.QuickExit:
            counts.append((metrics.QUICK_EXITS, (code,)))
        elif kind is ev.TransferStarted:
            counts.append((metrics.TRANSFERS_STARTED, (code, event.helpline)))
        elif kind is ev.TransferEnded:
            status = event.status if event.status in metrics.DIAL_STATUSES else "other"
            counts.append((metrics.TRANSFERS, (code, event.helpline or "unknown", status)))
        elif kind is ev.TechnicalProblem:
            counts.append((metrics.TECHNICAL_PROBLEMS, (step,)))
    return ev.outcome(happened)
