"""The settings a person types: environment variables and the Python that runs `python -m ivr`.

Each environment variable the line, gunicorn.conf.py and the tools read is checked before it is
used: a value that cannot work is refused in one sentence naming the variable, never with a
ValueError deep in a worker. Only the standard library here: ivr/__init__.py imports this module
before flask, to run `python -m ivr ...` under the project's .venv when another Python lacks the
line's packages.
"""
from __future__ import annotations

import importlib.util
import math
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ("IVR_ALLOW_UNSIGNED", "IVR_PROXY_SETS_HOST")  # 1: on; 0 or unset: off


def wrong_in_line_settings(config: dict, environ=os.environ) -> str | None:
    """The first setting of the line (create_app's config, read from IVR_...) that cannot work,
    as a sentence; None when all can. Normalizes RELOAD_SECONDS to a number."""
    for name in FLAGS:
        value = environ.get(name, "")
        if value.strip() not in ("", "0", "1"):
            return f"{name}={value!r} should be 1 (on) or 0 (off)"
    seconds = _number(config["RELOAD_SECONDS"])
    if seconds is None or seconds < 0:
        return (f"IVR_RELOAD_SECONDS={config['RELOAD_SECONDS']!r} should be a number of seconds, like 2 "
                "(how often each worker looks for edited menu files; 0: never)")
    config["RELOAD_SECONDS"] = seconds
    folder = config.get("RECORD_DIR", environ.get("IVR_RECORD_DIR", ""))
    if folder:
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(13, "not writable")
        except OSError as e:
            return (f"IVR_RECORD_DIR={str(folder)!r}: cannot write recorded calls there ({e.strerror or e}); "
                    "name a folder of your own, or unset it")
    return None


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def whole_number(name: str, default: int, low: int, high: int, meaning: str, environ=os.environ) -> int:
    """An integer environment variable between low and high; SystemExit with a sentence if not."""
    value = environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise SystemExit(f"{name}={value!r} should be {meaning}, a whole number from {low} to {high}")
    return int(value)


def gunicorn_settings(environ=os.environ) -> tuple[str, int]:
    """gunicorn.conf.py's bind address (PORT) and number of workers (WEB_CONCURRENCY)."""
    port = whole_number("PORT", 8000, 1, 65535, "the port to serve on", environ)
    workers = whole_number("WEB_CONCURRENCY", 2, 1, 64, "the number of gunicorn workers", environ)
    return f"0.0.0.0:{port}", workers


PACKAGES = ("flask", "holidays", "phonenumbers", "prometheus_client", "twilio", "yaml")  # requirements.txt's


def packages_or_virtualenv() -> None:
    """`python -m ivr ...` (or the Procfile's `-m ivr.ops.start ...`) by a Python without the line's
    packages (flask...): the same command again under the project's .venv, or one sentence saying
    how to make it. Anything else that imports the line without its packages gets Python's own
    error, at its import."""
    missing = [name for name in PACKAGES if importlib.util.find_spec(name) is None]
    if not missing or sys.argv[:1] != ["-m"]:  # Python sets argv[0] to "-m" while it imports a -m package
        return
    venv = ROOT / ".venv"
    python = venv / "bin" / "python"
    if python.exists() and Path(sys.prefix).resolve() != venv.resolve():
        # The same `-m module arguments...` (ivr, or the Procfile's ivr.ops.start), without this Python's own options.
        at = next((i for i, arg in enumerate(sys.orig_argv[1:], 1) if arg.startswith("-m")), None)
        if at is None:
            again = ["-m", "ivr", *sys.argv[1:]]
        else:  # `-m module` or `-mmodule`
            module = sys.orig_argv[at][2:] or sys.orig_argv[at + 1]
            again = ["-m", module, *sys.orig_argv[at + (1 if sys.orig_argv[at][2:] else 2):]]
        os.execv(str(python), [str(python), *again])
    where = "it is broken" if python.exists() else "there is none"
    print(f"This Python ({sys.executable}) does not have the line's packages ({', '.join(missing)} missing), "
          f"and the project's .venv cannot run it: {where}. Run `make test` once in {ROOT} (it creates .venv), "
          "then this command again, or `.venv/bin/python -m ivr ...`.", file=sys.stderr)
    raise SystemExit(2)
