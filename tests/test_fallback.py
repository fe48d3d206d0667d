"""The fallback document Twilio plays when the line is down: `python -m ivr fallback`."""
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from ivr import ROOT
from ivr.commands import main
from ivr.load import load
from ivr.numbers import spoken
from ivr.phone import Call, Transport, twilio_params

CALLER_ID = "+3222000000"


class StaticFile(Transport):
    """A TwiML Bin: the same document for any request, no server of ours behind it."""

    def __init__(self, twiml):
        self.twiml = twiml
        self.fetches = 0

    def post(self, url, params, headers):
        self.fetches += 1
        return 200, self.twiml


def fallback(*args):
    result = CliRunner().invoke(main, ["fallback", *args])
    return result


def play(twiml):
    """What a caller hears when Twilio plays the document."""
    return Call(StaticFile(twiml), "https://handler.example.org", None, twilio_params()).start("/fallback.xml")


def test_the_fallback_says_the_emergency_numbers_and_helplines_in_both_languages_then_hangs_up(tmp_path):
    out = tmp_path / "fallback.xml"
    result = fallback("--out", str(out))
    assert result.exit_code == 0, result.output
    twiml = out.read_text(encoding="utf-8")
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    # Nothing that needs a server: no Gather, no Redirect, no URL to call back.
    assert {verb.tag for verb in root} == {"Say", "Hangup"} and root[-1].tag == "Hangup"
    assert not any(attr in element.attrib for element in root.iter() for attr in ("action", "url"))

    call = play(twiml)
    assert call.ended and call.transport.fetches == 1
    heard = {"fr-BE": [], "nl-BE": []}
    for h in call.heard:
        heard[h.language].append(h.text)
    french, dutch = " ".join(heard["fr-BE"]), " ".join(heard["nl-BE"])
    assert "appelez le 1 1 2. Je répète : 1 1 2" in french and "police, appelez le 1 0 1" in french
    assert "bel 1 1 2. Ik herhaal: 1 1 2" in dutch and "politie belt u 1 0 1" in dutch
    line = load(ROOT / "menus.yaml")
    for code, text, ids in [("fr", french, ["ecoute-violences-conjugales", "prevention-suicide"]),
                            ("nl", dutch, ["hulplijn-1712", "zelfmoordlijn"])]:
        for hid in ids:
            helpline = line.language(code).helplines[hid]
            assert helpline.name in text
            assert text.count(spoken(helpline.number)) == 2  # each number twice
    assert "0 8 0 0, 3 0, 0 3 0" in french and "1 7 1 2" in dutch
    assert french.endswith("Au revoir.") and dutch.endswith("Tot ziens.")


def test_a_language_without_a_list_gets_the_helplines_of_its_main_menu(menu_copy):
    menu_copy.replace("    nl: [hulplijn-1712, zelfmoordlijn]\n", "")
    result = fallback(str(menu_copy.menus))
    assert result.exit_code == 0, result.output
    dutch = " ".join(h.text for h in play(result.output).heard if h.language == "nl-BE")
    assert "1 7 1 2" in dutch and "Awel" in dutch  # keys 2 and 5 of the hoofdmenu
    assert "Noodnummer" not in dutch  # 112 is said first anyway, not as a helpline
    assert "Zelfmoordlijn" not in dutch  # one level down


def test_the_fallback_can_put_callers_through_to_a_helpline(menu_copy):
    menu_copy.replace("  # transfer: ecoute-violences-conjugales", "  transfer: ecoute-violences-conjugales")
    result = fallback(str(menu_copy.menus), "--caller-id", "02 200 00 00")
    assert result.exit_code == 0, result.output
    call = play(result.output)
    assert call.waiting == "dial" and call.dialing == "+3280030030"
    assert call.dial_attributes["callerId"] == CALLER_ID and "action" not in call.dial_attributes
    assert "Je vous mets en relation avec Écoute Violences Conjugales" in call.said
    assert "Ik verbind u door met Écoute Violences Conjugales" in call.said
    call.dial_outcome("busy")  # no server to tell: Twilio goes on with the document
    assert call.ended and "Vous pouvez appeler vous-même le 0 8 0 0, 3 0, 0 3 0" in call.said


def test_a_transfer_without_a_caller_id_is_refused_so_the_callers_number_is_never_shown(menu_copy, monkeypatch):
    monkeypatch.delenv("IVR_TRANSFER_CALLER_ID", raising=False)
    menu_copy.replace("  # transfer: ecoute-violences-conjugales", "  transfer: ecoute-violences-conjugales")
    result = fallback(str(menu_copy.menus))
    assert result.exit_code == 1
    where = menu_copy.line_of("  transfer: ecoute-violences-conjugales")
    assert f"menus.yaml:{where}:" in result.output and "caller ID" in result.output


@pytest.mark.parametrize("edit,message", [
    (("  # transfer: ecoute-violences-conjugales", "  transfer: tele-accueil"), "with a transfer: number"),
    (("fr: [ecoute-violences-conjugales, prevention-suicide]", "fr: [ecoute-violence, prevention-suicide]"),
     "'ecoute-violence' is not a helpline of language fr"),
    (("fr: [ecoute-violences-conjugales, prevention-suicide]", "fr: [sante-mentale]"), "has no number to say"),
    (("    nl: [hulplijn-1712, zelfmoordlijn]", "    de: [hulplijn-1712]"), "'de' is not a language"),
])
def test_mistakes_in_the_fallback_section_are_reported_with_their_line(menu_copy, edit, message):
    menu_copy.replace(*edit)
    result = fallback(str(menu_copy.menus), "--caller-id", CALLER_ID)
    assert result.exit_code == 1 and message in result.output
    assert f"menus.yaml:{menu_copy.line_of(edit[1].strip())}:" in result.output

