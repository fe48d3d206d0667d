"""Operators' recorded prompts: played where they exist, spoken otherwise, served safely."""
import pytest

from ivr import create_app
from ivr.menus.load import inspect
from ivr.menus.model import RECORDABLE_PROMPTS
from ivr.testers.phone import FlaskTransport, call
from line_settings import PUBLIC_URL, TOKEN

AUDIO = b"ID3\x03\x00fake mp3 frames for the test"


@pytest.fixture
def recorded(menu_copy):
    folder = menu_copy.prompts / "fr"
    folder.mkdir()
    (folder / "safety.mp3").write_bytes(AUDIO)
    (folder / "ligne-couple.wav").write_bytes(b"RIFF....WAVEfmt ")
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0,
                      "MENUS": str(menu_copy.menus), "PROMPTS": str(menu_copy.prompts)})
    return app, menu_copy


def test_a_recorded_prompt_is_played_instead_of_spoken(recorded):
    app, _ = recorded
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1")
    first = c.heard[0]
    assert first.kind == "play"
    assert first.text.startswith(PUBLIC_URL + "/recordings/fr/safety.mp3?v=")
    assert "Si vous êtes en danger" not in c.said  # not said twice
    assert "Pour la ligne couple, appuyez sur 1." in c.said  # the rest is still spoken


def test_a_helpline_recording_replaces_its_description_but_the_number_is_still_spoken(recorded):
    app, _ = recorded
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1").press("1")
    assert [h.kind for h in c.heard][0] == "play" and "ligne-couple.wav" in c.heard[0].text
    assert "La ligne couple." not in c.said and "Une écoute confidentielle" not in c.said
    assert "Le numéro est le 0 8 0 0, 3 0, 0 3 0." in c.said


def test_dutch_callers_still_hear_the_voice(recorded):
    app, _ = recorded
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("2")
    assert all(h.kind == "say" for h in c.heard) and c.said.startswith("Bent u in direct gevaar?")


def test_recordings_are_served_with_caching_and_nothing_else_is(recorded):
    app, _ = recorded
    client = app.test_client()
    c = call(FlaskTransport(client), PUBLIC_URL, TOKEN).press("1")
    url = c.heard[0].text.replace(PUBLIC_URL, "")
    response = client.get(url)
    assert response.status_code == 200 and response.data == AUDIO and response.mimetype == "audio/mpeg"
    assert "immutable" in response.headers["Cache-Control"] and "max-age=31536000" in response.headers["Cache-Control"]
    stale = client.get("/recordings/fr/safety.mp3?v=old")
    assert stale.status_code == 200 and "max-age=300" in stale.headers["Cache-Control"]
    for path in ["/recordings/fr/..%2Ffr.yaml", "/recordings/fr/../fr.yaml", "/recordings/fr/fr.yaml",
                 "/recordings/fr/%2E%2E%2F%2E%2E%2Fmenus.yaml", "/recordings/xx/safety.mp3",
                 "/recordings/nl/safety.mp3", "/recordings/fr/transfer_offer.mp3"]:
        assert client.get(path).status_code == 404, path


def test_check_lists_what_is_recorded_and_warns_about_unusable_files(recorded, runner):
    _, copy = recorded
    (copy.prompts / "fr" / "safty.mp3").write_bytes(AUDIO)
    (copy.prompts / "fr" / "transfer_offer.mp3").write_bytes(AUDIO)
    (copy.prompts / "fr" / "police.ogg").write_bytes(AUDIO)
    line, problems = inspect(copy.menus, copy.prompts)
    warnings = [str(p) for p in problems]
    assert any("safty.mp3 matches no sentence or helpline, so it is never played; did you mean 'safety'?" in w for w in warnings)
    assert any("transfer_offer.mp3 is not played: 'transfer_offer' changes with each use" in w for w in warnings)
    assert any("police.ogg is not played: recordings must be .mp3 or .wav" in w for w in warnings)
    result = runner.invoke(args=["check", str(copy.menus)])
    assert result.exit_code == 0
    # Each language's recordable sentences and its helplines.
    fr, nl = (len(RECORDABLE_PROMPTS) + len(line.language(code).helplines) for code in ("fr", "nl"))
    assert f"fr: 2 of {fr} texts recorded (ligne-couple, safety); spoken by the voice: " in result.output
    assert f"nl: 0 of {nl} texts recorded; spoken by the voice: anonymous, call_history," in result.output


def test_removing_a_recording_brings_the_voice_back(recorded):
    app, copy = recorded
    (copy.prompts / "fr" / "safety.mp3").unlink()
    assert app.extensions["ivr"].refresh() is True
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1")
    assert c.said.startswith("Si vous êtes en danger immédiat")


def test_a_kept_answer_never_gives_one_hosts_recording_url_to_another(recorded):
    app, _ = recorded
    client = app.test_client()
    first = call(FlaskTransport(client), "https://one.example.org", TOKEN).press("1")
    second = call(FlaskTransport(client), "https://two.example.org", TOKEN).press("1")
    assert first.heard[0].text.startswith("https://one.example.org/recordings/fr/safety.mp3")
    assert second.heard[0].text.startswith("https://two.example.org/recordings/fr/safety.mp3")
