"""IVR_RECORD_DIR: a real call becomes a fixture with no number, CallSid or AccountSid on disk."""
import datetime
import re

import pytest

from ivr import create_app
from ivr.testers import fixtures, recording
from ivr.testers.phone import Call, FlaskTransport, Transport, call, twilio_params
from line_settings import PUBLIC_URL, TEST_MENUS, TOKEN

# Made-up numbers, different from the placeholders, so that a leak would show.
SOMEONE = "+32470555123"
THE_LINE = "+3225012345"  # geographic: the Dial then shows it as caller ID, and it must be scrubbed
CALL_SID = "CA" + "5e" * 16
TEST_FILES = {"MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts")}
ACCOUNT_SID = "AC" + "7d" * 16


@pytest.fixture
def recording_app(make_app):
    """recording_app(folder, **config): the line recording its calls to folder (IVR_RECORD_DIR)."""
    def make(folder, **config):
        return make_app({"TWILIO_AUTH_TOKEN": TOKEN, "RECORD_DIR": str(folder), **TEST_FILES, **config})
    return make


def real_call(transport):
    params = dict(twilio_params(SOMEONE, THE_LINE, CALL_SID), AccountSid=ACCOUNT_SID,
                  FromCity="BRUXELLES", FromZip="1000", ForwardedFrom="+32 470 55 51 23",
                  CallToken="eyJhbGciOiJIUzI1NiJ9.eyJmcm9tIjoiKzMyNDcwNTU1MTIzIn0.c2ln")
    the_call = Call(transport, PUBLIC_URL, TOKEN, params).start()
    # French, la ligne couple, put through (the Dial shows the line's own number), busy, quick exit.
    return the_call.press("1").press("1").press("1").dial_outcome("busy").press("#")


def recorded_files(folder):
    return sorted(folder.glob("call-*.yaml"))


def test_a_recorded_call_holds_no_number_in_any_form_nor_call_or_account_sid(tmp_path, recording_app):
    the_call = real_call(FlaskTransport(recording_app(tmp_path).test_client()))
    assert the_call.ended
    [file] = recorded_files(tmp_path)
    text = file.read_text(encoding="utf-8")
    for written in text.splitlines() + [file.name]:
        squeezed = re.sub(r"[\s./()+-]", "", written)
        assert "470555123" not in squeezed, written
        assert "25012345" not in squeezed, written
        assert "BRUXELLES" not in written and "1000" not in squeezed
    assert "5e5e5e" not in text and "7d7d7d" not in text
    assert "CallToken" not in text
    # What is kept: every step, Twilio's other parameters, and placeholders in the numbers' place.
    fixture = fixtures.load(file)
    assert [s.path for s in fixture.exchanges] == [r.url[len(PUBLIC_URL):] for r in the_call.requests]
    assert fixture.exchanges[0].params["From"] == "+32470000000"
    assert fixture.exchanges[0].params["ApiVersion"] == "2010-04-01"
    assert 'callerId="+3280099990"' in fixture.exchanges[3].answer  # the line's placeholder, not THE_LINE
    assert fixture.exchanges[4].params["DialCallStatus"] == "busy"


def test_the_numbers_are_found_however_they_are_written():
    pattern = recording._any_form("+32470555123")
    for written in ["+32470555123", "0032470555123", "0470 55 51 23", "0470/55.51.23", "+32 (0)470 55 51 23",
                    "4 7 0 5 5 5 1 2 3", "call 0470555123."]:
        assert pattern.search(written), written
    assert not pattern.search("0800 30 030") and not pattern.search("94705551234")


def test_a_recorded_call_replays_as_it_was_heard(tmp_path, recording_app, make_app):
    real_call(FlaskTransport(recording_app(tmp_path).test_client()))
    [file] = recorded_files(tmp_path)
    # The line's own number, shown as caller ID on the transfer, was recorded as the placeholder.
    app = make_app({"TWILIO_AUTH_TOKEN": TOKEN, "TRANSFER_CALLER_ID": "+3280099990", **TEST_FILES})
    result = fixtures.replay(fixtures.load(file), FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN)
    assert result.passed, result.report()
    assert len(result.exchanges_now) == 6


def test_two_calls_are_two_files_and_two_workers_write_one_call_in_order(tmp_path, recording_app):
    workers = [recording_app(tmp_path).test_client(), recording_app(tmp_path).test_client()]

    class RoundRobin(Transport):
        def __init__(self):
            self.count = 0

        def post(self, url, params, headers):
            self.count += 1
            return FlaskTransport(workers[self.count % 2]).post(url, params, headers)

    first = call(RoundRobin(), PUBLIC_URL, TOKEN, call_sid="CA" + "a" * 32).press("1").press("3").press("1")
    call(FlaskTransport(workers[0]), PUBLIC_URL, TOKEN, call_sid="CA" + "b" * 32).press("2")
    files = recorded_files(tmp_path)
    assert len(files) == 2
    steps = {len(fixtures.load(f).exchanges) for f in files}
    assert steps == {len(first.requests), 2}
    longest = max(files, key=lambda f: len(fixtures.load(f).exchanges))
    assert [s.path for s in fixtures.load(longest).exchanges] == [r.url[len(PUBLIC_URL):] for r in first.requests]
    assert longest.read_text().count("\nsteps:\n") == 1


