"""The line this process serves, and its live reload.

Operators edit menus.yaml and prompts/ while calls are in progress. Each worker process watches
the files from a background thread (so no request ever touches the disk) and swaps in a new line
only when the whole set passes the checks; a broken edit is logged with every problem and the
last good line keeps serving. The swap is one attribute assignment, so a request sees either the
old line or the new one, never a mix.
"""
from __future__ import annotations

import datetime
import logging
import os
import sys
import threading
import time
import weakref
from pathlib import Path

from .load import inspect
from .model import Line

log = logging.getLogger(__name__)


_LINES: "weakref.WeakSet[LiveLine]" = weakref.WeakSet()  # every line of this process, for watch_all


def watch_all() -> None:
    """Start the watcher of every line in this process now (gunicorn.conf.py's post_worker_init):
    a worker that has not answered a request yet still follows edits, and refuses bad ones."""
    for live in list(_LINES):
        live.watch()


def _real_threads():
    """(start a thread, sleep) of the operating system, even in a gevent worker.

    gunicorn's gevent worker monkey-patches the process after the fork: threading.Thread then
    starts a greenlet, which shares the worker's one thread with every request. Reading and
    checking a menu takes 10 ms for the shipped one and 0.5 s for a 2,000-helpline menu, all of
    it without yielding, so a greenlet watcher would stall every call in progress on each edit.
    A real thread shares the interpreter instead, and requests go on between its steps."""
    import _thread
    sleep = time.sleep
    start = _thread.start_new_thread
    gevent_monkey = sys.modules.get("gevent.monkey")
    if gevent_monkey is not None and gevent_monkey.is_module_patched("threading"):
        start = gevent_monkey.get_original("_thread", "start_new_thread")
        sleep = gevent_monkey.get_original("time", "sleep")
    return start, sleep


class LiveLine:
    def __init__(self, menus: str | Path, prompts: str | Path, line: Line, interval: float = 2.0):
        self.menus = Path(menus)
        self.prompts = Path(prompts)
        self.line = line
        self.loaded_at = datetime.datetime.now(datetime.timezone.utc)  # for /healthz
        self.interval = interval
        self.refused: list = []  # the errors of the last edit that was refused, until a good one
        self._seen = self._signature()
        self._watching = False
        self._lock = threading.Lock()
        self._sleep = time.sleep
        _LINES.add(self)
        me = weakref.ref(self)  # the fork hook must not keep a replaced app's menus alive
        os.register_at_fork(after_in_child=lambda: me() and me()._forked())

    def _signature(self) -> tuple:
        """What changes when an operator saves a file: names, sizes and modification times."""
        files = [self.menus]
        if self.prompts.is_dir():
            files += sorted(p for p in self.prompts.rglob("*") if p.is_file())
        out = []
        for path in files:
            try:
                stat = path.stat()
            except OSError:
                continue
            out.append((str(path), stat.st_size, stat.st_mtime_ns))
        return tuple(out)

    def refresh(self) -> bool:
        """Reload if the files changed. True when a new line was swapped in."""
        with self._lock:
            signature = self._signature()
            if signature == self._seen:
                return False
            self._seen = signature
            line, problems = inspect(self.menus, self.prompts)
            if line is None:
                self.refused = [p for p in problems if p.severity == "error"]
                log.error("menu files refused, still serving version %s:\n%s", self.line.version,
                          "\n".join(str(p) for p in problems if p.severity == "error"))
                return False
            self.refused = []
            if line.version == self.line.version:
                return False
            log.info("menus reloaded: version %s replaces %s", line.version, self.line.version)
            self.line = line
            self.loaded_at = datetime.datetime.now(datetime.timezone.utc)
            return True

    def serving(self) -> Line:
        """The line to answer from now; the first call in a process starts its watcher."""
        if not self._watching:
            self.watch()
        return self.line

    def watch(self) -> None:
        """Start this process's watcher once (gunicorn forks workers after loading the app, and
        threads do not survive a fork): a flag, not os.getpid() (a system call each time)."""
        if self._watching or self.interval <= 0:
            return
        with self._lock:
            if self._watching:
                return
            self._watching = True
        start_thread, self._sleep = _real_threads()
        start_thread(self._loop, ())

    def _forked(self) -> None:
        # Threads do not survive a fork: a new worker starts its own watcher.
        self._watching = False
        self._lock = threading.Lock()

    def _loop(self) -> None:
        while True:
            self._sleep(self.interval)
            try:
                self.refresh()
            except Exception:  # a watcher that dies would silently stop all reloads
                log.exception("menu reload failed; will try again")
