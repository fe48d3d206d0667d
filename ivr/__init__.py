"""A free phone line for people facing cyberharassment and domestic violence in Belgium.

`create_app()` is the Twilio webhook app (see README.md). Data flows one way, one subpackage each:
menus.yaml -> `menus` (checked, immutable model) -> `call` (the decision, what is said, TwiML)
-> `web` (HTTP), with `ops` (health, metrics, logs) beside it. The operators' and testers' tools
(`operators`, `testers`, `bench`) use the line; the line never imports them.
"""
from __future__ import annotations

import sys

if sys.version_info < (3, 11):  # before anything that would fail with a less clear message
    raise SystemExit(f"The helpline line needs Python 3.11 or newer; this is Python "
                     f"{sys.version_info[0]}.{sys.version_info[1]}. Install 3.11 and try again.")
from .environment import packages_or_virtualenv  # noqa: E402 (only the standard library)

packages_or_virtualenv()  # `python -m ivr` by a Python without flask...: run under .venv, or say how

import datetime  # noqa: E402
import logging
import os
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import environment
from .menus.live import LiveLine
from .menus.load import MenuError, load_apart
from .menus.model import BRUSSELS, public_holidays
from .menus.numbers import to_e164
from .ops import observability
from .web import media, views
from .web.request import ServedAt, WebhookRequest, public_url

ROOT = Path(__file__).resolve().parent.parent
MENUS_FILE = ROOT / "menus.yaml"  # IVR_MENUS and IVR_PROMPTS name others, for the app and every command
PROMPTS_DIR = ROOT / "prompts"
log = logging.getLogger(__name__)


class ConfigError(RuntimeError):
    """The app cannot start with this configuration; the message says what to set."""


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)  # no /static route: the line serves only its recordings (ivr.web.media)
    app.request_class = WebhookRequest
    app.config.from_mapping(
        TWILIO_AUTH_TOKEN=os.environ.get("TWILIO_AUTH_TOKEN", ""),
        ALLOW_UNSIGNED=os.environ.get("IVR_ALLOW_UNSIGNED", "") == "1",
        MENUS=os.environ.get("IVR_MENUS", str(MENUS_FILE)),
        PROMPTS=os.environ.get("IVR_PROMPTS", str(PROMPTS_DIR)),
        TRANSFER_CALLER_ID=os.environ.get("IVR_TRANSFER_CALLER_ID", ""),
        LANGUAGE_BY_NUMBER=os.environ.get("IVR_LANGUAGE_BY_NUMBER", ""),
        TRUSTED_PROXIES=os.environ.get("IVR_TRUSTED_PROXIES", "1"),
        # "1": the proxies in front set X-Forwarded-Host and X-Forwarded-Port to the public URL's.
        # Off, only the scheme is taken from them: a client could otherwise name any host of the
        # same Twilio account there and replay a request signed for another line's URL.
        PROXY_SETS_HOST=os.environ.get("IVR_PROXY_SETS_HOST", "") == "1",
        # The one address Twilio calls (https://line.example.org): every signature is checked
        # against it, whatever Host or X-Forwarded-* a request names (docs/operations.md).
        PUBLIC_URL=os.environ.get("IVR_PUBLIC_URL", ""),
        # "1": the proxy in front sets X-Request-Start (overwriting a client's), so the time a
        # webhook waited there is part of its latency. Off, the header is never read.
        QUEUE_TIME=os.environ.get("IVR_PROXY_SETS_REQUEST_START", "") == "1",
        # Secrets of Twilio SharedKeys (Webhook Rules, X-Twilio-Webhooks-Signature-Settings),
        # separated by commas (two while a key is rotated).
        WEBHOOK_SHARED_KEYS=os.environ.get("IVR_WEBHOOK_SHARED_KEYS", ""),
        # How often each worker looks for edited menu files; 0 turns live reload off.
        RELOAD_SECONDS=os.environ.get("IVR_RELOAD_SECONDS", "2"),
        # Opening hours are Brussels time; tests put a fixed clock here.
        CLOCK=lambda: datetime.datetime.now(BRUSSELS),
        # Twilio's webhook bodies are under 2 KB; anything eight times larger is not Twilio.
        MAX_CONTENT_LENGTH=16 * 1024,
    )
    if test_config:
        app.config.from_mapping(test_config)
    _check_config(app)

    try:
        # In a child process: this one (a gunicorn master) keeps only the model for its workers.
        line = load_apart(app.config["MENUS"], app.config["PROMPTS"])
    except MenuError as e:
        raise ConfigError(str(e)) from None
    if test_config is None and not app.config["ALLOW_UNSIGNED"] and not app.config["PUBLIC_URL"] \
            and not app.config["PROXY_SETS_HOST"]:
        # Configured from the environment alone, as gunicorn and `ivr serve` build it: it answers
        # the network, where a Host header would let a request signed for another URL through.
        # (A program that passes its own settings, a test or a tester's tool, may leave it out:
        # the Host it sends is then the URL checked.) Said after the menus, whose errors come first.
        raise ConfigError("IVR_PUBLIC_URL is not set: set it to the address Twilio calls, such as "
                          "IVR_PUBLIC_URL=https://line.example.org, since every signature is checked against it.")
    for number, code in app.config["LANGUAGE_BY_NUMBER"].items():
        if line.language(code) is None:
            raise ConfigError(f"IVR_LANGUAGE_BY_NUMBER maps a number to '{code}', which menus.yaml does not offer")
    live = LiveLine(app.config["MENUS"], app.config["PROMPTS"], line, float(app.config["RELOAD_SECONDS"]))
    public_holidays().get(datetime.date.today())  # loaded here, in gunicorn's master, not at a caller's first key
    app.extensions["ivr"] = live  # its close() stops the menu watcher: a closed app reloads nothing

    app.register_blueprint(views.bp)
    app.register_blueprint(media.bp)
    app.config.setdefault("RECORD_DIR", os.environ.get("IVR_RECORD_DIR", ""))
    if app.config["RECORD_DIR"]:
        # The testers' recorder, only when asked for: the line itself never loads their tools.
        from .testers import recording
        recording.enable(app)
    observability.init_app(app)

    if app.config["PUBLIC_URL"]:
        # Wrapped before ProxyFix, so it runs after it: what ProxyFix read from the proxies'
        # X-Forwarded-Proto/-Host/-Port is replaced by the public URL's scheme and host.
        app.wsgi_app = ServedAt(app.wsgi_app, app.config["PUBLIC_URL"])
    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies and not app.config["ALLOW_UNSIGNED"]:
        # Behind a TLS-terminating proxy Twilio signs the public https:// URL; rebuild it. The host
        # and port only when the operator says the proxy sets them (IVR_PROXY_SETS_HOST=1).
        host = proxies if app.config["PROXY_SETS_HOST"] else 0
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=host, x_port=host)
    return app


