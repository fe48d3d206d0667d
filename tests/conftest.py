import shutil
from pathlib import Path

import pytest

from ivr import ROOT, create_app
from ivr.phone import TRANSFER_CALLER_ID, FlaskTransport, call

TOKEN = "test-auth-token"
PUBLIC_URL = "https://line.example.org"


@pytest.fixture
def app():
    return create_app({"TWILIO_AUTH_TOKEN": TOKEN, "TESTING": True, "RELOAD_SECONDS": 0,
                       "TRANSFER_CALLER_ID": TRANSFER_CALLER_ID})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


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
    """A copy of the shipped menus.yaml and prompts/ that a test may break; returns an editor."""
    shutil.copy(ROOT / "menus.yaml", tmp_path / "menus.yaml")
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")

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
