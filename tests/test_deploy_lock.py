"""requirements.txt (what production installs) and requirements-dev.txt are locks that pip-tools
writes from pyproject.toml's dependencies (`make lock`). They must say the same as pyproject.toml:
a dependency added there and not locked would be missing on the production host, one removed there
would still be installed. Compared by name and version, without the network (pip-compile itself
takes over a minute); tests/test_deploy.py installs requirements.txt alone in a fresh venv."""
from __future__ import annotations

import re
import tomllib
from importlib import metadata

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ivr import ROOT

FIX = "run `make lock` (it pins pyproject.toml's dependencies again, keeping today's versions where they fit)"
PROJECT = "ivr (pyproject.toml)"


def lock(name: str) -> dict[str, dict]:
    """name -> {"version", "hashes", "via"} for each pin of a pip-compile output file."""
    pins: dict[str, dict] = {}
    current = None
    in_via = False
    for line in (ROOT / name).read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line)
        if pin:
            current = pins[canonicalize_name(pin[1])] = {"version": pin[2], "hashes": 0, "via": set()}
            in_via = False
        elif current and "--hash=sha256:" in line:
            current["hashes"] += 1
        elif current and re.match(r"^\s+# via (.+)$", line):
            current["via"].add(line.split("# via ", 1)[1].strip())
            in_via = False
        elif current and re.match(r"^\s+# via$", line):
            in_via = True
        elif current and in_via and re.match(r"^\s+#   \S", line):
            current["via"].add(line.split("#   ", 1)[1].strip())
        elif not line.startswith(" "):
            current, in_via = None, False
    return pins


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def disagreements(pins: dict[str, dict], wanted: list[str], file: str) -> list[str]:
    found = []
    names = set()
    for text in wanted:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        names.add(name)
        pin = pins.get(name)
        if pin is None:
            found.append(f"pyproject.toml needs {name}, which {file} does not pin")
        elif not requirement.specifier.contains(pin["version"], prereleases=True):
            found.append(f"pyproject.toml wants {text}, {file} pins {name}=={pin['version']}")
    for name, pin in pins.items():
        if PROJECT in pin["via"] and name not in names:
            found.append(f"{file} pins {name} for pyproject.toml, which no longer lists it")
        if not pin["hashes"]:
            found.append(f"{file} pins {name} without a hash")
        for parent in pin["via"] - {PROJECT}:
            if parent.startswith("-c ") or parent.startswith("-r "):
                continue
            if canonicalize_name(parent) not in pins:
                found.append(f"{file} pins {name} for {parent}, which it does not pin")
    return found


def needs(name: str, version: str) -> set[str]:
    """What an installed distribution declares it needs (extras left out), when it is installed here
    at the locked version."""
    try:
        distribution = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return set()
    if distribution.version != version:
        return set()
    environment = dict(default_environment(), extra="")
    wanted = set()
    for text in distribution.requires or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            wanted.add(canonicalize_name(requirement.name))
    return wanted


def test_requirements_txt_locks_exactly_pyprojects_dependencies():
    problems = disagreements(lock("requirements.txt"), project()["dependencies"], "requirements.txt")
    assert not problems, f"requirements.txt and pyproject.toml disagree: {FIX}. " + "; ".join(problems)


def test_requirements_dev_txt_locks_the_dependencies_and_the_tools_at_productions_versions():
    production, dev = lock("requirements.txt"), lock("requirements-dev.txt")
    wanted = project()["dependencies"] + project()["optional-dependencies"]["dev"]
    problems = disagreements(dev, wanted, "requirements-dev.txt")
    problems += [f"requirements-dev.txt pins {name}=={dev[name]['version']}, requirements.txt {pin['version']}"
                 for name, pin in production.items() if name in dev and dev[name]["version"] != pin["version"]]
    problems += [f"requirements-dev.txt lacks {name}, which production installs"
                 for name in production if name not in dev]
    assert not problems, f"requirements-dev.txt and pyproject.toml disagree: {FIX}. " + "; ".join(problems)


def test_the_production_lock_holds_everything_its_packages_need():
    """What pip would fetch on the production host beyond the lock (and refuse, in hash mode), read
    from the installed packages' own metadata (this venv holds the same versions)."""
    pins = lock("requirements.txt")
    missing = sorted(f"{need} (needed by {name})" for name, pin in pins.items()
                     for need in needs(name, pin["version"]) if need not in pins)
    assert not missing, f"requirements.txt lacks what its packages need: {FIX}. Missing: " + ", ".join(missing)


def test_the_lock_says_why_packaging_is_there():
    text = (ROOT / "requirements.txt").read_text()
    assert re.search(r"^# .*gevent worker of gunicorn imports packaging.*\npackaging==", text, re.M), \
        f"requirements.txt must say why it pins packaging: {FIX}"


def test_the_check_sees_a_dependency_that_is_not_locked():
    pins = lock("requirements.txt")
    assert disagreements(pins, project()["dependencies"] + ["requests-toolbelt"], "requirements.txt") == [
        "pyproject.toml needs requests-toolbelt, which requirements.txt does not pin"]
    assert disagreements(pins, project()["dependencies"] + ["flask<3"], "requirements.txt")
    dropped = [d for d in project()["dependencies"] if not d.startswith("holidays")]
    assert disagreements(pins, dropped, "requirements.txt") == [
        "requirements.txt pins holidays for pyproject.toml, which no longer lists it"]
