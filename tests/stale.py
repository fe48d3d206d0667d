"""What a shipped-content test says when a file made from menus.yaml is out of date (the golden
calls, the README's map, fallback.xml): in one line the command that makes it again, then the
first lines that differ, never the whole file. Plain functions, imported like line_settings."""
from __future__ import annotations

import difflib

import pytest

SHOWN = 8  # differing lines shown, at most


def first_differences(expected: str, actual: str, shown: int = SHOWN) -> list[str]:
    """The first `shown` lines of a diff from what the file holds to what the menus make now."""
    diff = [line for line in difflib.unified_diff(actual.splitlines(), expected.splitlines(), "in the file",
                                                  "from menus.yaml now", lineterm="", n=0)
            if not line.startswith(("---", "+++", "@@"))]
    return ["  " + line for line in diff[:shown]] + (["  ..."] if len(diff) > shown else [])


def out_of_date(what: str, command: str, details: list[str] = ()) -> None:
    """Fail the test with the command to run, in one line, and at most SHOWN lines of details."""
    details = list(details)
    if len(details) > SHOWN + 1:
        details = details[:SHOWN] + ["  ..."]
    pytest.fail("\n".join([f"{what}: out of date with menus.yaml; run `{command}`, then `make test` "
                           "(docs/testing.md, 'After an edit')"] + details), pytrace=False)
