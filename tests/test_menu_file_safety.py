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
            deadline = time.monotonic() + 5
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
