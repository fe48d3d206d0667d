"""The fallback document Twilio plays when the line is down: `python -m ivr fallback`."""
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from ivr import ROOT
from ivr.menus.load import load
from ivr.menus.numbers import spoken
from ivr.operators.commands import main
from ivr.operators.timing import SENTENCE_GAP_SECONDS, text_seconds
from ivr.testers.phone import Call, Transport, twilio_params

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


def heard_by_language(call):
    heard = {"fr-BE": [], "nl-BE": []}
    for h in call.heard:
        heard[h.language].append(h.text)
    return " ".join(heard["fr-BE"]), " ".join(heard["nl-BE"])


def test_the_fallback_says_the_emergency_numbers_and_helplines_in_both_languages_then_hangs_up(menu_copy):
    result = fallback(str(menu_copy.menus))
    assert result.exit_code == 0, result.output
    twiml = result.output
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    # Nothing that needs a server: no Gather, no Redirect, no URL to call back.
    assert {verb.tag for verb in root} == {"Say", "Hangup"} and root[-1].tag == "Hangup"
    assert not any(attr in element.attrib for element in root.iter() for attr in ("action", "url"))

    call = play(twiml)
    assert call.ended and call.transport.fetches == 1
    french, dutch = heard_by_language(call)
    assert "appelez le 1 1 2, ou le 1 0 1 pour la police" in french
    assert "bel 1 1 2, of 1 0 1 voor de politie" in dutch
    line = load(menu_copy.menus, menu_copy.prompts)
    for code, text, ids in [("fr", french, ["ligne-couple", "ligne-nuit"]), ("nl", dutch, ["lijn-geweld"])]:
        for hid in ids:
            helpline = line.language(code).helplines[hid]
            assert helpline.name in text
            assert text.count(spoken(helpline.number)) == 2  # each number twice
    assert french.endswith("Au revoir.") and dutch.endswith("Tot ziens.")


def seconds_until_112(call) -> dict[str, float]:
    """Per language, the seconds of speech until its 112 has been said (its last digit)."""
    elapsed, said_112 = 0.0, {}
    for h in call.heard:
        if "1 1 2" in h.text:
            said_112.setdefault(h.language, elapsed + text_seconds(h.text[:h.text.index("1 1 2") + 5]))
        elapsed += text_seconds(h.text) + SENTENCE_GAP_SECONDS
    return said_112


def test_the_fallback_says_112_in_every_language_before_any_helpline(menu_copy):
    call = play(fallback(str(menu_copy.menus)).output)
    said_112 = seconds_until_112(call)
    # Both languages, each in its own voice, one after the other, first thing.
    assert [h.language for h in call.heard[:2]] == ["fr-BE", "nl-BE"]
    assert set(said_112) == {"fr-BE", "nl-BE"} and max(said_112.values()) <= 15, said_112


def test_the_shipped_fallback_says_112_in_both_languages_within_15_seconds_then_each_languages_lines():
    from ivr.menus.yamlfile import read
    call = play(fallback(str(ROOT / "menus.yaml")).output)
    said_112 = seconds_until_112(call)
    assert set(said_112) == {"fr-BE", "nl-BE"} and max(said_112.values()) <= 15, said_112
    french, dutch = heard_by_language(call)
    line = load(ROOT / "menus.yaml")
    chosen = read(ROOT / "menus.yaml").data["fallback"]["helplines"]
    for code, text in (("fr", french), ("nl", dutch)):
        for hid in chosen[code]:
            assert text.count(spoken(line.language(code).helplines[hid].number)) == 2, hid


def test_a_language_without_a_list_gets_the_helplines_of_its_main_menu(menu_copy):
    menu_copy.replace("    nl: [lijn-geweld]\n", "")
    result = fallback(str(menu_copy.menus))
    assert result.exit_code == 0, result.output
    dutch = " ".join(h.text for h in play(result.output).heard if h.language == "nl-BE")
    assert "1 7 1 2" in dutch and "0 8 0 0, 3 2, 1 2 3" in dutch  # keys 1 and 2 of the hoofdmenu


