"""The studio's server, without a browser: what its page relies on (tests/test_studio_browser.py
drives the page itself)."""
import re

import pytest

from ivr.operators.studio import STATIC, create_studio
from tests.conftest import TEST_MENUS


@pytest.fixture
def studio():
    app = create_studio({"MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts"),
                         "RELOAD_SECONDS": 0})
    return app.test_client()


def test_the_page_fetches_nothing_from_the_internet():
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']?(https?:)?//|url\(\s*["']?(https?:)?//|fetch\(\s*["'`]https?:""",
                             text), path.name


def test_a_key_when_the_line_is_not_listening_is_refused_with_a_reason(studio):
    call = studio.post("/api/calls", json={}).get_json()
    assert call["waiting"] == "keys" and call["entries"][0] == {
        "kind": "say", "language": "fr-BE", "text": "Pour le français, appuyez sur 1.", "seconds": 2.5}
    studio.post(f"/api/calls/{call['id']}/hangup", json={})
    refused = studio.post(f"/api/calls/{call['id']}/press", json={"key": "1"})
    assert refused.status_code == 409 and "not listening" in refused.get_json()["error"]
    assert studio.post("/api/calls/nosuchcall/press", json={"key": "1"}).status_code == 404


def test_each_key_and_action_is_a_line_of_its_own(studio):
    call = studio.post("/api/calls", json={}).get_json()
    step = studio.post(f"/api/calls/{call['id']}/press", json={"key": "1"}).get_json()
    assert step["entries"][0] == {"kind": "key", "text": "caller presses 1"}
    said = [(e["language"], e["text"]) for e in step["entries"][1:]]
    assert said[1] == ("fr-BE", "Pour la ligne couple, appuyez sur 1.")
    assert said[-1] == ("nl-BE", "Voor Nederlands, druk 8.")  # the other language, in its own voice
    step = studio.post(f"/api/calls/{call['id']}/press", json={"key": "1"}).get_json()
    step = studio.post(f"/api/calls/{call['id']}/press", json={"key": "1"}).get_json()
    assert step["waiting"] == "dial" and step["outcomes"] == ["answered", "busy", "no-answer", "failed"]
    assert step["entries"][-1] == {"kind": "action", "text": "line dials +3280030030"}
    step = studio.post(f"/api/calls/{call['id']}/outcome", json={"outcome": "no-answer"}).get_json()
    assert step["entries"][0] == {"kind": "action", "text": "transfer to +3280030030: no-answer"}
    assert "Personne ne répond pour le moment." in [e.get("text") for e in step["entries"]]


def test_the_clock_decides_what_the_tree_shows_open(studio):
    def bureau():
        tree = studio.get("/api/tree").get_json()
        fr = tree["languages"][0]["menu"]
        return fr["options"][1]["node"]["helplines"][0]
    assert studio.post("/api/clock", json={"at": "2026-12-23 10:00"}).get_json()["set"]
    assert bureau()["open"] is True and bureau()["transfer"] == "+3280012800"
    studio.post("/api/clock", json={"at": "2026-12-25 10:00"})  # Christmas
    assert bureau()["open"] is False
    assert bureau()["wait"]["budget"] == 60 and bureau()["wait"]["seconds"] > 0
    assert studio.post("/api/clock", json={"at": "the 25th"}).status_code == 400


def test_a_port_in_use_is_said_plainly(runner):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(["studio", "--port", str(port)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port" in result.output


def test_it_starts_on_broken_files_lists_their_problems_and_starts_the_line_once_fixed(tmp_path):
    import shutil
    shutil.copytree(TEST_MENUS, tmp_path / "menus")
    menu_file = tmp_path / "menus" / "menus.yaml"
    good = menu_file.read_text(encoding="utf-8")
    menu_file.write_text(good.replace("menu: sous-menu", "menu: sous-menus"), encoding="utf-8")
    studio = create_studio({"MENUS": str(menu_file), "PROMPTS": str(tmp_path / "menus" / "prompts"),
                            "RELOAD_SECONDS": 0}).test_client()
    problems = studio.get("/api/problems").get_json()
    assert problems["line"] is False
    assert any(re.search(r"menus\.yaml:\d+:\d+: error: .*'sous-menus'", p) for p in problems["problems"]), problems
    assert studio.get("/api/tree").get_json()["languages"] == []  # no good version yet
    refused = studio.post("/api/calls", json={})
    assert refused.status_code == 409 and refused.get_json()["code"] == "no-line"
    menu_file.write_text(good, encoding="utf-8")  # fixed: the line starts, the tree and calls come
    fixed = studio.get("/api/problems").get_json()
    assert fixed["line"] is True and not [p for p in fixed["problems"] if " error: " in p]
    assert [lang["code"] for lang in studio.get("/api/tree").get_json()["languages"]] == ["fr", "nl"]
    assert studio.post("/api/calls", json={}).get_json()["waiting"] == "keys"


def test_a_wrong_setting_still_stops_the_studio_in_one_sentence(runner, monkeypatch):
    monkeypatch.setenv("IVR_MENUS", str(TEST_MENUS / "menus.yaml"))
    monkeypatch.setenv("IVR_PROMPTS", str(TEST_MENUS / "prompts"))
    monkeypatch.setenv("IVR_TRANSFER_CALLER_ID", "not a number")
    result = runner.invoke(["studio", "--port", "1"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "IVR_TRANSFER_CALLER_ID='not a number' is not a valid phone number" in result.output


def test_each_sentence_comes_with_its_estimated_seconds(studio):
    from ivr.operators import timing
    call = studio.post("/api/calls", json={}).get_json()
    first = call["entries"][0]
    assert first["seconds"] == round(timing.text_seconds("Pour le français, appuyez sur 1."), 1) > 0
    studio.post(f"/api/calls/{call['id']}/press", json={"key": "1"})
    page = studio.post(f"/api/calls/{call['id']}/press", json={"key": "1"}).get_json()
    number = next(e for e in page["entries"] if e["kind"] == "say" and "0 8 0 0, 3 0, 0 3 0" in e["text"])
    # eight digits at half a second, and the two pauses between the number's groups
    assert number["seconds"] >= 8 * timing.DIGIT_SECONDS + 2 * 0.3


def test_the_clock_is_taken_in_24_hour_form_whatever_the_locale(studio):
    set_at = studio.post("/api/clock", json={"at": "2026-12-24 23:00"}).get_json()
    assert set_at == {"set": True, "at": "2026-12-24 23:00", "weekday": 4}
    for wrong in ("24/12/2026 11:00 PM", "2026-12-24 11:00 PM", "2026-12-24"):
        refused = studio.post("/api/clock", json={"at": wrong})
        assert refused.status_code == 400 and "like 2026-12-24 23:00" in refused.get_json()["error"]


def test_no_other_web_page_can_drive_the_studio(studio):
    # A page elsewhere reaching 127.0.0.1 through the browser: a form's plain POST, or a request
    # under another host name (DNS rebinding).
    form = studio.post("/api/calls", data="x", headers={"Content-Type": "text/plain", "Origin": "https://evil.example"})
    assert form.status_code == 415
    assert studio.post("/api/clock", data="at=2026-12-25T10:00").status_code == 415
    assert studio.get("/api/tree", headers={"Host": "rebind.evil.example:8765"}).status_code == 403
    assert studio.post("/api/calls", json={}, headers={"Host": "evil.example:8765"}).status_code == 403
    assert studio.get("/api/tree", headers={"Host": "127.0.0.1:8765"}).status_code == 200
