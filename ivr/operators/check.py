"""What `check` finds in the menu files, apart from the command that prints it: the command
(commands.py) and the studio both read it, and neither imports the other for it."""
from __future__ import annotations

from pathlib import Path

from ..menus.load import inspect
from ..menus.yamlfile import read
from . import fallback, timing


def check_problems(menus, prompts_dir=None, fallback_file=None):
    """What `check` reports: the files' problems, then the time budget's and the fallback's (and
    whether the committed fallback document still matches, when there is one)."""
    line, problems = inspect(menus, prompts_dir)
    if line is not None:
        doc = read(menus)
        problems = problems + timing.problems(line, doc) + fallback.problems(line, doc)
        document = Path(fallback_file) if fallback_file else Path(menus).parent / fallback.DOCUMENT
        if fallback_file or document.is_file():
            problems += fallback.staleness(line, doc, menus, document)
    return line, problems
