# gunicorn settings for the line (used by the Procfile and `make serve`).
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # so that ivr.ops.logs imports below

from gunicorn.glogging import Logger  # noqa: E402

from ivr.environment import gunicorn_settings  # noqa: E402
from ivr.ops.logs import Redacting  # noqa: E402

bind, workers = gunicorn_settings()  # PORT and WEB_CONCURRENCY, or one sentence saying what is wrong
# gevent workers (gunicorn's documented async worker class): each connection is a greenlet, so a
# client that sends its headers or body one byte a second holds only its own greenlet, never the
# worker. With the sync class four such clients kept a signed /voice waiting 31 s and sixteen took
# the line down (docs/performance.md, "Slow clients"). The app is monkey-patched in each worker
# after the fork; ivr/menus/live.py keeps its reload watcher on a real thread.
worker_class = "gevent"
worker_connections = 1000  # gunicorn's default: open connections per worker, slow ones included
# Twilio gives up after 15 s; a worker stuck longer than that helps nobody.
timeout = 15
# On SIGTERM (a deploy, a restart) a worker stops accepting and finishes the webhooks in flight for
# up to this long; Twilio waits no longer than 15 s for any of them (docs/operations.md).
graceful_timeout = 15
# No access log: the JSON line each webhook writes on stdout (ivr/ops/logs.py) says more, and never
# who called. If an operator turns it on anyway, this format leaves out addresses and query strings.
accesslog = None
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(M)sms'
errorlog = "-"
loglevel = "info"
# Load the menus once in the master, so a broken menu stops the start with its message.
preload_app = True

# Metrics: every worker writes its counters to files in this folder, and /metrics adds up all of
# them, so the numbers do not depend on which worker answers the scrape. prometheus_client reads
# the variable when it is imported, so it is set here, before the app is loaded.
_own_metrics_folder = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_folder:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(tempfile.gettempdir(), f"ivr-metrics-{os.getpid()}")


def on_starting(server):
    # Start from zero: files of an earlier run in the same folder would be added to this one.
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)
    # loaded with the app (preload_app): its files were just removed
    from ivr.ops import metrics
    metrics.folder_emptied()


def on_exit(server):
    if _own_metrics_folder:  # a folder the operator chose is left for them
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def child_exit(server, worker):
    # A dead worker's counters stay (they happened); its live gauges are dropped.
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)
    if worker.aborted:
        # The master timed this worker out (gunicorn's "WORKER TIMEOUT": SIGABRT, then SIGKILL):
        # counted here, in the master, since a stuck worker may never run a hook of its own.
        try:
            from ivr.ops import metrics
            metrics.count_worker_timeout()
        except Exception:
            server.log.exception("could not count a worker timeout in the metrics")


class RedactingLogger(Logger):
    """gunicorn's own error log, with phone numbers and Twilio SIDs blanked (see ivr/ops/logs.py)."""

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers + self.access_log.handlers:
            handler.setFormatter(Redacting(handler.formatter._fmt if handler.formatter else None, self.datefmt))


logger_class = RedactingLogger

def when_ready(server):
    """The master has loaded the app (preload_app) and is about to start the workers.

    The menu model lives as long as the worker: freezing it keeps Python's garbage collector from
    walking it again on every full collection (a cost that grows with the menu), and from writing
    to the pages each worker shares with the master.
    """
    import gc
    gc.collect()
    gc.freeze()


def post_worker_init(worker):
    # Each worker follows menu edits from its start, not from its first request: otherwise a
    # worker that has answered nothing yet would serve the menu it was born with at first.
    from ivr.menus import live
    live.watch_all()


def worker_exit(server, worker):
    """A gevent worker's last step. gevent made logging's module lock one of its own when it
    patched the worker; once the interpreter starts tearing gevent down, that lock fails and
    logging printed a traceback ("Exception ignored in _removeHandlerRef") for every worker that
    stopped. No greenlet runs any more here: the interpreter's own lock does."""
    import _thread
    import logging
    logging._lock = _thread.RLock()


def post_request(worker, req, environ, resp):
    """Let the worker's other connections go first. A gevent worker reads a keep-alive
    connection's next request as soon as it is there, without passing through its hub: a client
    that answers fast (a load generator, or an attacker) is served again and again while the
    others wait (p99 200-300 ms under wrk with 16 connections, p50 1 ms). Yielding here serves
    the ready connections in turn."""
    _yield_to_others()


def _yield_to_others():
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("socket"):  # a gevent worker, not a sync one
        sys.modules["gevent"].sleep(0)
