# gunicorn settings for the line (used by the Procfile and `make serve`). Settings first, then the
# hooks: each is one call into ivr/ops/server.py, which says what they do and in which order.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the ivr package beside this file

from ivr.ops import server  # noqa: E402

# Metrics: every worker writes its counters to files in one folder, and /metrics adds up all of
# them, so the numbers do not depend on which worker answers the scrape. PROMETHEUS_MULTIPROC_DIR,
# else a folder of this master's in the temporary folder, removed when it stops. Chosen here,
# before the app is loaded and counts anything.
server.choose_metrics_folder()

bind, workers = server.bind_and_workers()  # PORT and WEB_CONCURRENCY, or one sentence saying what is wrong
# gevent workers (gunicorn's documented async worker class): each connection is a greenlet, so a
# client that sends its headers or body one byte a second holds only its own greenlet, never the
# worker. With the sync class four such clients kept a signed /voice waiting 31 s and sixteen took
# the line down (docs/performance.md, "Slow clients"). The app is monkey-patched in each worker
# after the fork; ivr/menus/live.py keeps its reload watcher on a real thread.
# ivr/ops/worker.py: gevent's worker, which closes a connection that has not sent its whole request
# within 10 s (headers and body; gunicorn sets no such bound) and raises the open-files limit.
worker_class = "ivr.ops.worker.Worker"
# Open connections per worker, idle and slow ones included: 2,000 in all took the line down
# (docs/operations.md, "Slow clients"); an idle one costs a worker about 10 KB.
worker_connections = 10000
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

logger_class = server.RedactingLogger  # phone numbers and SIDs blanked in gunicorn's own log


# -- hooks: one call each (ivr/ops/server.py) --------------------------------------------------
def on_starting(arbiter):
    server.empty_metrics_folder()


def when_ready(arbiter):
    server.freeze_loaded_app()


def post_worker_init(worker):
    server.follow_menu_edits()


def post_request(worker, req, environ, resp):
    server.let_others_go_first()


def worker_exit(arbiter, worker):
    server.quiet_logging_at_exit()


def child_exit(arbiter, worker):
    server.worker_gone(worker)


def on_exit(arbiter):
    server.remove_metrics_folder()
