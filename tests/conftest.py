import datetime
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

import pytest

from ivr import ROOT, create_app
from ivr.menus.model import BRUSSELS
from ivr.testers import fixtures
from ivr.testers.phone import TRANSFER_CALLER_ID, Call, FlaskTransport, call, twilio_params
from ivr.testers.recording import file_for
from ivr.testers.tester import play_script
from line_settings import PUBLIC_URL, TEST_MENUS, TOKEN

# The modules that start servers, browsers or many processes, longest first (5 to 45 s each on two
# cores, measured with --durations): run before the rest, so that pytest-xdist's processes all end
# on short tests instead of one of them still running a long module at the end. The deploy test
# goes first: on a new machine it builds the production virtualenv (about 50 s) while others run.
LONG_FIRST = ("test_deploy.py", "test_studio_browser.py", "test_menu_file_safety.py", "test_bench.py",
              "test_commands_say_why.py", "test_slow_clients.py", "test_fuzz.py", "test_proxy_nginx.py",
              "test_fixtures.py", "test_graceful_stop.py", "test_metrics_flush.py", "test_vanishing_folders.py",
              "test_signature_settings.py", "test_queue_time.py", "test_under_load.py", "test_replay.py")


def pytest_collection_modifyitems(items):
    order = {name: rank for rank, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: order.get(item.path.name, len(LONG_FIRST)))  # stable: a module's own order is kept


# Threads that live as long as the process by design, one each: not left behind by a test.
PROCESS_THREADS = {"metrics-flush"}


def _threads() -> tuple[int, set[str]]:
    """How many threads the process has (the operating system's count: the menu watcher is not a
    threading.Thread), and the names of the threading.Threads (threading keeps a "Dummy" entry
    for any other thread that logged, even after it ended: those are counted by the first)."""
    count = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else threading.active_count()
    return count, {t.name for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}


@pytest.fixture(autouse=True)
def no_thread_left_behind():
    """Every test ends with the threads it started stopped (set up first, so checked after the
    other fixtures have closed their apps). A short grace: a stopping thread needs a moment."""
    count, names = _threads()
    yield
    deadline = time.monotonic() + 2
    while True:
        now, now_names = _threads()
        started = now_names - names - PROCESS_THREADS
        left = now - count - len((now_names - names) & PROCESS_THREADS)
        if left <= 0 and not started:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the test left {left} thread(s) running: {sorted(started) or 'not threading.Thread'} "
                        "(close the apps it creates: the make_app fixture does)")
        time.sleep(0.05)


@pytest.fixture
def make_app():
    """make_app(config) is create_app(config), closed (its menu watcher stopped) after the test."""
    made = []

    def make(config=None):
        app = create_app(config)
        made.append(app)
        return app
    yield make
    for app in made:
        assert app.extensions["ivr"].close(), "a menu watcher did not stop"


@pytest.fixture
def app(make_app):
    return make_app({"TWILIO_AUTH_TOKEN": TOKEN, "TESTING": True, "RELOAD_SECONDS": 0,
                     "TRANSFER_CALLER_ID": TRANSFER_CALLER_ID,
                     "MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts")})


@pytest.fixture
def shipped_app(make_app):
    """The line with the shipped menus.yaml and prompts/."""
    return make_app({"TWILIO_AUTH_TOKEN": TOKEN, "TESTING": True, "RELOAD_SECONDS": 0,
                     "TRANSFER_CALLER_ID": TRANSFER_CALLER_ID,
                     "MENUS": str(ROOT / "menus.yaml"), "PROMPTS": str(ROOT / "prompts")})


@pytest.fixture
def shipped_line(shipped_app):
    return shipped_app.extensions["ivr"].line


@pytest.fixture
def shipped_phone(shipped_app):
    client = shipped_app.test_client()

    def place(**kwargs):
        return call(FlaskTransport(client), PUBLIC_URL, TOKEN, **kwargs)
    return place


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner():
    """The command line operators and testers use, `python -m ivr ...`."""
    from click.testing import CliRunner

    from ivr.operators.commands import main

    class Runner:
        def invoke(self, args, **kwargs):
            return CliRunner().invoke(main, args, **kwargs)
    return Runner()


