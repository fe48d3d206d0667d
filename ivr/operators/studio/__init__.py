"""The operators' studio, `python -m ivr studio`: the line in a browser, for operators and testers.

A small web app of its own, served on 127.0.0.1 only, apart from the production app and without
a Twilio token. It reads the same menus.yaml and prompts/ (IVR_MENUS, IVR_PROMPTS), shows the
tree with each helpline's time to reach, hours and transfer number, the problems `check` lists,
and a phone. Every call runs the real line, created in this process, through the project's one
Twilio interpreter (ivr.testers.phone): the page only shows what that phone heard, so nothing
about Twilio is written twice. The line follows edits as in production (its own watcher,
IVR_RELOAD_SECONDS); the page asks for the tree and the problems again every few seconds.
It starts on broken files too (when an operator needs it most): it lists their problems, and
starts the line once they are fixed. Its page speaks French, Dutch and English, and draws the
tree as a map itself (SVG): it fetches nothing from the internet.
"""
from __future__ import annotations

import datetime
import logging
import os
import re
import secrets
import socket
import sys
import threading
import uuid
from pathlib import Path

import click
from flask import Flask, Response, abort, jsonify, request, send_from_directory

from ...menus.live import files_signature
from ...testers import phone
from ...testers.tester import DIAL_STATUS_FOR, clock_setter

STATIC = Path(__file__).resolve().parent / "static"
OUTCOME_BUTTONS = ("answered", "busy", "no-answer", "failed")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
CLOCK_FORM = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")  # 24-hour, whatever the browser's locale
KEPT_CALLS = 20  # ended calls kept for a page that asks again; a local tool, one tester


def create_studio(line_config: dict | None = None) -> Flask:
    """The studio's app; `line_config` goes to the line's create_app (tests name a menu there).
    Menu files with errors do not stop it: it shows them, and starts the line once they are fixed;
    a wrong setting (IVR_TRANSFER_CALLER_ID...) does, in one sentence."""
    from ... import MENUS_FILE, PROMPTS_DIR
    token = secrets.token_hex(16)  # throwaway: the phone signs, the line checks, as with Twilio
    config = {"TWILIO_AUTH_TOKEN": token, "ALLOW_UNSIGNED": False, "TRUSTED_PROXIES": "0",
              "TRANSFER_CALLER_ID": os.environ.get("IVR_TRANSFER_CALLER_ID") or phone.TRANSFER_CALLER_ID,
              "RECORD_DIR": "", "WEBHOOK_LOG": False,
              "MENUS": os.environ.get("IVR_MENUS", str(MENUS_FILE)),
              "PROMPTS": os.environ.get("IVR_PROMPTS", str(PROMPTS_DIR))}
    config.update(line_config or {})
    studio = Studio(config, token)
    studio.start_line()
    app = Flask(__name__, static_folder=None)
    app.extensions["studio"] = studio

    @app.before_request
    def only_this_computer():
        # Bound to 127.0.0.1, but a web page elsewhere could still reach it through the browser:
        # another Host is a DNS rebinding, and a POST that is not JSON a cross-site form. Both are
        # refused (JSON from another site needs a CORS preflight the studio never grants).
        hostname = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else request.host.split("]")[0] + "]"
        if hostname not in LOCAL_HOSTS:
            abort(403)
        if request.method == "POST" and not request.is_json:
            abort(415)

    @app.get("/")
    def page():
        return send_from_directory(STATIC, "index.html")

    @app.get("/static/<name>")
    def static_file(name):
        return send_from_directory(STATIC, name)

    @app.get("/api/tree")
    def tree():
        return jsonify(studio.tree())

    @app.get("/api/problems")
    def problems():
        return jsonify(studio.problems())

    @app.post("/api/clock")
    def clock():
        at = (request.get_json(silent=True) or {}).get("at")
        try:
            if at and not CLOCK_FORM.fullmatch(str(at).strip()):
                raise ValueError
            studio.set_clock(datetime.datetime.fromisoformat(str(at).strip()) if at else None)
        except (TypeError, ValueError):
            return jsonify(error=f"{at!r} is not a date and time like 2026-12-24 23:00", code="bad-clock"), 400
        return jsonify(studio.clock())

    @app.post("/api/calls")
    def start_call():
        return studio.start(request.host_url.rstrip("/"))

    @app.post("/api/calls/<call_id>/<action>")
    def act(call_id, action):
        body = request.get_json(silent=True) or {}
        if action not in ("press", "silence", "outcome", "hangup"):
            abort(404)
        return studio.act(call_id, action, str(body.get("key") or body.get("outcome") or ""))

    @app.get("/recordings/<language>/<name>")
    def recording(language, name):
        # The line's <Play> URLs point here (the calls use this server's address): the recording
        # comes from the line in this process, as Twilio would fetch it.
        if studio.line_app is None:
            abort(404)
        answer = studio.line_app.test_client().get(request.full_path, environ_base={"REMOTE_ADDR": "127.0.0.1"})
        return Response(answer.get_data(), answer.status_code, content_type=answer.content_type)

    return app


