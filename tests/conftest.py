import datetime
import shutil
import uuid
from pathlib import Path

import pytest

from ivr import ROOT, create_app
from ivr.menus.model import BRUSSELS
from ivr.testers import fixtures
from ivr.testers.phone import TRANSFER_CALLER_ID, Call, FlaskTransport, call, twilio_params
from ivr.testers.recording import file_for
from ivr.testers.tester import play_script

TOKEN = "test-auth-token"
PUBLIC_URL = "https://line.example.org"
# The engine is tested on this small menu, which never follows the shipped content; tests about
# what the line says today (menus.yaml) use the shipped_* fixtures and read menus.yaml.
TEST_MENUS = Path(__file__).resolve().parent / "menus"


@pytest.fixture
def app():
    return create_app({"TWILIO_AUTH_TOKEN": TOKEN, "TESTING": True, "RELOAD_SECONDS": 0,
                       "TRANSFER_CALLER_ID": TRANSFER_CALLER_ID,
                       "MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts")})


@pytest.fixture
def shipped_app():
    """The line with the shipped menus.yaml and prompts/."""
    return create_app({"TWILIO_AUTH_TOKEN": TOKEN, "TESTING": True, "RELOAD_SECONDS": 0,
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


def walk(language):
    """Every (key path, page) of a language, found by walking its tree from the main menu."""
    return language.pages()


def calls_pressing(client, caller, key_sequences):
    """One call per sequence of keys from `caller`, each key pressed while the line listens; a
    transfer the keys lead to is busy. For the privacy tests, which then read every log."""
    for keys in key_sequences:
        c = call(FlaskTransport(client), PUBLIC_URL, TOKEN, caller=caller)
        for key in keys:
            if c.waiting == "keys":
                c.press(key)
        if c.waiting == "dial":
            c.dial_outcome("busy")


NOON = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=BRUSSELS)  # a Friday: office lines are open


@pytest.fixture
def recorded_call(tmp_path):
    """record(script) records a call on the test menu, as the line records a real one
    (IVR_RECORD_DIR), at a Friday noon; returns the fixture file, ready to replay."""
    def record(script: list[str], name: str = "call") -> Path:
        folder = tmp_path / "recordings"
        folder.mkdir(exist_ok=True)
        app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RECORD_DIR": str(folder), "TRUSTED_PROXIES": "0",
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
