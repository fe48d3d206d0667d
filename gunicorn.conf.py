# gunicorn settings for the line (used by the Procfile and `make serve`).
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Twilio gives up after 15 s; a worker stuck longer than that helps nobody.
timeout = 15
# No access log: request lines are not needed, and nothing about callers is written anywhere.
accesslog = None
errorlog = "-"
loglevel = "info"
# Load the menus once in the master, so a broken menu stops the start with its message.
preload_app = True


def when_ready(server):
    """The master has loaded the app (preload_app) and is about to start the workers.

    The menu model lives as long as the worker: freezing it keeps Python's garbage collector from
    walking it again on every full collection (a cost that grows with the menu), and from writing
    to the pages each worker shares with the master.
    """
    import gc
    gc.collect()
    gc.freeze()