@pytest.fixture
def line(app):
    return app.extensions["ivr"].line


@pytest.fixture
def phone(client):
    """phone() places a signed call to the line, as Twilio would, and returns the Call."""
    def place(**kwargs):
        return call(FlaskTransport(client), PUBLIC_URL, TOKEN, **kwargs)
    return place


@pytest.fixture
def menu_copy(tmp_path):
    """A copy of the test menu and its prompts that a test may break; returns an editor."""
    shutil.copy(TEST_MENUS / "menus.yaml", tmp_path / "menus.yaml")
    shutil.copytree(TEST_MENUS / "prompts", tmp_path / "prompts")

    class Copy:
        menus = tmp_path / "menus.yaml"
        prompts = tmp_path / "prompts"

        def replace(self, old, new, file="menus.yaml"):
            path = tmp_path / file
            text = path.read_text(encoding="utf-8")
            assert old in text, f"{old!r} is not in {file}"
            path.write_text(text.replace(old, new, 1), encoding="utf-8")
            return self

        def line_of(self, needle, file="menus.yaml"):
            for number, text in enumerate((tmp_path / file).read_text(encoding="utf-8").splitlines(), 1):
                if needle in text:
                    return number
            raise AssertionError(f"{needle!r} not in {file}")

    return Copy()


@pytest.fixture
def calls_pressing():
    """calls_pressing(client, caller, key_sequences): one call per sequence of keys from `caller`,
    each key pressed while the line listens; a transfer the keys lead to is busy. For the privacy
    tests, which then read every log."""
    def place_calls(client, caller, key_sequences):
        for keys in key_sequences:
            c = call(FlaskTransport(client), PUBLIC_URL, TOKEN, caller=caller)
            for key in keys:
                if c.waiting == "keys":
                    c.press(key)
            if c.waiting == "dial":
                c.dial_outcome("busy")
    return place_calls


NOON = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=BRUSSELS)  # a Friday: office lines are open


@pytest.fixture
def recorded_call(tmp_path, make_app):
    """record(script) records a call on the test menu, as the line records a real one
    (IVR_RECORD_DIR), at a Friday noon; returns the fixture file, ready to replay."""
    def record(script: list[str], name: str = "call") -> Path:
        folder = tmp_path / "recordings"
        folder.mkdir(exist_ok=True)
        app = make_app({"TWILIO_AUTH_TOKEN": TOKEN, "RECORD_DIR": str(folder), "TRUSTED_PROXIES": "0",
                          "TRANSFER_CALLER_ID": TRANSFER_CALLER_ID, "RELOAD_SECONDS": 0, "CLOCK": lambda: NOON,
                          "MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts")})
        call_sid = "CA" + uuid.uuid4().hex
        the_call = Call(FlaskTransport(app.test_client()), fixtures.BASE_URL, TOKEN,
                        twilio_params(call_sid=call_sid)).start()
        assert play_script(the_call, script) == 0, f"the script {script} does not fit the test menu"
        source = file_for(folder, call_sid)
        fixture = fixtures.load(source)
        fixture.name = f"test menu: {','.join(script)}"
        fixture.header = f"# Recorded from a simulated call on the test menu:\n#   {','.join(script)}\n"
        fixture.file = tmp_path / f"{name}.yaml"
        fixtures.save(fixture)
        source.unlink()
        return fixture.file
    return record


@pytest.fixture
def bug_below_the_main_menu(monkeypatch):
    """From now on, the flow fails on every menu or page below the main menu, as a bug would."""
    import ivr.call.flow
    original = ivr.call.flow.node

    def broken(line, language, at, *args, **kwargs):
        if at:
            raise RuntimeError("simulated bug")
        return original(line, language, at, *args, **kwargs)

    def start():
        monkeypatch.setattr(ivr.call.flow, "node", broken)
    return start
