"""The line apart from its tools: serving calls loads none of the operators', testers' or
benchmark code, and each subpackage imports only what comes before it in the flow of data."""
import ast
import subprocess
import sys
from pathlib import Path

from ivr import ROOT

PACKAGE = ROOT / "ivr"
# What each part of the line may import: data flows one way, menus -> call -> web, ops beside.
MAY_IMPORT = {
    "menus": {"menus"},
    "call": {"menus", "call"},
    "web": {"menus", "call", "web", "ops"},
    "ops": {"menus", "call", "ops"},  # ops counts what the flow reports; it never asks the web layer
}
TOOLS = ("ivr.operators", "ivr.testers", "ivr.bench")


def test_the_line_loads_none_of_the_tools():
    code = (
        "import sys, ivr\n"
        "app = ivr.create_app({'TWILIO_AUTH_TOKEN': 't', 'RELOAD_SECONDS': 0})\n"
        "app.test_client().post('/voice')\n"
        f"print(sorted(m for m in sys.modules if m.startswith({TOOLS!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "IVR_RECORD_DIR": ""})
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout  # after the webhook's JSON log line


def test_the_benchmark_is_in_one_folder():
    # ivr/bench/: the bench command, its floor, the big menu and the measuring scripts
    # (python -m ivr.bench.load, .instructions, .served, .memory); test_the_line_loads_none_of_the_tools
    # keeps all of them out of the line.
    assert not list(ROOT.glob("bench/*.py"))  # where the scripts stood before
    assert {"command", "floor", "bigmenu", "load", "instructions", "served", "memory"} <= {
        path.stem for path in (PACKAGE / "bench").glob("*.py")}


def imported_subpackages(path: Path) -> set[str]:
    """The ivr subpackages a module imports (relative or absolute)."""
    package = path.relative_to(PACKAGE).parts[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                found.add(package)
            elif node.level == 2 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 2:
                found.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("ivr."):
                found.add(node.module.split(".")[1])
    return found


def test_each_part_of_the_line_imports_only_what_comes_before_it():
    for part, allowed in MAY_IMPORT.items():
        for path in sorted((PACKAGE / part).glob("*.py")):
            imported = imported_subpackages(path) & {"menus", "call", "web", "ops", "operators", "testers", "bench"}
            assert imported <= allowed, f"{path.relative_to(ROOT)} imports {sorted(imported - allowed)}"


def test_at_most_eight_modules_stand_directly_in_the_package():
    assert len(list(PACKAGE.glob("*.py"))) <= 8
