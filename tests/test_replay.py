"""`python -m ivr replay` and `python -m ivr call`, as a tester runs them."""
import datetime
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr import ROOT, create_app
from ivr.menus.load import load
from ivr.menus.model import BRUSSELS
from ivr.operators.commands import main
from ivr.testers import fixtures
from ivr.testers.phone import Call, FlaskTransport, twilio_params
from ivr.testers.tester import play_script
from line_settings import TEST_MENUS, TOKEN
from real_line import free_port
from stale import out_of_date

FIXTURES = Path(__file__).parent / "fixtures"
OLD = "Pour la ligne couple"
NEW = "Pour la ligne des couples"


@pytest.fixture
def cli(monkeypatch):
    """The command line, on the test menu unless a test says otherwise."""
    monkeypatch.delenv("IVR_RECORD_DIR", raising=False)
    monkeypatch.setenv("IVR_MENUS", str(TEST_MENUS / "menus.yaml"))
    monkeypatch.setenv("IVR_PROMPTS", str(TEST_MENUS / "prompts"))

    def run(*args, input=None):
        return CliRunner().invoke(main, list(args), input=input)
    return run


@pytest.fixture
def a_fixture(recorded_call):
    """A recorded call through the French main menu: the couple line, busy, then put through."""
    return recorded_call(["1", "1", "1", "busy", "1", "answered"])


def use_menus(monkeypatch, menu_copy):
    monkeypatch.setenv("IVR_MENUS", str(menu_copy.menus))
    monkeypatch.setenv("IVR_PROMPTS", str(menu_copy.prompts))


def test_replay_passes_on_the_shipped_fixtures(cli, monkeypatch):
    monkeypatch.setenv("IVR_MENUS", str(ROOT / "menus.yaml"))
    monkeypatch.setenv("IVR_PROMPTS", str(ROOT / "prompts"))
    result = cli("replay", str(FIXTURES))
    if result.exit_code == 1:  # after an edit of menus.yaml: the golden calls, made again by one command
        failed = [line for line in result.output.splitlines() if line.startswith("FAIL")]
        out_of_date(f"{len(failed)} golden call(s)", "make fixtures", failed)
    assert result.exit_code == 0, result.output
    assert f"{len(list(FIXTURES.glob('*.yaml')))} call(s) replayed, 0 failed." in result.output


def test_a_changed_text_fails_with_the_call_the_step_and_what_the_caller_hears_now(cli, a_fixture, menu_copy,
                                                                                   monkeypatch):
    use_menus(monkeypatch, menu_copy.replace(OLD, NEW))
    result = cli("replay", str(a_fixture))
    assert result.exit_code == 1
    assert f"FAIL  {a_fixture}" in result.output
    assert "step 2 (POST /voice/language/key): the answer changed" in result.output
    removed = [line for line in result.output.splitlines() if line.strip().startswith("-") and OLD in line]
    added = [line for line in result.output.splitlines() if line.strip().startswith("+") and NEW in line]
    assert removed and added
    assert "1 call(s) replayed, 1 failed." in result.output


def test_update_rewrites_the_expectations_shows_the_change_then_replay_passes(cli, a_fixture, menu_copy,
                                                                              monkeypatch):
    use_menus(monkeypatch, menu_copy.replace(OLD, NEW))
    updated = cli("replay", "--update", str(a_fixture))
    assert updated.exit_code == 0, updated.output
    assert NEW in updated.output and f"updated {a_fixture}: " in updated.output
    assert "FAIL" not in updated.output  # an intended change, written to the file, is no failure
    text = a_fixture.read_text(encoding="utf-8")
    assert NEW in text and OLD not in text
    assert text.startswith("# Recorded from a simulated call on the test menu")  # the header comments are kept
    again = cli("replay", str(a_fixture))
    assert again.exit_code == 0 and "0 failed" in again.output


def test_attribute_order_and_whitespace_do_not_count_but_an_attribute_value_does(cli, a_fixture):
    text = a_fixture.read_text(encoding="utf-8")
    reordered = text.replace('method="POST" numDigits="1" timeout="6"', 'timeout="6"   numDigits="1" method="POST"')
    reordered = reordered.replace("<Say language=", "<Say\n        language=")
    assert reordered != text
    a_fixture.write_text(reordered, encoding="utf-8")
    assert cli("replay", str(a_fixture)).exit_code == 0
    a_fixture.write_text(text.replace('timeout="6"', 'timeout="9"', 1), encoding="utf-8")
    failed = cli("replay", str(a_fixture))
    assert failed.exit_code == 1 and "timeout='9'" in failed.output


