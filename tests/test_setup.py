"""Setting the project up: production installs the line and nothing else, every version is pinned,
and `make` on a Python that is too old says so in one sentence instead of failing in pip."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from ivr import ROOT

DEV_TOOLS = {"pytest", "hypothesis", "ruff"}


def requirements(name: str) -> dict[str, str]:
    """{package: the pin as written} of a requirements file, without comments, -r lines and the
    hashes pip-tools writes after each pin."""
    found = {}
    for text in (ROOT / name).read_text(encoding="utf-8").splitlines():
        text = text.split("#")[0].strip().removesuffix("\\").strip()
        if text and not text.startswith("-"):
            found[re.split(r"[=<>!~ \[]", text)[0].lower()] = text
    return found


def test_production_installs_no_test_or_lint_tool():
    production = requirements("requirements.txt")
    assert not DEV_TOOLS & production.keys()
    assert DEV_TOOLS <= requirements("requirements-dev.txt").keys()
    assert production.items() <= requirements("requirements-dev.txt").items()  # the same versions


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_every_version_is_pinned(name):
    for package, text in requirements(name).items():
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9.]*", text), f"{name}: {text!r} is not pinned"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_on_an_old_python_says_so_in_one_sentence(tmp_path):
    # A Python 3.9 as make sees it: its version, and the kind of failure pip would give otherwise.
    old_python = tmp_path / "python3"
    old_python.write_text('#!/bin/sh\n'
                          'if [ "$1" = "-V" ]; then echo "Python 3.9.18"; exit 0; fi\n'
                          'echo "ERROR: Could not find a version that satisfies the requirement flask==3.1.3" >&2\n'
                          'exit 1\n')
    old_python.chmod(0o755)
    venv = tmp_path / "venv"
    out = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), f"VENV={venv}", f"PYTHON={old_python}",
                          f"{venv}/bin/.installed"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    # make's own "make: *** ... Error 1" (make[1] when the tests themselves run under make, as in CI)
    said = [text for text in out.stderr.splitlines() if not re.match(r"make(\[\d+\])?: ", text)]
    assert said == [f"The line needs Python 3.11 or newer; {old_python} is 3.9: install 3.11 "
                    "(apt-get install python3.11) and run make again, or make PYTHON=python3.11."], out.stderr
    assert "pip" not in out.stdout + out.stderr and "ERROR" not in out.stdout + out.stderr
    assert not venv.exists()


# -- the README's commands, as a person types them --------------------------------------------
def bare_python() -> str:
    """The Python the project's .venv was made from, which has none of the line's packages there."""
    return getattr(sys, "_base_executable", None) or shutil.which("python3")


def typed(*words, cwd=ROOT, timeout=120):
    """`python -m ivr ...` typed in a shell, by a Python without the line's packages (-S: none of
    its own site-packages either, whatever is installed on this machine)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([bare_python(), "-S", "-m", "ivr", *words], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_python_m_ivr_works_as_the_readme_writes_it_outside_the_virtualenv():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python -m ivr tree --lang fr" in readme
    result = typed("tree", "--lang", "fr")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("[fr] key 1 at the language choice")
    assert "Traceback" not in result.stderr


def test_every_command_the_readme_names_is_one_the_tools_have():
    from ivr.operators.commands import main
    named = set(re.findall(r"python -m ivr (\w+)", (ROOT / "README.md").read_text(encoding="utf-8")))
    assert named and named <= set(main.commands), named - set(main.commands)


def test_without_a_virtualenv_a_bare_python_says_how_to_make_one(tmp_path):
    shutil.copytree(ROOT / "ivr", tmp_path / "ivr", ignore=shutil.ignore_patterns("__pycache__"))
    result = typed("check", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "does not have the line's packages (flask" in result.stderr
    assert "the project's .venv cannot run it: there is none. Run `make test` once in" in result.stderr