def test_the_fallback_can_put_callers_through_and_hangs_up_after_a_transfer_that_went_well(menu_copy):
    menu_copy.replace("  # transfer: ligne-couple", "  transfer: ligne-couple")
    result = fallback(str(menu_copy.menus), "--caller-id", "02 200 00 00")
    assert result.exit_code == 0, result.output
    call = play(result.output)
    assert call.waiting == "dial" and call.dialing == "+3280030030"
    assert call.dial_attributes["callerId"] == CALLER_ID and "action" not in call.dial_attributes
    # The number to dial is said before it rings: nothing can be said after a transfer that went well.
    assert "Je vous mets en relation" in call.said and "Ik verbind u door" in call.said
    assert "Vous pouvez appeler vous-même le 0 8 0 0, 3 0, 0 3 0" in call.said
    assert "La ligne couple" not in call.said.split("Je vous mets en relation")[1]  # no name with the transfer
    call.dial_outcome("completed")  # no server to tell: Twilio goes on with the document
    assert call.ended and call.said == ""


def test_a_transfer_without_a_caller_id_is_refused_so_the_callers_number_is_never_shown(menu_copy, monkeypatch):
    monkeypatch.delenv("IVR_TRANSFER_CALLER_ID", raising=False)
    menu_copy.replace("  # transfer: ligne-couple", "  transfer: ligne-couple")
    result = fallback(str(menu_copy.menus))
    assert result.exit_code == 1
    where = menu_copy.line_of("  transfer: ligne-couple")
    assert f"menus.yaml:{where}:" in result.output and "caller ID" in result.output


@pytest.mark.parametrize("edit,message", [
    (("  # transfer: ligne-couple", "  transfer: ligne-nuit"), "with a transfer: number"),
    (("fr: [ligne-couple, ligne-nuit]", "fr: [ligne-coupl, ligne-nuit]"), "'ligne-coupl' is not a helpline of language fr"),
    (("fr: [ligne-couple, ligne-nuit]", "fr: [ligne-adresse]"), "has no number to say"),
    (("    nl: [lijn-geweld]", "    de: [lijn-geweld]"), "'de' is not a language"),
])
def test_mistakes_in_the_fallback_section_are_reported_with_their_line(menu_copy, edit, message):
    menu_copy.replace(*edit)
    result = fallback(str(menu_copy.menus), "--caller-id", CALLER_ID)
    assert result.exit_code == 1 and message in result.output
    assert f"menus.yaml:{menu_copy.line_of(edit[1].strip())}:" in result.output


@pytest.mark.parametrize("edit,message", [
    (("  # transfer: ligne-couple", "  transfr: ligne-couple"), "fallback: takes 'helplines' (per language) and 'transfer'"),
    (("  # transfer: ligne-couple", "  transfer: ligne-nuit"), "with a transfer: number"),
    (("fr: [ligne-couple, ligne-nuit]", "fr: [ligne-coupl, ligne-nuit]"), "'ligne-coupl' is not a helpline of language fr"),
    (("fr: [ligne-couple, ligne-nuit]", "fr: [ligne-adresse]"), "has no number to say"),
    (("    nl: [lijn-geweld]", "    de: [lijn-geweld]"), "'de' is not a language"),
])
def test_check_finds_every_mistake_of_the_fallback_section_that_fallback_would(menu_copy, edit, message):
    menu_copy.replace(*edit)
    where = f"menus.yaml:{menu_copy.line_of(edit[1].strip())}:"
    checked = CliRunner().invoke(main, ["check", str(menu_copy.menus)])
    assert checked.exit_code == 1 and message in checked.output and where in checked.output
    made = fallback(str(menu_copy.menus), "--caller-id", CALLER_ID)
    assert made.exit_code == 1 and message in made.output and where in made.output


def test_check_warns_that_a_fallback_transfer_needs_a_caller_id(menu_copy, monkeypatch):
    monkeypatch.delenv("IVR_TRANSFER_CALLER_ID", raising=False)
    menu_copy.replace("  # transfer: ligne-couple", "  transfer: ligne-couple")
    checked = CliRunner().invoke(main, ["check", str(menu_copy.menus)])
    assert checked.exit_code == 0 and "warning: fallback: transfer: needs a caller ID" in checked.output
    monkeypatch.setenv("IVR_TRANSFER_CALLER_ID", CALLER_ID)
    assert "caller ID" not in CliRunner().invoke(main, ["check", str(menu_copy.menus)]).output


