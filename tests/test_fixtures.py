"""Every recorded call in tests/fixtures/ must still sound the same.

The fixtures are golden calls of the shipped menus.yaml: after an edit that `make check` accepts,
`make fixtures` records them again (tests/fixtures/record_all.py), so these tests follow the menus."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ivr import ROOT, create_app
from ivr.testers import fixtures
from ivr.testers.phone import TRANSFER_CALLER_ID, Call, FlaskTransport, twilio_params
from ivr.testers.tester import clock_setter
from line_settings import PUBLIC_URL, TOKEN
from stale import out_of_date

FOLDER = Path(__file__).parent / "fixtures"
FILES = sorted(FOLDER.glob("*.yaml"))


def test_every_recorded_call_still_sounds_the_same(make_app):
    # The shipped line, without its JSON line per webhook: a failure shows what changed, not 500 logs.
    shipped_app = make_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0, "WEBHOOK_LOG": False,
                            "TRANSFER_CALLER_ID": TRANSFER_CALLER_ID,
                            "MENUS": str(ROOT / "menus.yaml"), "PROMPTS": str(ROOT / "prompts")})
    golden, others = [], []
    for file in FILES:
        fixture = fixtures.load(file)  # refused without a clock: opening hours must replay the same
        clock_setter(shipped_app)(fixture.clock)
        result = fixtures.replay(fixture, FlaskTransport(shipped_app.test_client()), PUBLIC_URL, TOKEN)
        if not result.passed:
            (golden if fixtures.is_golden(file) else others).append(result)
    for result in others:  # a tester's own call: read the change before accepting it
        out_of_date(f"{result.fixture.file.name} (not one `make fixtures` writes)",
                    f".venv/bin/python -m ivr replay --update {result.fixture.file.relative_to(ROOT)}",
                    result.report().splitlines()[1:])
    if golden:
        names = ", ".join(r.fixture.file.name for r in golden[:3]) + (", ..." if len(golden) > 3 else "")
        changed = [line for line in golden[0].report().splitlines()[1:]
                   if line.startswith("  step") or line.startswith(("    -", "    +")) and line[5:8] not in ("-- ", "++ ")]
        out_of_date(f"{len(golden)} golden call(s) ({names})", "make fixtures",
                    [f"  {golden[0].fixture.file.name}:"] + changed)


def test_there_is_a_fixture_for_each_path_a_caller_takes_in_both_languages(shipped_line):
    line = shipped_line
    names = {f.stem for f in FILES}
    missing = [n for n in ("language-silence", "language-wrong-key") if n not in names]
    for language in line.languages:
        code = language.code
        for situation in ("wrong-key", "silence-until-goodbye", "quick-exit", "language-switch", "fixed-keys"):
            missing += [f"{code}-{situation}"] if f"{code}-{situation}" not in names else []
        for path, page in language.pages():
            where = ".".join(path)
            if not any(n.startswith(f"{code}-helpline-{where}-") for n in names):
                missing.append(f"{code}-helpline-{where}-...")
            for _, helpline in page.transfers():
                if f"{code}-transfer-{where}-{helpline.id}" not in names:
                    missing.append(f"{code}-transfer-{where}-{helpline.id}")
    if missing:
        out_of_date(f"tests/fixtures/ (no call for {len(missing)} path(s): {', '.join(missing[:3])}"
                    + (", ...)" if len(missing) > 3 else ")"), "make fixtures")


def test_each_transfer_fixture_plays_busy_no_answer_failed_and_answered():
    transfers = [f for f in FILES if "-transfer-" in f.stem]
    assert transfers
    for file in transfers:
        statuses = [s.params.get("DialCallStatus") for s in fixtures.load(file).exchanges]
        assert [s for s in statuses if s] == ["busy", "no-answer", "failed", "completed"], file.name


def test_no_fixture_holds_anything_but_placeholders():
    for file in FILES:
        for step in fixtures.load(file).exchanges:
            assert step.params["From"] == step.params["Caller"] == "+32470000000"
            assert step.params["To"] == step.params["Called"] == "+3280099990"
            assert set(step.params["CallSid"][2:]) == {"0"} and set(step.params["AccountSid"][2:]) == {"0"}


def test_a_replay_uses_the_fixtures_clock_for_opening_hours(app, client, recorded_call):
    fixture = fixtures.load(recorded_call(["1", "2", "hangup"]))  # the office line, on a Friday at noon
    set_clock = clock_setter(app)
    set_clock(fixture.clock.replace(hour=3))  # the office line is closed at 3 in the morning
    night = fixtures.replay(fixture, FlaskTransport(client), PUBLIC_URL, TOKEN)
    assert not night.passed and "La ligne est fermée en ce moment." in night.report()
    set_clock(fixture.clock)
    assert fixtures.replay(fixture, FlaskTransport(client), PUBLIC_URL, TOKEN).passed


RECORD_ALL = FOLDER / "record_all.py"


def test_make_fixtures_rerecords_its_own_calls_and_keeps_every_other_fixture(tmp_path):
    folder = tmp_path / "fixtures"
    folder.mkdir()
    for file in FILES:
        shutil.copy(file, folder / file.name)
    by_hand = folder / "nl-main-menu-by-hand.yaml"
    by_hand.write_text("# Dutch, straight to the main menu\ncall: Dutch main menu\n"
                       "clock: '2026-11-27T12:00:00+01:00'\nsteps:\n"
                       "- request: {path: /voice}\n- request: {path: /voice/language/key, params: {Digits: '2'}}\n",
                       encoding="utf-8")
    # A call recorded from a running line (IVR_RECORD_DIR), as docs/testing.md says to keep it.
    recordings = tmp_path / "recordings"
    recorder = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RECORD_DIR": str(recordings), "TRUSTED_PROXIES": "0",
                           "RELOAD_SECONDS": 0, "WEBHOOK_LOG": False})
    try:
        the_call = Call(FlaskTransport(recorder.test_client()), PUBLIC_URL, TOKEN, twilio_params()).start()
        the_call.press("1")
        the_call.hang_up()
    finally:
        recorder.extensions["ivr"].close()
    recorded = folder / "recorded-from-the-line.yaml"
    shutil.move(next(recordings.glob("call-*.yaml")), recorded)
    stale = folder / "fr-helpline-9-a-line-that-is-gone.yaml"  # golden, for a path the menus no longer have
    shutil.copy(FILES[0], stale)
    tampered = (folder / FILES[0].name).read_text(encoding="utf-8").replace("<Response>", "<Response>  <!-- by hand -->", 1)
    (folder / FILES[0].name).write_text(tampered, encoding="utf-8")
    kept = {f: f.read_text(encoding="utf-8") for f in (by_hand, recorded)}

    done = subprocess.run([sys.executable, str(RECORD_ALL), str(folder)], capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    for file, text in kept.items():
        assert file.read_text(encoding="utf-8") == text, f"{file.name} was changed"
    assert not stale.exists()
    again = (folder / FILES[0].name).read_text(encoding="utf-8")  # recorded again, from menus.yaml as it is
    assert "by hand" not in again and again.startswith(fixtures.GOLDEN)
    assert {f.name for f in folder.glob("*.yaml")} == {f.name for f in FILES} | {by_hand.name, recorded.name}
    assert "2 other fixture(s) kept" in done.stdout


def test_make_fixtures_never_overwrites_a_fixture_it_did_not_write(tmp_path):
    folder = tmp_path / "fixtures"
    folder.mkdir()
    mine = folder / "fr-wrong-key.yaml"  # a golden call's name, but written by a tester
    mine.write_text("call: mine\nsteps:\n- request: {path: /voice}\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(RECORD_ALL), str(folder)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and f"{mine} was not written by this script" in done.stderr
    assert mine.read_text(encoding="utf-8") == "call: mine\nsteps:\n- request: {path: /voice}\n"
    assert [f.name for f in folder.iterdir()] == [mine.name]


def test_a_correct_edit_without_the_make_steps_says_which_command_to_run_in_few_lines(tmp_path):
    # A copy of the project where an operator renamed a helpline and reworded a topic, then ran
    # `make test` without `make fixtures`, `make map` or `make fallback`.
    project = tmp_path / "project"
    project.mkdir()
    for name in ("ivr", "tests", "prompts"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    for name in ("menus.yaml", "README.md", "fallback.xml", "pyproject.toml"):
        shutil.copy(ROOT / name, project / name)
    menus = project / "menus.yaml"
    text = menus.read_text(encoding="utf-8")
    say = re.search(r'\n\s+say: "([^"]+)"', text)
    name = re.search(r'\n\s+name: "([^"]+)"', text)
    for found in (say, name):
        text = text.replace(found.group(0), found.group(0)[:-1] + ' bis"', 1)
    menus.write_text(text, encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_", "PYTEST"))}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_fixtures.py::test_every_recorded_call_still_sounds_the_same",
                           "tests/test_operators.py::test_the_readme_shows_the_map_of_the_shipped_menus",
                           "tests/test_fallback.py::test_the_shipped_fallback_document_matches_the_shipped_menus"],
                          cwd=project, env=environ, capture_output=True, text=True, timeout=300)
    said = done.stdout + done.stderr
    assert done.returncode == 1 and "3 failed" in said, said
    for what, command in (("golden calls", "make fixtures"), ("README.md's map", "make map"),
                          ("fallback.xml", "make fallback")):
        assert f": out of date with menus.yaml; run `{command}`, then `make test`" in said, said
    assert len(said.splitlines()) <= 80, said  # the first differing lines, not whole files
    assert "## The phone tree" not in said and "Traceback" not in said
