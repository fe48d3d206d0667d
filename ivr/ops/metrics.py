"""The line's Prometheus metrics. Every label value comes from a closed set (language codes,
menu and helpline ids of menus.yaml, Twilio's DialCallStatus words, step names): never a phone
number, a CallSid or anything else a request could choose.

Under gunicorn, PROMETHEUS_MULTIPROC_DIR (chosen by ivr/ops/server.py when gunicorn.conf.py is
read) makes every worker write its values to files there, and /metrics adds up all workers, dead
ones included.
"""
from __future__ import annotations

import atexit
import bisect
import logging
import os
import threading
import time

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, values

log = logging.getLogger(__name__)

# Which files this process writes in PROMETHEUS_MULTIPROC_DIR: "<pid>", or "<pid>-<n>" once its
# files have been lost n times (the folder deleted, or deleted and made again, by a /tmp cleaner).
# prometheus_client opens a process's files again, from zero, when this changes: what is counted
# afterwards lands in files /metrics reads, not in deleted ones. ivr/ops/server.py marks workers
# dead by pid; the line keeps no live gauges, so the suffix costs nothing there.
_folder_generation = 0


def _process_id() -> str:
    return f"{os.getpid()}-{_folder_generation}" if _folder_generation else str(os.getpid())


def use_folder(folder: str) -> None:
    """Count in files in `folder`, shared by every process that uses it. Called by gunicorn's
    master (ivr/ops/server.py) before it loads the app; prometheus_client only reads the variable
    when it is imported, and the metrics below may have been defined already: the one that has no
    labels is given its file here (labelled ones make their values at their first count)."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    os.makedirs(folder, exist_ok=True)
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue(process_identifier=_process_id)
        for metric in _UNLABELLED:
            metric._metric_init()  # prometheus_client 0.26 (pinned): where an unlabelled metric makes its value


if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    values.ValueClass = values.MultiProcessValue(process_identifier=_process_id)
    # A metric without labels writes its zero when it is defined, below (gunicorn's master imports
    # this before its on_starting hook makes the folder).
    try:
        os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
        if not os.access(os.environ["PROMETHEUS_MULTIPROC_DIR"], os.W_OK | os.X_OK):
            raise PermissionError(13, "not writable")
    except OSError as e:  # a setting a person typed: one sentence, not a traceback at import
        raise SystemExit(f"PROMETHEUS_MULTIPROC_DIR={os.environ['PROMETHEUS_MULTIPROC_DIR']!r}: cannot keep the "
                         f"metrics there ({e.strerror or e}); name a folder of your own, or unset it") from None

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
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LATENCY = Histogram("ivr_webhook_seconds", "Time to answer a webhook, from when the platform's router received it "
                    "(X-Request-Start) when it says so", ["step"], buckets=LATENCY_BUCKETS)
WORKER_TIMEOUTS = Counter("ivr_worker_timeouts", "Workers gunicorn killed for not answering within its timeout")
FILES_LOST = Counter("ivr_metrics_files_lost", "Times a process found its metrics files deleted (a /tmp cleaner) "
                     "and started new ones: counts from before are lost, none after")
_UNLABELLED = (WORKER_TIMEOUTS, FILES_LOST)

DIAL_STATUSES = {"completed", "answered", "busy", "no-answer", "failed", "canceled"}


def exposition() -> tuple[bytes, str]:
    """The text /metrics serves: this process's values, or every worker's under gunicorn."""
    flush()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        ensure_folder()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# Counting on the request path. prometheus_client's labels() checks its arguments and takes a
# lock; under gunicorn each inc() then takes another lock, asks the system for the process id and
# writes the worker's metrics file. A webhook made about five of them. Instead, a webhook adds its
# counts to `_pending` (a dict update), and this worker's flusher thread adds them to the shared
# values once a second; /metrics flushes its own worker first, and so does a worker that exits.
# So other workers' counts may show up to a second late, and a worker killed outright (SIGKILL)
# loses at most its last second of counts. Latencies are kept per bucket the same way.
FLUSH_SECONDS = 1.0

_children: dict[tuple, object] = {}  # (metric, labels) -> prometheus child, looked up once
_pending: dict[tuple, int] = {}  # (metric, labels) -> increments not yet added
_pending_latency: dict[str, list] = {}  # step -> [observations in each bucket..., their sum]
_LATENCY_BOUNDS = LATENCY_BUCKETS + (float("inf"),)
_lock = threading.Lock()
_flusher_started = False


def count_all(counts) -> None:
    """Add one to each (metric, labels) of `counts`, at the next flush."""
    with _lock:
        pending = _pending
        for key in counts:
            pending[key] = pending.get(key, 0) + 1
    if not _flusher_started:
        _start_flusher()


def observe_latency(seconds: float, step: str) -> None:
    """LATENCY.labels(step).observe(seconds), added at the next flush like the counts."""
    bucket = bisect.bisect_left(_LATENCY_BOUNDS, seconds)  # the first bound >= seconds, as observe() finds
    with _lock:
        pending = _pending_latency.get(step)
        if pending is None:
            pending = _pending_latency[step] = [0] * len(_LATENCY_BOUNDS) + [0.0]
        pending[bucket] += 1
        pending[-1] += seconds
    if not _flusher_started:
        _start_flusher()


def ensure_folder() -> None:
    """Make PROMETHEUS_MULTIPROC_DIR again if it was deleted: without it a new worker cannot count,
    and /metrics could not read any worker. Whether this process's own files went with it is
    flush()'s business."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder and not os.path.isdir(folder):
        os.makedirs(folder, exist_ok=True)