# -- the committed document, kept in step with the menus -------------------------------------------
def test_check_fails_when_the_committed_fallback_no_longer_matches_the_menus_and_names_the_command(menu_copy):
    document = menu_copy.menus.parent / "fallback.xml"
    assert fallback(str(menu_copy.menus), "--out", str(document)).exit_code == 0
    assert CliRunner().invoke(main, ["check", str(menu_copy.menus)]).exit_code == 0
    # A number read by the fallback changes: the copy in Twilio would read the old one.
    menu_copy.replace('number: "0800 30 030"', 'number: "0800 30 031"').replace('transfer: "+3280030030"', 'transfer: "+3280030031"')
    checked = CliRunner().invoke(main, ["check", str(menu_copy.menus)])
    assert checked.exit_code == 1
    assert ("error: fallback.xml no longer matches menus.yaml: run `make fallback` "
            "(python -m ivr fallback --out fallback.xml) and paste it into Twilio again") in checked.output
    assert fallback(str(menu_copy.menus), "--out", str(document)).exit_code == 0
    assert CliRunner().invoke(main, ["check", str(menu_copy.menus)]).exit_code == 0


def test_the_check_makes_a_transferring_fallback_again_with_the_caller_id_it_was_made_with(menu_copy, monkeypatch):
    monkeypatch.delenv("IVR_TRANSFER_CALLER_ID", raising=False)
    menu_copy.replace("  # transfer: ligne-couple", "  transfer: ligne-couple")
    document = menu_copy.menus.parent / "fallback.xml"
    assert fallback(str(menu_copy.menus), "--out", str(document), "--caller-id", CALLER_ID).exit_code == 0
    checked = CliRunner().invoke(main, ["check", str(menu_copy.menus)])
    assert checked.exit_code == 0 and "no longer matches" not in checked.output
    # Compared all the same: a changed number it reads is caught.
    menu_copy.replace('number: "0800 30 030"', 'number: "0800 30 031"').replace('transfer: "+3280030030"', 'transfer: "+3280030031"')
    assert "fallback.xml no longer matches" in CliRunner().invoke(main, ["check", str(menu_copy.menus)]).output


def test_a_test_menu_without_a_fallback_document_is_not_compared_but_a_named_one_must_exist(menu_copy):
    assert "fallback.xml" not in CliRunner().invoke(main, ["check", str(menu_copy.menus)]).output
    missing = menu_copy.menus.parent / "elsewhere.xml"
    checked = CliRunner().invoke(main, ["check", str(menu_copy.menus), "--fallback", str(missing)])
    assert checked.exit_code == 1 and "elsewhere.xml cannot be read" in checked.output


def test_the_shipped_fallback_document_matches_the_shipped_menus():
    from stale import out_of_date
    checked = CliRunner().invoke(main, ["check", str(ROOT / "menus.yaml"), "--prompts", str(ROOT / "prompts")])
    assert (ROOT / "fallback.xml").is_file()
    if "no longer matches" in checked.output:
        out_of_date("fallback.xml", "make fallback", [line for line in checked.output.splitlines() if "error" in line])
    assert checked.exit_code == 0, checked.output


def test_the_shipped_fallback_reads_a_day_and_night_line_first_in_each_language_within_30_seconds():
    from ivr.menus.yamlfile import read
    from ivr.operators import fallback as fallback_module
    line, doc = load(ROOT / "menus.yaml"), read(ROOT / "menus.yaml")
    readings, _, _ = fallback_module.section(line, doc)
    starts = fallback_module.first_numbers(line, readings)
    assert set(starts) == {lang.code for lang in line.languages}
    for code, (helpline, seconds) in starts.items():
        assert helpline.day_and_night and seconds <= 30, (code, helpline.id, seconds)
    assert fallback_module.first_number_problems(line, doc, readings) == []


def test_a_fallback_led_by_a_daytime_line_is_reported_at_its_place(menu_copy):
    from ivr.menus.yamlfile import read
    from ivr.operators import fallback as fallback_module
    line, doc = load(menu_copy.menus, menu_copy.prompts), read(menu_copy.menus)
    readings, _, _ = fallback_module.section(line, doc)
    found = fallback_module.first_number_problems(line, doc, readings)
    assert len(found) == 1 and "'lijn-geweld'" in found[0].message and "day and night" in found[0].message
    assert found[0].place.line == menu_copy.line_of("nl: [lijn-geweld]")