class Studio:
    """The line in this process (once its files load), its clock, and the calls in progress (in memory)."""

    def __init__(self, config: dict, token: str):
        self.config = config
        self.menus, self.prompts = Path(config["MENUS"]), Path(config["PROMPTS"])
        self.token = token
        self.line_app: Flask | None = None  # None until the menu files load
        self.live = None
        self._set_line_clock = None
        self._tried: tuple | None = None  # the files' signature when the line last failed to start
        self.at: datetime.datetime | None = None  # None: the real time
        self.calls: dict[str, dict] = {}
        self._lock = threading.Lock()  # one phone action at a time: phone.Call is not shared-safe
        self._starting = threading.Lock()
        self._problems: tuple | None = None
        self._waits: tuple | None = None

    def start_line(self) -> None:
        """The line on these files, if they load; tried again when they change. A setting that
        cannot work stops the studio in one sentence, as it would stop the line."""
        with self._starting:  # the page asks for the tree and the problems at once, in two threads
            self._start_line()

    def _start_line(self) -> None:
        from ... import ConfigError, create_app
        from ...menus.load import inspect
        if self.line_app is not None or self._tried == self._signature():
            return
        self._tried = self._signature()
        if inspect(self.menus, self.prompts)[0] is None:
            return  # the problems say why; the studio waits for a good edit
        try:
            self.line_app = create_app(self.config)
        except ConfigError as e:
            raise click.ClickException(str(e)) from None
        self.live = self.line_app.extensions["ivr"]
        self._set_line_clock = clock_setter(self.line_app)
        self._set_line_clock(self.at)

    def _signature(self) -> tuple:
        return files_signature(self.menus, self.prompts)

    # -- the clock ------------------------------------------------------------------------
    def now(self) -> datetime.datetime:
        from ...menus.model import BRUSSELS
        return self.at or datetime.datetime.now(BRUSSELS)

    def set_clock(self, at: datetime.datetime | None) -> None:
        from ...menus.model import BRUSSELS
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=BRUSSELS)  # the hours in menus.yaml are Brussels time
        self.at = at
        if self._set_line_clock is not None:
            self._set_line_clock(at)

    def clock(self) -> dict:
        # 24-hour, the same in every locale: the page shows and takes it as YYYY-MM-DD HH:MM.
        now = self.now()
        return {"set": self.at is not None, "at": now.strftime("%Y-%m-%d %H:%M"), "weekday": now.isoweekday()}

    # -- what the operators read ----------------------------------------------------------
    def problems(self) -> dict:
        """What `check` lists, read again only when a file changed (names, sizes, times)."""
        from ..check import check_problems
        self.start_line()
        signature = self._signature()
        if self._problems is None or self._problems[0] != signature:
            _, found = check_problems(self.menus, self.prompts)
            self._problems = (signature, [str(p) for p in found])
        return {"problems": self._problems[1], "files": _shown(self.menus), "line": self.line_app is not None}

    def tree(self) -> dict:
        """Each language's tree as the line serves it now (the last good edit)."""
        from ...operators import timing
        self.start_line()
        if self.live is None:  # the files have had errors since the studio started: no tree yet
            return {"version": None, "clock": self.clock(), "languages": []}
        line = self.live.serving()
        if self._waits is None or self._waits[0] != line.version:
            self._waits = (line.version, {lang.code: {w.what: w for w in timing.waits(line, lang)}
                                          for lang in line.languages})
        waits, now = self._waits[1], self.now()
        languages = []
        for language in line.languages:
            first = waits[language.code]["first topic"]
            languages.append({"code": language.code, "key": language.key, "speech": language.speech_language,
                              "first_topic": _wait(first),
                              "menu": _node(language, (), waits[language.code], now)})
        return {"version": line.version, "clock": self.clock(), "languages": languages}

    # -- the phone ------------------------------------------------------------------------
    def start(self, base_url: str):
        if self.line_app is None:
            return jsonify(error="the line cannot start with these files: fix the problems above first",
                           code="no-line"), 409
        with self._lock:
            ended = [k for k, v in self.calls.items() if v["call"].ended]
            for k in ended[:max(len(ended) - KEPT_CALLS, 0)]:
                del self.calls[k]
            call_id = uuid.uuid4().hex
            # A fresh fake CallSid, as Twilio gives; the numbers are the phone's placeholders.
            the_call = phone.Call(phone.FlaskTransport(self.line_app.test_client()), base_url, self.token,
                                  phone.twilio_params(call_sid="CA" + call_id))
            entry = self.calls[call_id] = {"call": the_call, "shown": 0}
            return jsonify(self._run(call_id, entry, the_call.start))

    def act(self, call_id: str, action: str, argument: str):
        with self._lock:
            entry = self.calls.get(call_id)
            if entry is None:
                return jsonify(error="this call is over: press Call for a new one"), 404
            the_call = entry["call"]
            if action == "press":
                if the_call.waiting != "keys" or len(argument) != 1 or argument not in "0123456789*#":
                    return jsonify(error=f"the line is not listening for a key ({the_call.waiting or 'call ended'})"), 409
                return jsonify(self._run(call_id, entry, lambda: the_call.press(argument)))
            if action == "silence":
                if the_call.waiting != "keys":
                    return jsonify(error="the line is not listening"), 409
                return jsonify(self._run(call_id, entry, the_call.silence))
            if action == "outcome":
                if argument not in OUTCOME_BUTTONS or the_call.waiting != "dial":
                    return jsonify(error="no transfer is ringing"), 409
                return jsonify(self._run(call_id, entry, lambda: the_call.dial_outcome(DIAL_STATUS_FOR[argument])))
            if not the_call.ended:
                the_call.hang_up()
            return jsonify(self._state(call_id, entry, heard=[]))

    def _run(self, call_id: str, entry: dict, step) -> dict:
        try:
            step()
        except phone.LineError as e:  # what a caller would suffer: shown, never a traceback
            entry["call"].transcript.append(f"[line error: {e}]")
            entry["call"].ended, entry["call"].waiting = True, None
        return self._state(call_id, entry)

    def _state(self, call_id: str, entry: dict, heard=None) -> dict:
        the_call = entry["call"]
        new = the_call.transcript[entry["shown"]:]
        entry["shown"] = len(the_call.transcript)
        return {"id": call_id, "entries": _entries(new, the_call.heard if heard is None else heard),
                "waiting": the_call.waiting, "dialing": the_call.dialing, "ended": the_call.ended,
                "outcomes": list(OUTCOME_BUTTONS) if the_call.waiting == "dial" else []}