def test_a_caller_sent_elsewhere_is_reported_at_that_step(cli, a_fixture):
    fixture = fixtures.load(a_fixture)
    fixture.exchanges[3].path = "/voice/fr/key?at=3"
    fixtures.save(fixture)
    result = cli("replay", str(a_fixture))
    assert result.exit_code == 1
    assert ("step 4 (POST /voice/fr/key?at=1&id=ligne-couple): the caller is now sent to "
            "/voice/fr/key?at=1&id=ligne-couple (before: /voice/fr/key?at=3)") in result.output


def test_a_call_that_now_ends_early_is_reported(cli, recorded_call):
    file = recorded_call(["1", "3", "1", "#"])  # quick exit from a page of the sub-menu
    fixture = fixtures.load(file)
    fixture.exchanges.append(fixtures.Exchange("/voice/fr/key?at=3.1", params={"Digits": "1"}, answer="<Response/>"))
    fixtures.save(fixture)
    result = cli("replay", str(file))
    assert result.exit_code == 1 and "the call now ends before this step" in result.output


def test_a_hand_written_fixture_gets_its_answers_and_its_clock_from_update(cli, tmp_path):
    file = tmp_path / "by-hand.yaml"
    file.write_text("# Dutch, straight to the main menu\n"
                    "call: Dutch main menu\n"
                    "steps:\n"
                    "- request: {path: /voice}\n"
                    "- request: {path: /voice/language/key, params: {Digits: '2'}}\n", encoding="utf-8")
    first = cli("replay", str(file))
    # Without a clock it would pass or fail by the hour it is replayed: refused, saying what to add.
    assert first.exit_code == 2
    assert first.output == f"{file}: {fixtures.NO_CLOCK}\n"
    with pytest.raises(fixtures.FixtureError, match="needs `clock:`"):
        fixtures.load(file)  # what `make test` (tests/test_fixtures.py) reads too
    assert cli("replay", "--update", str(file)).exit_code == 0
    written = fixtures.load(file)
    assert written.clock is not None and written.clock.minute == 0
    assert "Bent u in direct gevaar?" in written.exchanges[1].answer
    assert written.exchanges[0].params["From"] == "+32470000000"  # Twilio's parameters, as placeholders
    assert cli("replay", str(file)).exit_code == 0


def test_a_hand_written_transfer_step_without_status_is_an_answered_transfer(cli, tmp_path):
    file = tmp_path / "transfer.yaml"
    file.write_text("call: French, put through, answered\n"
                    "clock: '2026-11-27T12:00:00+01:00'\n"
                    "steps:\n"
                    "- request: {path: /voice}\n"
                    "- request: {path: /voice/language/key, params: {Digits: '1'}}\n"
                    "- request: {path: /voice/fr/key, params: {Digits: '1'}}\n"
                    "- request: {path: '/voice/fr/key?at=1', params: {Digits: '1'}}\n"
                    "- request: {path: '/voice/fr/dialed?at=1&line=ligne-couple'}\n",
                    encoding="utf-8")
    assert cli("replay", "--update", str(file)).exit_code == 0
    last = fixtures.load(file).exchanges[-1]
    assert last.params["DialCallStatus"] == "completed"
    assert "Merci pour votre appel. Au revoir." in last.answer and "<Hangup" in last.answer


def test_an_unreadable_fixture_is_named(cli, tmp_path):
    file = tmp_path / "broken.yaml"
    file.write_text("call: nothing\nclock: '2026-11-27T12:00:00+01:00'\n", encoding="utf-8")
    result = cli("replay", str(file))
    assert result.exit_code == 2 and f"{file}: needs a list of `steps:`" in result.output


# -- python -m ivr call -----------------------------------------------------------------------
def test_a_scripted_call_prints_its_transcript(cli, tmp_path):
    out = tmp_path / "transcript.txt"
    result = cli("call", "--keys", "1,1,1,busy,silence,#", "--transcript", str(out))
    assert result.exit_code == 0, result.output
    lines = result.output.split("--- transcript ---\n")[1].splitlines()
    assert lines[0] == "fr-BE: Pour le français, appuyez sur 1."
    assert "[line dials +3280030030]" in lines and "[transfer to +3280030030: busy]" in lines
    assert "fr-BE: La ligne est occupée." in lines
    assert lines.index("[caller is silent]") < lines.index("[caller presses #]")
    assert lines[-1] == "[call ended]"
    assert out.read_text(encoding="utf-8").splitlines() == lines