def folder_emptied() -> None:
    """This process's files in the folder were removed on purpose (ivr/ops/server.py empties an
    operator's folder of an earlier run's files at the start): its values start again in new files."""
    global _folder_generation
    _folder_generation += 1
    _our_files.clear()


def count_worker_timeout() -> None:
    """Called in gunicorn's master (ivr/ops/server.py) for a worker it timed out."""
    with _lock:  # written at once: the master runs no flusher thread
        _pending[(WORKER_TIMEOUTS, ())] = _pending.get((WORKER_TIMEOUTS, ()), 0) + 1
    flush()


# The files this process has written, with their identity (device, inode) when last seen: a /tmp
# cleaner may delete the folder, or delete it and make it again at once, under a running line. The
# values would then go on into deleted files that /metrics never reads, silently.
_our_files: dict[str, tuple[int, int]] = {}
_flush_lock = threading.Lock()  # one flush at a time: the flusher, /metrics and exit may overlap
_last_warning = [0.0]
_unwritten = False  # the last flush failed: prometheus_client's files may be half open; start new ones


def _files_lost() -> bool:
    for path, identity in _our_files.items():
        try:
            seen = os.stat(path)
        except OSError:
            return True
        if (seen.st_dev, seen.st_ino) != identity:
            return True
    return False


def _note_our_files(folder: str, kinds: set[str]) -> bool:
    """Remember which files this process writes; False if one it has just written is not there."""
    _our_files.clear()
    for kind in ("counter", "histogram"):
        path = os.path.join(folder, f"{kind}_{_process_id()}.db")
        try:
            seen = os.stat(path)
        except OSError:
            if kind in kinds:
                return False
            continue
        _our_files[path] = (seen.st_dev, seen.st_ino)
    return True


def _start_new_files(folder: str, why: str) -> None:
    global _folder_generation
    os.makedirs(folder, exist_ok=True)
    _folder_generation += 1  # prometheus_client opens new files at the next count
    _our_files.clear()
    log.warning("the metrics files of process %s in %s %s: counts from before are lost, counting goes on "
                "in new files", os.getpid(), folder, why)
    _child(FILES_LOST, ()).inc()