def test_a_forged_request_is_not_recorded(tmp_path, recording_app):
    client = recording_app(tmp_path).test_client()
    assert client.post("/voice", data=twilio_params(), base_url=PUBLIC_URL).status_code == 403
    assert recorded_files(tmp_path) == []


def test_a_recording_failure_never_costs_the_caller_their_answer(tmp_path, monkeypatch, recording_app):
    def broken(*args):
        raise OSError("disk full")
    monkeypatch.setattr(recording, "_append", broken)
    the_call = call(FlaskTransport(recording_app(tmp_path).test_client()), PUBLIC_URL, TOKEN)
    assert "Pour le français" in the_call.said


def test_without_record_dir_nothing_is_written(tmp_path, monkeypatch, make_app):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IVR_RECORD_DIR", raising=False)
    app = make_app({"TWILIO_AUTH_TOKEN": TOKEN, "TRANSFER_CALLER_ID": "+3225550100", **TEST_FILES})
    call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1")
    assert list(tmp_path.iterdir()) == []


def _write_steps(folder, worker):
    params = dict(twilio_params(call_sid="CA" + "c" * 32))
    for step in range(25):
        recording._append(folder, f"/voice?worker={worker}&step={step}", "POST", params, "<Response><Hangup/></Response>",
                          datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.timezone.utc))


def test_workers_writing_the_same_call_at_once_leave_one_readable_file(tmp_path):
    import multiprocessing
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_steps, args=(tmp_path, n)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert all(worker.exitcode == 0 for worker in workers)
    [file] = recorded_files(tmp_path)
    fixture = fixtures.load(file)
    assert len(fixture.exchanges) == 100 and file.read_text().count("\nsteps:\n") == 1
    for n in range(4):  # each worker's steps in the order it wrote them
        mine = [s.path for s in fixture.exchanges if f"worker={n}&" in s.path]
        assert mine == [f"/voice?worker={n}&step={step}" for step in range(25)]


def test_a_recorded_file_is_private_and_keeps_only_the_hour(tmp_path):
    import stat
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RECORD_DIR": str(tmp_path), "RELOAD_SECONDS": 0, **TEST_FILES,
                      "CLOCK": lambda: datetime.datetime(2026, 11, 27, 21, 47, 13, tzinfo=datetime.timezone.utc)})
    call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1")
    (recorded,) = [p for p in tmp_path.iterdir() if p.suffix == ".yaml"]
    assert stat.S_IMODE(recorded.stat().st_mode) == 0o600
    text = recorded.read_text(encoding="utf-8")
    assert "clock: '2026-11-27T21:00+00:00'" in text and "21:47" not in text and ":13" not in text


# The caller's number (SOMEONE) as it may come in any parameter, and another person's number.
ENCODED_FORMS = ["32470555123", "%2B32470555123", "+32 470 55 51 23", "0470/55.51.23", "%2B32%20470%2055%2051%2023",
                 "+32+470+55+51+23", "%252B32%2520470%252055%252051%252023", "0032 470 55 51 23",
                 "+32 (0)470 55 51 23"]


def test_a_recording_blanks_numbers_in_every_encoding_and_every_parameter(tmp_path, recording_app):
    """The caller's number in the forms Twilio or a client may send it (as a form value, escaped
    once or twice, without its +), in parameters other than From/To, and someone else's number
    said to the speech recogniser: none reaches the file."""
    app = recording_app(tmp_path)
    the_call = Call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN,
                    dict(twilio_params(SOMEONE, THE_LINE, CALL_SID), AccountSid=ACCOUNT_SID,
                         **{f"Extra{i}": f"n={form};" for i, form in enumerate(ENCODED_FORMS)},
                         From=ENCODED_FORMS[0], SpeechResult="appelez le 0499 12 34 56 s'il vous plait",
                         StirVerstat="TN-Validation-Passed-A")).start()
    assert the_call.requests
    [file] = recorded_files(tmp_path)
    text = file.read_text(encoding="utf-8")
    squeezed = re.sub(r"%(25)*(2B|20)|[\s./()+-]", "", text)
    assert "470555123" not in squeezed and "499123456" not in squeezed, text
    fixture = fixtures.load(file)
    params = fixture.exchanges[0].params
    assert all(params[f"Extra{i}"] == "n=+32470000000;" for i in range(len(ENCODED_FORMS))), params
    assert params["SpeechResult"] == "appelez le [number] s'il vous plait"
    assert params["ApiVersion"] == "2010-04-01" and params["StirVerstat"] == "TN-Validation-Passed-A"