def test_lang_answers_the_language_choice(cli):
    result = cli("call", "--lang", "nl", "--keys", "hangup")
    transcript = result.output.split("--- transcript ---\n")[1]
    assert "[caller presses 2]" in transcript and "nl-BE: Bent u in direct gevaar?" in transcript
    assert cli("call", "--lang", "de", "--keys", "hangup").exit_code == 2


def test_to_is_the_number_called(cli, monkeypatch):
    monkeypatch.setenv("IVR_LANGUAGE_BY_NUMBER", "+3280099991=nl")
    result = cli("call", "--to", "0800 99 991", "--keys", "hangup")
    assert result.output.split("--- transcript ---\n")[1].startswith("nl-BE: Bent u in direct gevaar?")


def test_a_script_that_does_not_fit_the_call_stops_with_the_item(cli):
    result = cli("call", "--keys", "1,busy")
    assert result.exit_code == 2 and "script item 2 ('busy'): no transfer is ringing" in result.output


def test_the_interactive_phone_reads_keys_enter_is_silence_and_asks_the_transfer_outcome(cli):
    result = cli("call", "--lang", "fr", input="1\n1\nno-answer\n\nq\n")
    assert result.exit_code == 0, result.output
    assert "(listening: 1 key(s), no finish key, 6 s of silence" in result.output
    assert "Transfer to +3280030030: outcome" in result.output
    transcript = result.output.split("--- transcript ---\n")[1].splitlines()
    assert transcript.index("[transfer to +3280030030: no-answer]") < transcript.index("[caller is silent]")
    assert "fr-BE: Personne ne répond pour le moment." in transcript
    assert transcript[-1] == "[caller hangs up]"


def test_the_call_tool_prints_what_the_caller_hears_without_webhook_log_lines(cli):
    result = cli("call", "--keys", "1,#")
    assert result.output.startswith("--- transcript ---\nfr-BE: Pour le français, appuyez sur 1.")
    assert '"step":' not in result.output


def test_the_interactive_phone_has_a_help(cli):
    result = cli("call", "--lang", "fr", input="help\nq\n")
    assert result.exit_code == 0, result.output
    assert "Enter alone = silence, q = hang up, help)" in result.output
    assert "Enter alone          stay silent until the line stops waiting" in result.output
    assert "answered, busy, no-answer or failed" in result.output


CLOSED = "fr-BE: La ligne est fermée en ce moment."


def test_a_call_at_another_hour_hears_the_opening_hours_of_that_hour(cli):
    # The office line is closed on 24 December (the test menu says so) and open a weekday morning.
    christmas_eve = cli("call", "--clock", "2026-12-24T23:00", "--keys", "1,2,hangup")
    assert christmas_eve.exit_code == 0, christmas_eve.output
    assert CLOSED in christmas_eve.output
    morning = cli("call", "--clock", "2026-12-23T11:00", "--keys", "1,2,hangup")
    assert morning.exit_code == 0 and CLOSED not in morning.output


def test_a_clock_for_a_running_line_is_refused_in_one_sentence(cli):
    result = cli("call", "--url", "http://127.0.0.1:9", "--clock", "2026-12-24T23:00", "--keys", "1")
    assert result.exit_code == 2
    assert result.output == ("--clock cannot set the clock of the line running at http://127.0.0.1:9; call without "
                             "--url to hear the line at another hour\n")
    assert cli("call", "--clock", "24 December", "--keys", "1").exit_code == 2


def test_map_markdown_prints_the_map_in_a_mermaid_fence(cli):
    result = cli("map", "--markdown")
    assert result.exit_code == 0
    assert result.output.startswith("```mermaid\nflowchart LR\n") and result.output.endswith("\n```\n")


# -- the same fixture, here and on a running line ---------------------------------------------
ANOTHER_CALLER_ID = "+3222000000"  # not the simulated phone's placeholder (+3225550100)


