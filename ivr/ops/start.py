"""The Procfile's command: `python3 -m ivr.ops.start --config gunicorn.conf.py 'ivr:create_app()'`
is gunicorn's own command line, started once WEB_CONCURRENCY is known to be a number.

gunicorn turns WEB_CONCURRENCY into a number as it is imported, before it reads gunicorn.conf.py:
`WEB_CONCURRENCY=abc gunicorn ...` ends in its ValueError traceback. Checked here first, a wrong
value is one sentence naming it. Everything else is gunicorn's: the same process becomes its
master (systemd's notify and a host's signals reach it), with the same arguments.
"""
import shlex
import sys
from pathlib import Path

if not __package__:
    # Run as a file: gunicorn's USR2 upgrade re-executes [python, *sys.argv], and under -m that
    # argv[0] is this file's path. The project's folder then stands where Python put ivr/ops/.
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from ivr.environment import ROOT, gunicorn_settings  # noqa: E402


def main() -> None:
    gunicorn_settings()  # PORT and WEB_CONCURRENCY: SystemExit with a sentence when one is wrong
    from gunicorn.app.wsgiapp import run
    sys.exit(run(prog="gunicorn"))


def procfile_command() -> list[str]:
    """The Procfile's web: command as this Python runs it (`make serve`, the bench, the tests): its
    `python3` is this interpreter, the one that has the line's packages."""
    for text in (ROOT / "Procfile").read_text().splitlines():
        if text.startswith("web:"):
            words = shlex.split(text[len("web:"):])
            return [sys.executable if words[0] in ("python", "python3") else words[0], *words[1:]]
    raise SystemExit(f"{ROOT / 'Procfile'} has no web: line")


if __name__ == "__main__":
    main()
