"""The line's Prometheus metrics. Every label value comes from a closed set (language codes,
menu and helpline ids of menus.yaml, Twilio's DialCallStatus words, step names): never a phone
number, a CallSid or anything else a request could choose.

Under gunicorn, PROMETHEUS_MULTIPROC_DIR (set in gunicorn.conf.py) makes every worker write its
values to files there, and /metrics adds up all workers, dead ones included.
"""
from __future__ import annotations

import os

from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram,
                               generate_latest)
from prometheus_client import multiprocess

CALLS_STARTED = Counter("ivr_calls_started", "Calls that reached the safety message, by language", ["language"])
LANGUAGE_CHANGES = Counter("ivr_language_changes", "Callers who switched language mid-call, to this language", ["language"])
MENU_CHOICES = Counter("ivr_menu_choices", "Options chosen, by menu and key", ["language", "menu", "key"])
HELPLINES_HEARD = Counter("ivr_helplines_heard", "Helplines read out to a caller", ["language", "helpline"])
TRANSFERS_STARTED = Counter("ivr_transfers_started", "Transfers to a helpline that began ringing", ["language", "helpline"])
TRANSFERS = Counter("ivr_transfers", "Transfers that ended, by helpline and Twilio's DialCallStatus",
                    ["language", "helpline", "status"])
WRONG_KEYS = Counter("ivr_wrong_keys", "Keys that are not an option where they were pressed", ["language"])
SILENCES = Counter("ivr_silences", "Menus that timed out with no key pressed", ["language"])
QUICK_EXITS = Counter("ivr_quick_exits", "Calls ended with the quick-exit key", ["language"])
TECHNICAL_PROBLEMS = Counter("ivr_technical_problems", "Webhooks that failed and were apologised for", ["step"])
WEBHOOKS = Counter("ivr_webhooks", "Webhook answers by step and HTTP status", ["step", "status"])
LATENCY = Histogram("ivr_webhook_seconds", "Time to answer a webhook", ["step"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

DIAL_STATUSES = {"completed", "answered", "busy", "no-answer", "failed", "canceled"}


def exposition() -> tuple[bytes, str]:
    """The text /metrics serves: this process's values, or every worker's under gunicorn."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# prometheus_client's labels() checks and converts its arguments and takes a lock on every call;
# the values here come from closed sets, so each metric's children are looked up once and kept.
_children: dict[tuple, object] = {}


def count(metric, *labels: str) -> None:
    child = _children.get((metric, labels))
    if child is None:
        child = _children[(metric, labels)] = metric.labels(*labels)
    child.inc()


def observe(metric, value: float, *labels: str) -> None:
    child = _children.get((metric, labels))
    if child is None:
        child = _children[(metric, labels)] = metric.labels(*labels)
    child.observe(value)