def test_a_call_recorded_on_another_deployment_replays_here_unchanged(cli, menu_copy, monkeypatch, tmp_path):
    # Another host, another transfer caller ID, a recorded prompt (whose URL names the host).
    (menu_copy.prompts / "fr").mkdir()
    (menu_copy.prompts / "fr" / "safety.mp3").write_bytes(b"ID3\x03\x00fake mp3 frames")
    folder = tmp_path / "recorded"
    there = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RECORD_DIR": str(folder), "TRUSTED_PROXIES": "0",
                        "TRANSFER_CALLER_ID": ANOTHER_CALLER_ID, "RELOAD_SECONDS": 0, "WEBHOOK_LOG": False,
                        "MENUS": str(menu_copy.menus), "PROMPTS": str(menu_copy.prompts),
                        "CLOCK": lambda: datetime.datetime(2026, 11, 27, 12, 0, tzinfo=BRUSSELS)})
    the_call = Call(FlaskTransport(there.test_client()), "https://ivr.example.be", TOKEN, twilio_params()).start()
    assert play_script(the_call, ["1", "1", "1", "busy", "1", "answered"]) == 0
    [file] = folder.glob("call-*.yaml")
    text = file.read_text(encoding="utf-8")
    assert "ivr.example.be" not in text and f"{fixtures.BASE_URL}/recordings/fr/safety.mp3" in text
    assert f'callerId="{ANOTHER_CALLER_ID}"' in text
    use_menus(monkeypatch, menu_copy)
    result = cli("replay", str(file))  # here: the simulated phone's caller ID, this host
    assert result.exit_code == 0, result.output



@pytest.fixture
def running_line(tmp_path):
    """start(**env): the test menu served by `python -m ivr run` as `make run` starts it (no
    token, IVR_ALLOW_UNSIGNED), on a free port; returns its URL."""
    started = []

    def start(**env):
        port = free_port()
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
        environ.update(IVR_ALLOW_UNSIGNED="1", IVR_MENUS=str(TEST_MENUS / "menus.yaml"),
                       IVR_PROMPTS=str(TEST_MENUS / "prompts"), IVR_RELOAD_SECONDS="0", **env)
        log = open(tmp_path / f"line-{port}.log", "w")
        process = subprocess.Popen([sys.executable, "-m", "ivr", "run", "--port", str(port)], cwd=ROOT,
                                   env=environ, stdout=log, stderr=subprocess.STDOUT)
        started.append((process, log))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                assert process.poll() is None, (tmp_path / f"line-{port}.log").read_text()
                time.sleep(0.1)
        raise AssertionError("the line did not start within 30 s")
    yield start
    for process, log in started:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_a_fixture_replays_the_same_here_and_on_a_running_line(cli, a_fixture, running_line):
    assert cli("replay", str(a_fixture)).exit_code == 0
    there = cli("replay", "--url", running_line(IVR_TRANSFER_CALLER_ID=ANOTHER_CALLER_ID), str(a_fixture))
    assert there.exit_code == 0, there.output


def test_a_line_that_does_not_try_the_transfer_says_which_setting_to_change(a_fixture, make_app):
    # As `make run` starts it: no IVR_TRANSFER_CALLER_ID, and the call's To is toll-free.
    line = make_app({"TWILIO_AUTH_TOKEN": TOKEN, "TRANSFER_CALLER_ID": "", "RELOAD_SECONDS": 0,
                     "MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts")})
    result = fixtures.replay(fixtures.load(a_fixture), FlaskTransport(line.test_client()), "http://127.0.0.1:5000", TOKEN)
    assert not result.passed
    assert "why: the line did not put the caller through" in result.report()
    assert "set IVR_TRANSFER_CALLER_ID where the line runs" in result.report()


def test_a_running_line_at_another_hour_is_named_as_the_reason(cli, recorded_call, running_line):
    # The office line (keys 1, 2) has opening hours: the fixture's clock is an hour when it is
    # open if it is closed now, closed if it is open now, so the running line (its own clock) differs.
    office = load(str(TEST_MENUS / "menus.yaml"), str(TEST_MENUS / "prompts")).language("fr").node(("2",)).helplines[0]
    candidates = [datetime.datetime(2026, 11, 27, 12, 0, tzinfo=BRUSSELS), datetime.datetime(2026, 11, 29, 3, 0, tzinfo=BRUSSELS)]
    now_open = office.open_at(datetime.datetime.now(BRUSSELS))
    when = next(c for c in candidates if office.open_at(c) != now_open)
    file = recorded_call(["1", "2", "hangup"])
    fixture = fixtures.load(file)
    fixture.clock = when
    fixtures.save(fixture)
    assert cli("replay", "--update", str(file)).exit_code == 0  # the answers at that hour
    assert cli("replay", str(file)).exit_code == 0
    there = cli("replay", "--url", running_line(IVR_TRANSFER_CALLER_ID=ANOTHER_CALLER_ID), str(file))
    assert there.exit_code == 1
    assert f"it passes in this process at the fixture's clock ({when:%Y-%m-%d %H:%M})" in there.output
    assert "opening hours differ" in there.output and "set the fixture's clock:" in there.output
