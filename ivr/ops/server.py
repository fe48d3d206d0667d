"""The line under gunicorn: what gunicorn.conf.py does, one function for each of its hooks.

gunicorn.conf.py holds the settings; each hook there is one call into this module, so that what
the server does around the app (the metrics folder, the menu watcher, the logs) is code of the
package, tested with it. Its order, pinned by tests/test_deploy.py:

1. `choose_metrics_folder()`, when gunicorn reads gunicorn.conf.py: before the app is loaded
   (preload_app) and before any worker exists, every process must count in the same folder.
2. `empty_metrics_folder()` (on_starting), `freeze_loaded_app()` (when_ready), then in each worker
   `follow_menu_edits()` (post_worker_init), `let_others_go_first()` (post_request),
   `quiet_logging_at_exit()` (worker_exit); in the master `worker_gone()` (child_exit).
3. `remove_metrics_folder()` (on_exit), after a normal stop.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import tempfile

from gunicorn.glogging import Logger

from ..environment import gunicorn_settings
from . import metrics
from .logs import Redacting

log = logging.getLogger(__name__)

# The folder this master made for itself ("ivr-metrics-<its pid>"): removed when it stops, and by
# the next start when it was killed before it could. A folder the operator names is theirs.
_FOLDER_NAME = re.compile(r"^ivr-metrics-(\d+)(?:-[A-Za-z0-9_]+)?$")  # the second form: mkdtemp's, below
_own_folder: str | None = None


def bind_and_workers() -> tuple[str, int]:
    """PORT and WEB_CONCURRENCY, checked: a wrong one stops the start in one sentence naming it."""
    return gunicorn_settings()


def choose_metrics_folder() -> str:
    """PROMETHEUS_MULTIPROC_DIR, or a new folder of this master's in the temporary folder; every
    worker counts there and /metrics adds them all up. Called first thing in gunicorn.conf.py."""
    global _own_folder
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder or folder == _own_folder:  # gunicorn reads its config again on SIGHUP
        if _own_folder is None:
            remove_stale_folders()
            _own_folder = _make_own_folder()
        folder = _own_folder
    metrics.use_folder(folder)
    return folder


def _make_own_folder() -> str:
    folder = os.path.join(tempfile.gettempdir(), f"ivr-metrics-{os.getpid()}")
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        # Another user's (a stale one of ours was removed just before): never write in it.
        folder = tempfile.mkdtemp(prefix=f"ivr-metrics-{os.getpid()}-")
    return folder


def remove_stale_folders(parent: str | None = None) -> list[str]:
    """Folders "ivr-metrics-<pid>" of this user whose master is gone (a killed run: SIGKILL, a
    crash, a power cut never ran on_exit). A live pid's folder is left alone, whoever it is."""
    parent = parent or tempfile.gettempdir()
    removed = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in names:
        found = _FOLDER_NAME.match(name)
        path = os.path.join(parent, name)
        if not found or int(found[1]) == os.getpid():
            continue
        try:
            if os.lstat(path).st_uid != os.getuid() or os.path.islink(path):
                continue
            os.kill(int(found[1]), 0)
            continue  # alive
        except ProcessLookupError:
            pass
        except OSError:  # PermissionError: alive, another user's; or the folder just went
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    if removed:
        log.info("removed %d metrics folder(s) left by runs that were killed", len(removed))
    return removed


def empty_metrics_folder() -> None:
    """on_starting: files of an earlier run in a folder the operator named would be added to this
    run's counts. This master's own folder is new and needs nothing."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    if folder == _own_folder:
        return
    for name in os.listdir(folder):
        if name.endswith(".db"):
            try:
                os.unlink(os.path.join(folder, name))
            except FileNotFoundError:
                pass
    metrics.folder_emptied()  # the master's own files were among them


def remove_metrics_folder() -> None:
    """on_exit: the folder this master made goes with it; an operator's folder stays theirs."""
    if _own_folder:
        shutil.rmtree(_own_folder, ignore_errors=True)


def freeze_loaded_app() -> None:
    """when_ready: the master has loaded the app (preload_app) and is about to start the workers.

    The menu model lives as long as the worker: freezing it keeps Python's garbage collector from
    walking it again on every full collection (a cost that grows with the menu), and from writing
    to the pages each worker shares with the master."""
    import gc
    gc.collect()
    gc.freeze()


def follow_menu_edits() -> None:
    """post_worker_init: each worker follows menu edits from its start, not from its first
    request; otherwise a worker that has answered nothing yet would serve the menu it was born with."""
    from ..menus import live
    live.watch_all()


def worker_gone(worker) -> None:
    """child_exit, in the master: a dead worker's counters stay (they happened); its live gauges
    are dropped. A worker the master timed out (gunicorn's "WORKER TIMEOUT": SIGABRT, then
    SIGKILL) is counted here, since a stuck worker may never run a hook of its own."""
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)
    if worker.aborted:
        try:
            metrics.count_worker_timeout()
        except Exception:
            log.exception("could not count a worker timeout in the metrics")


def quiet_logging_at_exit() -> None:
    """worker_exit, a gevent worker's last step. gevent made logging's module lock one of its own
    when it patched the worker; once the interpreter starts tearing gevent down, that lock fails
    and logging printed a traceback ("Exception ignored in _removeHandlerRef") for every worker
    that stopped. No greenlet runs any more here: the interpreter's own lock does."""
    import _thread
    logging._lock = _thread.RLock()


def let_others_go_first() -> None:
    """post_request: a gevent worker reads a keep-alive connection's next request as soon as it is
    there, without passing through its hub: a client that answers fast (a load generator, or an
    attacker) is served again and again while the others wait (p99 200-300 ms under wrk with 16
    connections, p50 1 ms). Yielding here serves the ready connections in turn."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("socket"):  # a gevent worker, not a sync one
        sys.modules["gevent"].sleep(0)


class RedactingLogger(Logger):
    """gunicorn's own error log, with phone numbers and Twilio SIDs blanked (see ivr/ops/logs.py)."""

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers + self.access_log.handlers:
            handler.setFormatter(Redacting(handler.formatter._fmt if handler.formatter else None, self.datefmt))
