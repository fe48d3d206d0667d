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


def module_imports(path: Path) -> set[str]:
    """The ivr modules a module imports anywhere in it (inside functions too), as dotted names."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names = [module] if node.module else [f"{module}.{alias.name}" for alias in node.names]
            if node.module:  # `from .x import y` may import the module x.y
                names += [f"{module}.{alias.name}" for alias in node.names]
            found.update(n for n in names if n.startswith("ivr"))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("ivr"))
    return found


def test_no_module_of_the_house_imports_itself_back_through_another():
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {name: {m for m in module_imports(path) if m in modules and m != name} for name, path in modules.items()}
    for package in modules:  # `ivr` itself is the line; a package's __init__ only names its parts
        if package != "ivr" and modules[package].name == "__init__.py" and not modules[package].read_text().count("import"):
            for name in graph:
                graph[name].discard(package)
    circles = []
    for start in graph:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    circles.append(" -> ".join(path + [start]))
                elif nxt not in path and len(path) < 8:
                    stack.append((nxt, path + [nxt]))
    assert not circles, "import circle(s): " + "; ".join(sorted(set(circles))[:5])