def _check_config(app: Flask) -> None:
    config = app.config
    if wrong := environment.wrong_in_line_settings(config):  # IVR_RELOAD_SECONDS, the flags...
        raise ConfigError(wrong)
    if config["ALLOW_UNSIGNED"] and config["TWILIO_AUTH_TOKEN"]:
        # Both set is how a development setting leaks into production: refuse rather than guess.
        raise ConfigError("IVR_ALLOW_UNSIGNED=1 and TWILIO_AUTH_TOKEN are both set: unset "
                          "IVR_ALLOW_UNSIGNED, since a line with a token must check signatures.")
    if config["ALLOW_UNSIGNED"]:
        log.warning("IVR_ALLOW_UNSIGNED=1: Twilio signatures are NOT checked; local development only, "
                    "and only requests from 127.0.0.1 are answered")
    elif not config["TWILIO_AUTH_TOKEN"]:
        raise ConfigError("TWILIO_AUTH_TOKEN is not set: the line refuses to start without it, since it "
                          "could not tell Twilio's requests from forged ones. For local development only, "
                          "set IVR_ALLOW_UNSIGNED=1 (or use `make run`).")
    keys = config["WEBHOOK_SHARED_KEYS"]
    if isinstance(keys, str):
        config["WEBHOOK_SHARED_KEYS"] = tuple(k.strip() for k in keys.split(",") if k.strip())
    caller_id = config["TRANSFER_CALLER_ID"]
    if caller_id:
        e164 = to_e164(caller_id)
        if e164 is None:
            raise ConfigError(f"IVR_TRANSFER_CALLER_ID={caller_id!r} is not a valid phone number (use +32...)")
        config["TRANSFER_CALLER_ID"] = e164
    config["LANGUAGE_BY_NUMBER"] = _language_by_number(config["LANGUAGE_BY_NUMBER"])
    if config["PUBLIC_URL"]:
        try:
            config["PUBLIC_URL"] = public_url(config["PUBLIC_URL"])
        except ValueError as e:
            raise ConfigError(f"IVR_PUBLIC_URL={config['PUBLIC_URL']!r} {e}") from None
    try:
        if int(config["TRUSTED_PROXIES"]) < 0:
            raise ValueError
    except ValueError:
        raise ConfigError("IVR_TRUSTED_PROXIES should be 0 (no proxy) or the number of proxies in front") from None
    if config["QUEUE_TIME"] and int(config["TRUSTED_PROXIES"]) == 0:
        raise ConfigError("IVR_PROXY_SETS_REQUEST_START=1 says a proxy sets X-Request-Start, but IVR_TRUSTED_PROXIES=0 "
                          "says there is none: unset one of them.")


def _language_by_number(value) -> dict[str, str]:
    """IVR_LANGUAGE_BY_NUMBER="+3280012345=fr,+3280012346=nl": a line number that skips the choice."""
    if isinstance(value, dict):
        return value
    mapping = {}
    for item in filter(None, (part.strip() for part in str(value).split(","))):
        number, _, code = item.partition("=")
        e164 = to_e164(number.strip())
        if e164 is None or not code.strip():
            raise ConfigError(f"IVR_LANGUAGE_BY_NUMBER: '{item}' should look like +3280012345=fr")
        mapping[e164] = code.strip()
    return mapping