def _add(pending: dict, latency: dict) -> None:
    for (metric, labels), amount in pending.items():
        _child(metric, labels).inc(amount)
    for step, counts in latency.items():
        # Histogram has no public way to add many observations at once; its sum and buckets are
        # values like a counter's (tests/test_metrics_flush.py compares with observe()).
        child = _child(LATENCY, (step,))
        child._sum.inc(counts[-1])
        for bucket, amount in zip(child._buckets, counts):
            if amount:
                bucket.inc(amount)


def _give_back(pending: dict, latency: dict) -> None:
    """Counts that could not be written wait for the next flush (a dict of label sets: bounded)."""
    with _lock:
        for key, amount in pending.items():
            _pending[key] = _pending.get(key, 0) + amount
        for step, counts in latency.items():
            mine = _pending_latency.setdefault(step, [0] * len(_LATENCY_BOUNDS) + [0.0])
            for i, amount in enumerate(counts):
                mine[i] += amount


def flush() -> None:
    """Add every pending count and latency of this process to the Prometheus values. Under
    gunicorn, checks first and after that this process's files are still the ones in the folder;
    if they were deleted, the values start again in new files and this batch is written there
    (the deleted files held it and everything before it): every count made after the loss is seen."""
    global _pending, _pending_latency, _unwritten
    with _flush_lock:
        with _lock:
            pending, _pending = _pending, {}
            latency, _pending_latency = _pending_latency, {}
        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not folder or not values.ValueClass._multiprocess:
            _add(pending, latency)
            return
        if not pending and not latency:
            return  # nothing to write (and a folder removed at the stop is not made again)
        written = {"counter"} if pending else set()
        if latency:
            written.add("histogram")
        lost = _unwritten
        for _ in range(5):
            try:
                if not lost and not _our_files and not os.path.isdir(folder):
                    os.makedirs(folder, exist_ok=True)  # nothing of ours was there: nothing lost
                elif lost or not os.path.isdir(folder) or _files_lost():
                    _start_new_files(folder, "were deleted" if lost or not _our_files else "were deleted or replaced")
                    written.add("counter")  # FILES_LOST
                _add(pending, latency)
                if _note_our_files(folder, written):
                    _unwritten = False
                    return
            except (OSError, ValueError):  # the folder went away while a file was opened (or a file was closed)
                # Written again below into new files. Only if the old ones survived a half-written
                # batch (a full disk, not a deletion) would that half be counted twice.
                pass
            lost = True  # deleted while this batch was written: again, into new files
        _unwritten = True
        _give_back(pending, latency)
        now = time.monotonic()
        if now - _last_warning[0] > 60:
            _last_warning[0] = now
            log.warning("cannot write the metrics in %s: counts are kept in memory and written when it can", folder)


def _child(metric, labels: tuple):
    child = _children.get((metric, labels))
    if child is None:
        child = _children[(metric, labels)] = metric.labels(*labels) if labels else metric
    return child


def _start_flusher() -> None:
    global _flusher_started
    with _lock:
        if _flusher_started:
            return
        _flusher_started = True
    threading.Thread(target=_flush_forever, name="metrics-flush", daemon=True).start()


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        try:
            flush()
        except Exception:  # a flusher that dies would silently stop the metrics
            log.exception("could not add the pending counts to the metrics")


def _after_fork() -> None:
    # gunicorn forks its workers from the master: a child has no flusher thread (threads do not
    # survive a fork), must not add its parent's pending counts a second time, and writes files of
    # its own (prometheus_client opens them: another pid).
    global _pending, _pending_latency, _lock, _flush_lock, _flusher_started
    _pending, _pending_latency, _lock, _flush_lock, _flusher_started = {}, {}, threading.Lock(), threading.Lock(), False
    _our_files.clear()


os.register_at_fork(after_in_child=_after_fork)
atexit.register(flush)  # a worker that stops normally (gunicorn restarts, deploys) keeps its counts
