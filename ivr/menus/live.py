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
import pickle
import sys
import threading
import time
import weakref
from pathlib import Path

from .load import _Pickler, inspect
from .model import Line
from .yamlfile import Place, Problem

log = logging.getLogger(__name__)


_LINES: "weakref.WeakSet[LiveLine]" = weakref.WeakSet()  # every line of this process, for watch_all


def watch_all() -> None:
    """Start the watcher of every line in this process now (gunicorn.conf.py's post_worker_init):
    a worker that has not answered a request yet still follows edits, and refuses bad ones."""
    for live in list(_LINES):
        live.watch()


def _real_threads():
    """(start a thread, make a lock) of the operating system, even in a gevent worker.

    gunicorn's gevent worker monkey-patches the process after the fork: threading.Thread then
    starts a greenlet, which shares the worker's one thread with every request. Reading and
    checking a menu takes 10 ms for the shipped one and 0.5 s for a 2,000-helpline menu, all of
    it without yielding, so a greenlet watcher would stall every call in progress on each edit.
    A real thread shares the interpreter instead, and requests go on between its steps. Its locks
    are real too: the watcher waits on one between checks, which close() releases to stop it."""
    import _thread
    start, lock = _thread.start_new_thread, _thread.allocate_lock
    gevent_monkey = sys.modules.get("gevent.monkey")
    if gevent_monkey is not None and gevent_monkey.is_module_patched("threading"):
        start = gevent_monkey.get_original("_thread", "start_new_thread")
        lock = gevent_monkey.get_original("_thread", "allocate_lock")
    return start, lock


def _original(module: str, name: str):
    """A function of the os or select module as it was before gevent patched the worker, if it did:
    the watcher runs on a real thread (see _real_threads), which must not wait on gevent's hub."""
    gevent_monkey = sys.modules.get("gevent.monkey")
    if gevent_monkey is not None and gevent_monkey.is_module_patched(module):
        return gevent_monkey.get_original(module, name)
    return getattr(__import__(module), name)


# Files up to this size (menus.yaml and prompts together; the shipped ones are 29 KB) are checked in
# the worker itself, at once: reading them leaves the worker at most 2.5 MB larger. Larger ones,
# in a fresh process, which takes a second.
CHECK_HERE_BYTES = 256 * 1024
CHECK_APART_SECONDS = 60.0  # the largest file the reader accepts is checked in under 10 s
_CHILD = ("import sys; from ivr.menus.live import _inspect_to_stdout; "
          "_inspect_to_stdout(sys.argv[1], sys.argv[2])")


def inspect_apart(menus: Path, prompts: Path) -> tuple:
    """`inspect`, run in a fresh Python process whose (line, problems) come back pickled.

    A worker that read a hostile edit itself kept what it grew: a 4 MB file of 100,000 menus
    took one to 219 MB and left it 123 MB larger (Python hands little freed memory back), and a
    crash in PyYAML's C code would take the worker with it. The child's memory goes with it; the
    worker only unpickles a small list of problems, or the checked menu (as load_apart does).
    A fresh process, not a fork: this runs on the watcher's thread while gevent runs requests
    on the main one, and posix_spawn runs no Python in between."""
    package_parent = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")])))
    read_end, write_end = os.pipe()
    try:
        pid = _original("os", "posix_spawn")(sys.executable, [sys.executable, "-c", _CHILD, str(menus), str(prompts)], env,
                             file_actions=[(os.POSIX_SPAWN_DUP2, write_end, 1), (os.POSIX_SPAWN_CLOSE, read_end)])
    except OSError:  # no interpreter to start: check here, as before
        os.close(read_end)
        os.close(write_end)
        return inspect(menus, prompts)
    os.close(write_end)
    select, waitpid = _original("select", "select"), _original("os", "waitpid")
    chunks, deadline = [], time.monotonic() + CHECK_APART_SECONDS
    try:
        while time.monotonic() < deadline:
            if select([read_end], [], [], max(0.0, deadline - time.monotonic()))[0]:
                chunk = os.read(read_end, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        else:
            os.kill(pid, 9)
    finally:
        os.close(read_end)
        try:
            waitpid(pid, 0)
        except ChildProcessError:  # collected by gevent's SIGCHLD watcher
            pass
    try:
        return pickle.loads(b"".join(chunks))
    except Exception:  # nothing whole came back: the child died or ran out of time
        return None, [Problem(Place(str(menus), 1, 1), "these files could not be checked: the checking process "
                                                        f"stopped before it finished (within {CHECK_APART_SECONDS:.0f} s)")]


def _inspect_to_stdout(menus: str, prompts: str) -> None:
    _Pickler(sys.stdout.buffer, pickle.HIGHEST_PROTOCOL).dump(inspect(menus, prompts))
    sys.stdout.flush()


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
        self._closed = False
        self._lock = threading.Lock()
        self._stop = self._stopped = None  # the running watcher's two locks (see watch)
        _LINES.add(self)
        me = weakref.ref(self)  # the fork hook must not keep a replaced app's menus alive
        os.register_at_fork(after_in_child=lambda: me() and me()._forked())

    def _signature(self) -> tuple:
        return files_signature(self.menus, self.prompts)

    def refresh(self) -> bool:
        """Reload if the files changed. True when a new line was swapped in."""
        with self._lock:
            signature = self._signature()
            if signature == self._seen:
                return False
            self._seen = signature
            if sum(size for name, size, _ in signature if name.endswith(".yaml")) <= CHECK_HERE_BYTES:
                line, problems = inspect(self.menus, self.prompts)
            else:
                line, problems = inspect_apart(self.menus, self.prompts)
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
            if self._watching or self._closed:
                return
            self._watching = True
            start_thread, allocate_lock = _real_threads()
            # Held while the watcher should run (close releases it), and held by the watcher until
            # it has stopped (close waits for it).
            self._stop, self._stopped = allocate_lock(), allocate_lock()
            self._stop.acquire()
            self._stopped.acquire()
        start_thread(self._loop, (self._stop, self._stopped))

    def close(self, timeout: float = 10.0) -> bool:
        """Stop this process's watcher, for good, and wait for it to finish a check in progress
        (up to `timeout` seconds: a very large menu takes 0.5 s). True when no watcher runs any
        more. An app's line: app.extensions["ivr"].close()."""
        with self._lock:
            self._closed = True
            stop, stopped = self._stop, self._stopped
            self._stop = self._stopped = None
        if stop is None:
            return True
        stop.release()
        if stopped.acquire(timeout=timeout):
            stopped.release()
            return True
        return False

    def _forked(self) -> None:
        # Threads do not survive a fork: a new worker starts its own watcher.
        self._watching = False
        self._lock = threading.Lock()
        self._stop = self._stopped = None

    def _loop(self, stop, stopped) -> None:
        try:
            # Waiting on the stop lock is the sleep between checks, which close() cuts short.
            while not stop.acquire(timeout=self.interval):
                try:
                    self.refresh()
                except Exception:  # a watcher that dies would silently stop all reloads
                    log.exception("menu reload failed; will try again")
        finally:
            stopped.release()


def files_signature(menus: Path, prompts: Path) -> tuple:
    """What changes when an operator saves a file: names, sizes and modification times."""
    files = [menus]
    if prompts.is_dir():
        files += sorted(p for p in prompts.rglob("*") if p.is_file())
    out = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        out.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(out)
