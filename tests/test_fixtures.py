"""Every recorded call in tests/fixtures/ must still sound the same.

The fixtures are golden calls of the shipped menus.yaml: after an edit that `make check` accepts,
`make fixtures` records them again (tests/fixtures/record_all.py), so these tests follow the menus."""
from pathlib import Path

import pytest

from ivr.testers import fixtures
from ivr.testers.phone import FlaskTransport
from ivr.testers.tester import clock_setter
from line_settings import PUBLIC_URL, TOKEN

FOLDER = Path(__file__).parent / "fixtures"
FILES = sorted(FOLDER.glob("*.yaml"))


@pytest.mark.parametrize("file", FILES, ids=[f.stem for f in FILES])
def test_the_recorded_call_still_sounds_the_same(file, shipped_app):
    fixture = fixtures.load(file)
    assert fixture.clock is not None  # recorded at a known time, so opening hours replay the same
    clock_setter(shipped_app)(fixture.clock)
    result = fixtures.replay(fixture, FlaskTransport(shipped_app.test_client()), PUBLIC_URL, TOKEN)
    assert result.passed, result.report()


def test_there_is_a_fixture_for_each_path_a_caller_takes_in_both_languages(shipped_line):
    line = shipped_line
    names = {f.stem for f in FILES}
    assert {"language-silence", "language-wrong-key"} <= names
    for language in line.languages:
        code = language.code
        for situation in ("wrong-key", "silence-until-goodbye", "quick-exit", "language-switch", "fixed-keys"):
            assert f"{code}-{situation}" in names
        for path, page in language.pages():
            where = ".".join(path)
            assert any(n.startswith(f"{code}-helpline-{where}-") for n in names), (code, where)
            for _, helpline in page.transfers():
                assert f"{code}-transfer-{where}-{helpline.id}" in names


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