def _entries(lines: list[str], heard: list[phone.Heard]) -> list[dict]:
    """The phone's new transcript lines, each sentence with its language (from what it heard
    since the caller last acted, in the same order), each key and action on its own."""
    sounds = [h for h in heard if h.kind != "pause"]
    out = []
    for line in lines:
        sound = sounds[0] if sounds else None
        if sound is not None and line == (f"{sound.language or '?'}: {sound.text}" if sound.kind == "say"
                                          else f"(plays {sound.text})"):
            sounds.pop(0)
            if sound.kind == "say":
                out.append({"kind": "say", "language": sound.language or "", "text": sound.text,
                            "seconds": heard_seconds(sound.text)})
            else:
                out.append({"kind": "play", "url": sound.text, "text": "recording " + sound.text.rsplit("/", 1)[-1].split("?")[0]})
        elif line.startswith("[caller presses "):
            out.append({"kind": "key", "text": "caller presses " + line[len("[caller presses "):-1]})
        else:
            out.append({"kind": "action", "text": line.strip("[]")})
    return out


_GROUPS = re.compile(r"\d, \d")  # the phone writes a number's groups "0 8 0 0, 3 0, 0 3 0"


def heard_seconds(text: str) -> float:
    """A sentence's estimated seconds, by the speech-time model of `tree --timing`
    (ivr/operators/timing.py): its words and digits, and the pause between a number's groups."""
    from ...call.twiml import GROUP_PAUSE_MS
    from .. import timing
    return round(timing.text_seconds(text) + len(_GROUPS.findall(text)) * GROUP_PAUSE_MS / 1000, 1)


def _shown(path: Path) -> str:
    """The menu file as the operator named it: relative to the current folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _wait(wait) -> dict | None:
    if wait is None:
        return None
    return {"seconds": round(wait.seconds, 1), "budget": round(wait.budget), "over": wait.over}


def _node(language, path: tuple, waits: dict, now: datetime.datetime) -> dict:
    from ...menus.model import Menu
    node = language.node(path)
    if isinstance(node, Menu):
        return {"kind": "menu", "id": node.id, "intro": node.intro,
                "options": [{"key": o.key, "say": o.say, "node": _node(language, path + (o.key,), waits, now)}
                            for o in node.options]}
    transfer_keys = {h.id: k for k, h in node.transfers()}
    return {"kind": "page", "helplines": [
        {"id": h.id, "name": h.name, "number": h.number.written if h.number else None,
         "how_to_reach": h.how_to_reach, "transfer": h.transfer, "transfer_key": transfer_keys.get(h.id),
         "hours": h.hours, "open": h.open_at(now), "wait": _wait(waits.get(h.id))}
        for h in node.helplines]}


@click.command("studio")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535),
              help="port on 127.0.0.1 (this computer only)")
def studio_command(port):
    """Try the line in a browser: its tree, a phone, and the check's problems, on 127.0.0.1."""
    app = create_studio()
    # The page asks every few seconds: one line per request would bury the useful messages.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from werkzeug.serving import make_server
    try:  # werkzeug would say so too, but not with the option to use
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
    except OSError as e:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port} ({e.strerror}): "
                                   f"try another port, e.g. --port {port + 1}") from None
    server = make_server("127.0.0.1", port, app, threaded=True)
    click.echo(f"The studio: http://127.0.0.1:{port}/ (this computer only). Ctrl-C stops it.")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
