"""The line the tests call: its Twilio auth token, its public URL, and the small test menu the
engine is tested on (it never follows the shipped content; tests about what the line says today
read menus.yaml through the shipped_* fixtures). Plain values, imported like any module; what
tests need set up and cleaned up comes from the fixtures in conftest.py."""
from pathlib import Path

TOKEN = "test-auth-token"
PUBLIC_URL = "https://line.example.org"
TEST_MENUS = Path(__file__).resolve().parent / "menus"
