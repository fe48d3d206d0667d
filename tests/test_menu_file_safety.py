"""Menu files are read safely: anchors and aliases, oversized files and anything but a regular
file are refused at once, by `check` and by a running line's reload, with a plain reason."""
import logging
import os
import subprocess
import sys
import time

import pytest

from ivr import ROOT
from ivr.menus import yamlfile
from ivr.menus.live import LiveLine
from ivr.menus.load import load

# Nine lines of nine aliases: 9**9 (387 million) strings once built, from a 1 KB file.
ALIAS_BOMB = "a: &a [" + ", ".join(['"lol"'] * 9) + "]\n" + "".join(
    f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
    for prev, name in zip("abcdefgh", "bcdefghi"))


def check(menus, prompts, timeout=20):
    """`python -m ivr check`, as an operator runs it; (seconds, exit code, output)."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "ivr", "check", str(menus), "--prompts", str(prompts)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return time.monotonic() - started, done.returncode, done.stdout + done.stderr


def test_an_alias_bomb_is_refused_by_check_at_once_with_its_line(menu_copy):
    menu_copy.menus.write_text(ALIAS_BOMB, encoding="utf-8")
    seconds, code, output = check(menu_copy.menus, menu_copy.prompts)
    assert code == 1 and "Traceback" not in output and "MemoryError" not in output, output
    assert f"{menu_copy.menus}:1:4: error: anchors (&) and aliases (*) are not accepted" in output, output
    assert seconds < 5


def test_an_anchor_in_a_real_menu_is_refused_with_its_line(menu_copy):
    text = menu_copy.menus.read_text(encoding="utf-8")
    menu_copy.menus.write_text(text + "\nspare: &spare {x: 1}\nagain: *spare\n", encoding="utf-8")
    where = menu_copy.line_of("spare: &spare")
    problems = [str(p) for p in yamlfile_problems(menu_copy.menus)]
    assert problems == [f"{menu_copy.menus}:{where}:8: error: {yamlfile._ALIASES}"]


def yamlfile_problems(path):
    try:
        yamlfile.read(path)
    except yamlfile.YamlFileError as e:
        return [e.problem]
    return []


def test_a_menu_file_over_the_size_cap_is_refused_with_the_cap_named(menu_copy):
    # A valid menu followed by comments: 5 MB in all (the cap is 4 MB).
    with open(menu_copy.menus, "a", encoding="utf-8") as f:
        f.write(("# " + "x" * 1021 + "\n") * 5 * 1024)
    seconds, code, output = check(menu_copy.menus, menu_copy.prompts)
    assert code == 1 and "Traceback" not in output, output
    assert "over the 4 MB cap on menu files" in output and "5.0 MB" in output, output
    assert seconds < 5


def test_a_prompts_file_over_the_cap_is_refused_too(menu_copy):
    with open(menu_copy.prompts / "fr.yaml", "a", encoding="utf-8") as f:
        f.write(("# " + "x" * 1021 + "\n") * 5 * 1024)
    seconds, code, output = check(menu_copy.menus, menu_copy.prompts)
    assert code == 1 and "fr.yaml:1:1: error:" in output and "4 MB cap" in output, output


@pytest.mark.parametrize("kind", ["a named pipe", "a folder"])
def test_a_menu_that_is_not_a_regular_file_is_refused_at_once_never_waited_on(menu_copy, kind):
    menu_copy.menus.unlink()
    if kind == "a named pipe":
        os.mkfifo(menu_copy.menus)  # nobody writes to it: reading it would wait for ever
    else:
        menu_copy.menus.mkdir()
    seconds, code, output = check(menu_copy.menus, menu_copy.prompts)
    assert code == 1 and "Traceback" not in output, output
    assert f"{menu_copy.menus}:1:1: error: this is {kind}, not a regular file" in output, output
    assert seconds < 5


def test_a_named_pipe_as_prompts_file_is_refused_at_once(menu_copy):
    (menu_copy.prompts / "nl.yaml").unlink()
    os.mkfifo(menu_copy.prompts / "nl.yaml")
    seconds, code, output = check(menu_copy.menus, menu_copy.prompts)
    assert code == 1 and "nl.yaml:1:1: error: this is a named pipe" in output, output
    assert seconds < 5


@pytest.mark.parametrize("accident", ["alias bomb", "named pipe", "too large"])
def test_a_running_line_refuses_the_edit_keeps_the_last_good_menu_and_logs_why(menu_copy, accident, caplog):
    good = load(menu_copy.menus, menu_copy.prompts)
    live = LiveLine(menu_copy.menus, menu_copy.prompts, good, interval=0)
    if accident == "alias bomb":
        menu_copy.menus.write_text(ALIAS_BOMB, encoding="utf-8")
        reason = "anchors (&) and aliases (*) are not accepted"
    elif accident == "named pipe":
        menu_copy.menus.unlink()
        os.mkfifo(menu_copy.menus)
        reason = "this is a named pipe, not a regular file"
    else:
        with open(menu_copy.menus, "a", encoding="utf-8") as f:
            f.write("#" * (yamlfile.MAX_FILE_BYTES + 1))
        reason = "over the 4 MB cap"
    caplog.set_level(logging.ERROR, logger="ivr.menus.live")
    started = time.monotonic()
    assert live.refresh() is False
    assert time.monotonic() - started < 3
    assert live.serving() is good and live.refused and reason in str(live.refused[0])
    assert reason in caplog.text and "still serving version " + good.version in caplog.text


def test_ordinary_menus_still_read_and_give_the_same_version(menu_copy, tmp_path):
    # The version is the digest of the bytes read once: the same files elsewhere, the same line.
    import shutil
    first = load(menu_copy.menus, menu_copy.prompts)
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(menu_copy.menus, other / "menus.yaml")
    shutil.copytree(menu_copy.prompts, other / "prompts")
    assert load(other / "menus.yaml", other / "prompts") == first
    doc = yamlfile.read(menu_copy.menus)
    assert doc.raw == menu_copy.menus.read_bytes()
    menu_copy.replace("\n", "\n# an edit\n")
    assert load(menu_copy.menus, menu_copy.prompts).version != first.version


def test_the_real_line_refuses_such_edits_within_seconds_and_its_workers_do_not_grow(tmp_path):
    """Under the Procfile's gunicorn (gevent workers, live reload every 0.5 s): a named pipe would
    block a whole worker, an alias bomb would make it grow by hundreds of MB."""
    import json

    from real_line import RealLine
    line = RealLine(tmp_path)
    try:
        version = json.loads(line.get("/healthz")[1])["menu_version"]
        rss_before = {pid: line.rss_mb(pid) for pid in line.workers()}
        good = line.menus.read_bytes()
        for accident, reason in [("named pipe", "this is a named pipe, not a regular file"),
                                 ("alias bomb", "anchors (&) and aliases (*) are not accepted"),
                                 ("too large", "over the 4 MB cap on menu files")]:
            line.menus.unlink()
            if accident == "named pipe":
                os.mkfifo(line.menus)
            elif accident == "alias bomb":
                line.menus.write_text(ALIAS_BOMB, encoding="utf-8")
            else:
                line.menus.write_bytes(good + b"#" * yamlfile.MAX_FILE_BYTES)
            deadline = time.monotonic() + 20  # each check runs in a fresh process (live.inspect_apart)
            while line.log().count(reason) < 2 and time.monotonic() < deadline:  # each worker says so
                time.sleep(0.1)
            assert line.log().count(reason) >= 2, (accident, line.log()[-2000:])
            for _ in range(4):  # both workers keep answering calls, with the last good menu
                started = time.monotonic()
                status, body = line.post_voice(timeout=2)
                assert status == 200 and "<Response>" in body and time.monotonic() - started < 1
                health = json.loads(line.get("/healthz", timeout=2)[1])
                assert health["menu_version"] == version and health["refused_edit_errors"] == 1
        for pid, before in rss_before.items():
            assert line.rss_mb(pid) < before + 20, (pid, before, line.rss_mb(pid))
        assert "Traceback" not in line.log()
    finally:
        line.stop()


# -- files nested too deep, or too wide, for any menu (issue 21) ---------------------------------

def deep(levels: int) -> str:
    """`levels` lists inside each other: 30,000 of them (60 KB) overflowed the C stack of PyYAML's
    composer, and `check`, `serve` and every worker died with no word (exit 139)."""
    return "[" * levels + "]" * levels + "\n"


def wide(limit_bytes: int = yamlfile.MAX_FILE_BYTES - 200) -> str:
    """A file just under the size cap holding one menu after another (75,000 of them, each leading
    to the next): a worker grew to 219 MB reading such a file and kept 123 MB."""
    lines = ["languages: [fr]", "default_language: fr", "fr:", "  main_menu: m0", "  menus:"]
    size, i = sum(len(x) + 1 for x in lines), 0
    while True:
        text = f"    m{i}: {{options: [{{key: 1, say: x, menu: m{i + 1}}}]}}"
        if size + len(text) + 1 > limit_bytes:
            return "\n".join(lines) + "\n"
        lines.append(text)
        size, i = size + len(text) + 1, i + 1


def fan(menus: int = 40) -> str:
    """Menus whose six keys all lead to the next one: 6 to the power of 40 ways through the tree,
    which the check walked one by one, for ever."""
    lines = ["languages: [fr]", "default_language: fr", "fr:", "  main_menu: m0", "  menus:"]
    for i in range(menus):
        target = f"menu: m{i + 1}" if i + 1 < menus else "helpline: h"
        options = ", ".join(f"{{key: {k}, say: s, {target}}}" for k in range(1, 7))
        lines.append(f"    m{i}: {{intro: hello, options: [{options}]}}")
    lines += ["  helplines:", "    h: {name: H, about: a, number: '0800 11 222'}"]
    return "\n".join(lines) + "\n"


def check_with_peak(menus, prompts, timeout=60):
    """`check` as an operator runs it: (seconds, exit code, output, its peak memory in MB)."""
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    seconds, code, output = check(menus, prompts, timeout=timeout)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, code, output, (peak if peak > before else 0) / 1024


@pytest.mark.parametrize("levels", [10_000, 30_000])
def test_a_file_nested_thousands_of_levels_deep_is_refused_by_check_in_one_sentence(menu_copy, levels):
    menu_copy.menus.write_text(deep(levels), encoding="utf-8")
    seconds, code, output, _ = check_with_peak(menu_copy.menus, menu_copy.prompts)
    assert code == 1 and "Traceback" not in output and "RecursionError" not in output, (code, output[-500:])
    depth = yamlfile.MAX_DEPTH
    assert output.splitlines()[0] == (
        f"{menu_copy.menus}:1:{depth + 1}: error: lists and sections are nested more than {depth} levels deep "
        "here (a menu file needs fewer than 10): look for brackets [ or { that are opened and never closed"), output
    assert seconds < 10


@pytest.mark.parametrize("attack", ["wide", "tiny values", "fan", "chain"])
def test_a_file_too_wide_for_any_menu_is_refused_with_its_line_in_bounded_time_and_memory(menu_copy, attack):
    if attack == "wide":
        text, where, reason = wide(), ":", "this file holds more than 150,000 values by here"
    elif attack == "tiny values":  # 2 million one-character values under the cap
        text, where, reason = "[" + "1," * (2 * 1024 * 1024 - 10) + "1]\n", ":1:", "holds more than 150,000 values"
    elif attack == "fan":
        text, where, reason = fan(), ":", "callers reach menu 'm39' at level 40 (main menu is 1): the line accepts at most 12"
    else:  # 10,000 menus in a chain: the checks recursed once per menu
        text = wide(460_000)
        where, reason = ":", "at level"
    menu_copy.menus.write_text(text, encoding="utf-8")
    assert len(text.encode()) <= yamlfile.MAX_FILE_BYTES
    seconds, code, output, peak = check_with_peak(menu_copy.menus, menu_copy.prompts)
    assert code == 1 and "Traceback" not in output and "Error" not in output, (code, output[-800:])
    errors = [text for text in output.splitlines() if ": error: " in text]
    assert errors and all(e.startswith(f"{menu_copy.menus}{where}") for e in errors), output[-800:]
    assert any(reason in e for e in errors), output[-800:]
    assert seconds < 30 and peak < 200, (seconds, peak)


def test_the_real_line_refuses_deep_and_wide_files_keeps_serving_and_its_workers_stay_the_same_size(tmp_path):
    """Under the Procfile's gunicorn: each edit is refused by both workers (no worker dies),
    /healthz counts the refused edit, the last good menu answers, and no worker keeps memory."""
    import json

    from real_line import RealLine
    line = RealLine(tmp_path)
    try:
        version = json.loads(line.get("/healthz")[1])["menu_version"]
        workers = sorted(line.workers())
        rss_before = {pid: line.rss_mb(pid) for pid in workers}
        for attack, text, reason in [("deep", deep(30_000), "nested more than"),
                                     ("wide", wide(), "values by here")]:
            line.menus.write_text(text, encoding="utf-8")
            deadline = time.monotonic() + 30
            while line.log().count(reason) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert line.log().count(reason) >= 2, (attack, line.log()[-2000:])
            for _ in range(4):
                started = time.monotonic()
                status, body = line.post_voice(timeout=2)
                assert status == 200 and "<Response>" in body and time.monotonic() - started < 1
                health = json.loads(line.get("/healthz", timeout=2)[1])
                assert health["menu_version"] == version and health["refused_edit_errors"] == 1, health
        assert sorted(line.workers()) == workers  # none died and was replaced
        for pid, before in rss_before.items():
            assert line.rss_mb(pid) < before + 5, (pid, before, line.rss_mb(pid))
        assert "Traceback" not in line.log() and "reload failed" not in line.log()
    finally:
        line.stop()


@pytest.mark.parametrize("attack", ["deep", "wide"])
def test_serve_refuses_a_deep_or_wide_file_in_one_sentence_before_starting(menu_copy, attack):
    """`python -m ivr serve` loads the menu before it starts gunicorn: the 60 KB file made it die
    with exit 139 and nothing said."""
    menu_copy.menus.write_text(deep(30_000) if attack == "deep" else wide(), encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
    environ.update(IVR_MENUS=str(menu_copy.menus), IVR_PROMPTS=str(menu_copy.prompts), TWILIO_AUTH_TOKEN="a-token")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "ivr", "serve"], cwd=ROOT, env=environ, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, (done.returncode, done.stderr[-500:])
    lines = done.stderr.strip().splitlines()  # the problem with its place, and what to do
    assert len(lines) <= 2 and lines[0].startswith(f"{menu_copy.menus}:"), done.stderr
    assert ("nested more than" if attack == "deep" else "values by here") in done.stderr
    assert time.monotonic() - started < 30
