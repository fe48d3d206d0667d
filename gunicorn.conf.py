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
