"""Calls as a caller lives them: start a call, press keys, hear what the line says."""
import datetime
import re

import pytest

from ivr import create_app
from ivr.call import speech
from ivr.menus.model import BRUSSELS
from ivr.menus.numbers import spoken
from ivr.testers.phone import FlaskTransport
from ivr.testers.phone import call as place_call
from line_settings import PUBLIC_URL, TEST_MENUS, TOKEN

FR, NL = "fr-BE", "nl-BE"


TEST_FILES = {"MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts")}
MAIN_MENU = ("Pour la ligne couple, appuyez sur 1. Pour la ligne de bureau, appuyez sur 2. "
             "Pour le sous-menu, appuyez sur 3. Pour réécouter, appuyez sur étoile.")


def to_main_menu(phone, language_key="1"):
    call = phone()
    call.press(language_key)
    return call


def line_app(**config):
    """The line on the test menu, with its own configuration (no caller id unless given)."""
    return create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0, **TEST_FILES, **config})


def test_language_choice_is_said_in_each_language_with_its_own_voice(phone):
    call = phone()
    assert call.waiting == "keys"
    assert [(h.language, h.voice) for h in call.heard] == [(FR, "Polly.Isabelle-Neural"), (NL, "Polly.Lisa-Neural")]
    assert "français" in call.heard[0].text and "1" in call.heard[0].text
    assert "Nederlands" in call.heard[1].text and "2" in call.heard[1].text


def test_silence_at_the_language_choice_asks_again_then_goes_on_in_french(phone):
    call = phone()
    call.silence()
    assert "Pour le français" in call.said and "Voor Nederlands" in call.said
    call.silence()
    assert call.waiting == "keys"
    assert call.said.startswith("Si vous êtes en danger immédiat")
    assert MAIN_MENU in call.said


def test_a_wrong_key_at_the_language_choice_is_said_in_both_languages(phone):
    call = phone().press("7")
    assert "Cette touche ne correspond à aucun choix." in call.said
    assert "Die toets hoort bij geen enkele keuze." in call.said
    assert "Pour le français" in call.said


def test_a_number_mapped_to_dutch_skips_the_language_choice(client):
    app = line_app(LANGUAGE_BY_NUMBER="+32 800 99 991=nl")
    dutch = place_call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN, line_number="+3280099991")
    assert dutch.said.startswith("Bent u in direct gevaar?")
    other = place_call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN, line_number="+3280099999")
    assert "Pour le français" in other.said


@pytest.mark.parametrize("key,danger,quick,history", [
    ("1", "raccrochez et appelez le 1 1 2", "appuyez sur dièse", "historique"),
    ("2", "Leg dan in en bel 1 1 2", "Druk dan op hekje", "oproeplijst"),
])
def test_the_safety_message_comes_first_right_after_the_language_choice(phone, key, danger, quick, history):
    call = phone().press(key)
    first = call.heard[0].text
    assert danger in first and quick in first
    assert re.search(r"rappellera jamais|belt u nooit terug", first)
    # One short sentence: no police number, no call history; the first option comes next.
    assert "1 0 1" not in first and history not in first
    assert re.search(r"(appuyez sur|druk) 1\.$", call.heard[1].text)
    # The quick-exit key is announced once, then menus go on without it.
    assert call.said.count(quick) == 1
    call.press("1")
    assert quick not in call.said
    # Erasing the call from the phone's history is said at the end of each helpline page.
    assert history in call.heard[-2].text


@pytest.mark.parametrize("key", ["1", "2"])
def test_the_main_menu_has_at_most_six_topics_each_description_then_key(phone, key):
    call = phone().press(key)
    options = [h.text for h in call.heard if re.search(r"(appuyez sur|druk) [1-7]\.$", h.text)]
    assert 1 <= len(options) <= 6
    for text in options:
        assert re.match(r"^(Pour|Si|Voor|Als|Om) ", text), text  # the description comes first


def press_path(call, path):
    for key in path:
        call.press(key)
    return call


def every_page(line):
    for language in line.languages:
        for path, page in language.pages():
            yield language, path, page


def test_every_helpline_of_both_languages_is_reached_from_voice_and_its_number_said_twice(shipped_phone, shipped_line):
    reached = set()
    for language, path, page in every_page(shipped_line):
        call = press_path(shipped_phone().press(language.key), path)
        assert call.waiting == "keys"
        for helpline in page.helplines:
            assert helpline.name in call.said, (language.code, path, helpline.id)
            if helpline.number:
                # "The number is ... I repeat: ...", or "hang up and dial ... I repeat: ..."
                (twice,) = (s for s in speech.reaching(language, helpline) if speech.numbers_in(s))
                assert twice.text in call.said and twice.text.count(spoken(helpline.number)) == 2, (helpline.id, call.said)
            else:
                assert helpline.how_to_reach.rstrip(".") in call.said
            reached.add((language.code, helpline.id))
    every = {(lang.code, hid) for lang in shipped_line.languages for hid in lang.helplines}
    assert reached == every


def test_numbers_are_spoken_in_belgian_groups_digit_by_digit(phone):
    call = phone().press("1").press("1")
    assert "Le numéro est le 0 8 0 0, 3 0, 0 3 0. Je répète : 0 8 0 0, 3 0, 0 3 0." in call.said  # la ligne couple
    assert "0800 30 030" not in call.said


def transferable(line):
    for language, path, page in every_page(line):
        for key, helpline in page.transfers():
            yield language, path, key, helpline


WEEKDAY_MORNING = datetime.datetime(2026, 12, 8, 10, 30, tzinfo=BRUSSELS)


def test_each_0800_helpline_transfers_to_its_e164_number_showing_the_line_not_the_caller(shipped_app, shipped_phone, shipped_line):
    shipped_app.config["CLOCK"] = lambda: WEEKDAY_MORNING  # office lines are open
    seen = set()
    for language, path, key, helpline in transferable(shipped_line):
        assert helpline.number.dialable and helpline.transfer == helpline.number.e164, helpline.id
        if helpline.open_at(WEEKDAY_MORNING) is False:
            continue  # not offered while closed (tests/test_opening_hours.py)
        call = press_path(shipped_phone().press(language.key), path).press(key)
        assert call.waiting == "dial"
        assert call.dialing == helpline.transfer
        assert call.dial_attributes["callerId"] == "+3225550100"  # configured, never the caller's
        assert int(call.dial_attributes["timeout"]) == shipped_line.ring_seconds
        assert helpline.name not in call.said
        seen.add(helpline.transfer)
    assert seen  # the shipped menu puts callers through somewhere


def test_without_a_configured_caller_id_the_lines_own_number_is_shown(line):
    app = line_app()
    c = place_call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN, line_number="+3225000000").press("1").press("1").press("1")
    assert c.dial_attributes["callerId"] == "+3225000000"


def test_a_toll_free_line_without_a_caller_id_does_not_try_a_transfer_twilio_would_refuse(caplog):
    app = line_app()
    c = place_call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN, line_number="+3280099990").press("1").press("1").press("1")
    assert c.dialing is None and c.waiting == "keys"
    assert "La mise en relation n'a pas abouti." in c.said and "La ligne couple" not in c.said
    assert "Vous pouvez appeler vous-même le 0 8 0 0, 3 0, 0 3 0" in c.said
    assert any("set IVR_TRANSFER_CALLER_ID" in r.getMessage() for r in caplog.records)
    assert not any("80099990" in r.getMessage() for r in caplog.records)


def test_a_configured_caller_id_is_used_for_transfers(line):
    app = line_app(TRANSFER_CALLER_ID="02 226 88 88")
    c = place_call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1").press("1").press("1")
    assert c.dial_attributes["callerId"] == "+3222268888"


def test_short_and_emergency_numbers_are_never_dialled(shipped_phone, shipped_line):
    for language, path, page in every_page(shipped_line):
        short = [h for h in page.helplines if h.number and not h.number.dialable]
        for helpline in short:
            assert helpline.transfer is None
        if short or not page.transfers():
            call = press_path(shipped_phone().press(language.key), path)
            for helpline in short:  # "hang up and dial", never "put through"
                assert speech.sentence(language, "hang_up_and_dial", number=helpline.number).text in call.said
        if not page.transfers():
            call.press("1")
            assert call.waiting == "keys" and call.dialing is None
            assert call.said.startswith(language.prompts["not_an_option"])


@pytest.mark.parametrize("status,expected", [
    ("busy", "La ligne est occupée."),
    ("no-answer", "Personne ne répond pour le moment."),
    ("failed", "La mise en relation n'a pas abouti."),
    ("canceled", "La mise en relation n'a pas abouti."),
])
def test_a_transfer_that_does_not_connect_says_so_gives_the_number_and_offers_the_menu(phone, status, expected):
    call = phone().press("1").press("1").press("1").dial_outcome(status)
    assert call.said.startswith(expected)
    assert "Vous pouvez appeler vous-même le 0 8 0 0, 3 0, 0 3 0" in call.said
    assert "Pour réessayer, appuyez sur 1" in call.said
    assert call.waiting == "keys"
    call.press("1")
    assert call.waiting == "dial" and call.dialing == "+3280030030"
    call.dial_outcome(status).press("0")
    assert call.said == MAIN_MENU


def test_after_a_transfer_ends_the_line_says_goodbye_and_hangs_up(phone):
    call = phone().press("1").press("1").press("1").dial_outcome("completed")
    assert call.said == "Merci pour votre appel. Au revoir."
    assert call.ended and call.waiting is None


def test_a_wrong_key_says_it_is_not_an_option_and_repeats_the_same_menu(phone):
    call = phone().press("1").press("3")
    submenu = call.said
    call.press("7")
    assert call.said.startswith("Cette touche ne correspond à aucun choix.")
    assert submenu in call.said


@pytest.mark.parametrize("path", [(), ("3",), ("1",)])
def test_silence_repeats_the_menu_once_then_says_112_and_hangs_up(phone, path):
    call = press_path(phone().press("1"), path)
    menu = call.said if path else MAIN_MENU
    assert menu in call.said
    call.silence()
    assert menu in call.said and call.waiting == "keys"
    call.silence()
    assert call.said == "Je n'ai reçu aucun choix. En cas d'urgence, appelez le 1 1 2. Au revoir."
    assert call.ended


def test_the_fixed_keys_do_the_same_on_every_menu(phone):
    call = phone().press("1").press("3")
    submenu = call.said
    assert submenu.startswith("Sous-menu.")
    call.press("1")
    assert "La ligne courte." in call.said
    page = call.said
    call.press("*")
    assert call.said == page  # repeat
    call.press("9")
    assert call.said == submenu  # back one level
    call.press("*")
    assert call.said == submenu
    call.press("0")
    assert call.said == MAIN_MENU
    call.press("9")
    assert call.said == MAIN_MENU  # back from the top stays there
    call.press("8")
    assert call.said.startswith("Bent u in direct gevaar?")  # Dutch, safety first
    call.press("8")
    assert call.said.startswith("Si vous êtes en danger immédiat")


@pytest.mark.parametrize("path", [(), ("1",), ("1", "3"), ("1", "3", "1"), ("2", "2")])
def test_quick_exit_says_a_neutral_goodbye_and_hangs_up_from_anywhere(phone, path):
    call = press_path(phone(), path).press("#")
    assert call.ended
    fr, nl = "Merci pour votre appel. Au revoir.", "Bedankt voor uw oproep. Tot ziens."
    # Before a language is chosen, the neutral goodbye is said in each language.
    assert call.said == (f"{fr} {nl}" if not path else fr if path[0] == "1" else nl)


def test_a_call_can_walk_the_dutch_tree(phone):
    call = phone().press("2").press("1")
    assert "De lijn geweld." in call.said and "Leg in en bel 1 7 1 2. Ik herhaal: 1 7 1 2." in call.said


def test_the_callers_own_number_is_shown_only_where_an_operator_turned_it_on(menu_copy):
    menu_copy.replace('      transfer: "+3280030030"', '      transfer: "+3280030030"\n      show_caller_number: yes')
    app = line_app(TRANSFER_CALLER_ID="+3222268888", MENUS=str(menu_copy.menus), PROMPTS=str(menu_copy.prompts))
    shown = place_call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1").press("1").press("1")
    assert shown.dialing == "+3280030030" and "callerId" not in shown.dial_attributes  # Twilio shows the caller
    hidden = place_call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("2").press("2").press("1")
    assert hidden.dial_attributes["callerId"] == "+3222268888"


def test_a_third_language_is_added_with_files_only(menu_copy):
    import copy

    import yaml

    from ivr import create_app
    from ivr.testers.phone import FlaskTransport, call
    from line_settings import PUBLIC_URL, TOKEN
    menus = yaml.safe_load(menu_copy.menus.read_text(encoding="utf-8"))
    menus["languages"].append("de")
    menus["de"] = copy.deepcopy(menus["fr"])  # content an operator would translate (a copy: no YAML alias)
    menu_copy.menus.write_text(yaml.safe_dump(menus, allow_unicode=True), encoding="utf-8")
    german = (menu_copy.prompts / "fr.yaml").read_text(encoding="utf-8")
    german = german.replace("Polly.Isabelle-Neural", "Polly.Vicki-Neural").replace("language: fr-BE", "language: de-DE")
    german = german.replace("Pour le français, appuyez sur {key}.", "Für Deutsch, drücken Sie {key}.")
    (menu_copy.prompts / "de.yaml").write_text(german, encoding="utf-8")
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0,
                      "MENUS": str(menu_copy.menus), "PROMPTS": str(menu_copy.prompts)})
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN)
    assert [h.voice for h in c.heard] == ["Polly.Isabelle-Neural", "Polly.Lisa-Neural", "Polly.Vicki-Neural"]
    assert c.heard[2].text == "Für Deutsch, drücken Sie 3."
    c.press("3")
    assert c.heard[0].voice == "Polly.Vicki-Neural" and c.heard[0].language == "de-DE"
    # With three languages, the language key goes back to the choice of all three.
    c.press("8")
    assert "Für Deutsch, drücken Sie 3." in c.said and "Voor Nederlands, druk 2." in c.said


def test_the_readmes_simulated_call_runs_as_written(capsys, shipped_line):
    from ivr import ROOT
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    names = {}
    try:
        exec(compile(example, "README.md", "exec"), names)
    finally:
        if "app" in names:
            names["app"].extensions["ivr"].close()  # a tester's session would end here
    out = capsys.readouterr().out
    # What its comments promise: the number it says the call is put through to is dialled, and
    # the caller then hears the shipped "busy" sentence.
    (promised,) = re.findall(r'c\.dialing == "(\+\d+)"', example)
    assert promised in {h.transfer for language in shipped_line.languages for h in language.helplines.values()}
    assert f"[line dials {promised}]" in out
    busy = shipped_line.language(shipped_line.default_language).prompts["transfer_busy"]
    assert busy in out


# What changed for callers on issue-10: each of these fails on the line as it was before.

def caller_at(when: datetime.datetime, **config):
    app = line_app(CLOCK=lambda: when, TRANSFER_CALLER_ID="+3225550100", **config)
    return place_call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN)


TRANSFERS = [  # (keys from the language choice, helpline, its name) on the test menu, every one that is put through
    (("1", "1"), "La ligne couple"),
    (("1", "2"), "La ligne de bureau"),
    (("1", "3", "2"), "La ligne sans horaires"),
    (("2", "2"), "De lijn om door te verbinden"),
]


@pytest.mark.parametrize("path,name", TRANSFERS)
def test_after_a_completed_transfer_one_sentence_naming_no_service_then_the_call_ends(path, name):
    call = press_path(caller_at(WEEKDAY_MORNING), path).press("1")
    assert call.waiting == "dial"
    call.dial_outcome("completed")
    assert len(call.heard) == 1 and name not in call.said
    assert call.said in ("Merci pour votre appel. Au revoir.", "Bedankt voor uw oproep. Tot ziens.")
    assert call.ended


@pytest.mark.parametrize("which", ["phone", "shipped_phone"])
def test_a_silent_caller_hears_the_main_menu_at_most_twice_then_112_and_goodbye(request, which):
    call = request.getfixturevalue(which)().press("1")
    first_option = call.heard[1].text  # right after the safety sentence
    assert re.search(r"appuyez sur 1\.$", first_option)
    while not call.ended:
        call.silence()
    transcript = "\n".join(call.transcript)
    assert 1 <= transcript.count(first_option) <= 2
    assert "1 1 2" in call.said and len(call.heard) == 1  # the goodbye, one sentence
    assert call.transcript[-1] == "[call ended]"


@pytest.mark.parametrize("path,name", TRANSFERS)
@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled", "completed"])
def test_no_sentence_about_a_transfer_names_the_service(path, name, status):
    call = press_path(caller_at(WEEKDAY_MORNING), path)
    (offer,) = [h.text for h in call.heard if re.search(r"sans raccrocher|zonder in te leggen", h.text)]
    assert name not in offer
    call.press("1")
    assert call.waiting == "dial" and name not in call.said  # "Je vous mets en relation."
    call.dial_outcome(status)
    assert name not in call.said


def test_the_office_line_is_put_through_with_the_keys_its_switchboard_asks_for():
    import xml.etree.ElementTree as ET
    call = press_path(caller_at(WEEKDAY_MORNING), ("1", "2")).press("1")
    assert call.dialing == "+3280012800"
    (number,) = ET.fromstring(call.requests[-1].body).iter("Number")
    assert number.get("sendDigits") == "ww1" and number.text == "+3280012800"
    other = press_path(caller_at(WEEKDAY_MORNING), ("1", "1")).press("1")
    (number,) = ET.fromstring(other.requests[-1].body).iter("Number")
    assert number.get("sendDigits") is None  # only where menus.yaml asks for it


def test_numbers_are_read_in_ssml_digit_by_digit_with_pauses_between_groups(phone):
    call = phone().press("1").press("1")
    twiml = call.requests[-1].body
    assert '<say-as interpret-as="digits">0800</say-as>' in twiml
    assert '<break time="300ms"' in twiml and '<prosody rate="90%">' in twiml
    assert "0 8 0 0, 3 0, 0 3 0" in call.said  # what the caller hears


def test_a_line_without_confirmed_hours_names_an_open_line_after_the_transfer_offer(phone):
    call = phone().press("1").press("3").press("2")
    texts = [h.text for h in call.heard]
    offer = texts.index("Pour les appeler tout de suite, sans raccrocher, appuyez sur 1.")
    assert texts[offer + 1] == "Si personne ne répond, appelez La ligne de nuit, au 1 0 7."


def test_the_office_line_is_closed_on_a_belgian_public_holiday():
    christmas = caller_at(datetime.datetime(2026, 12, 25, 10, 0, tzinfo=BRUSSELS)).press("1").press("2")
    assert "La ligne de bureau." in christmas.said and "La ligne est fermée en ce moment." in christmas.said
    assert "sans raccrocher" not in christmas.said
    assert "En ce moment, vous pouvez joindre La ligne de nuit." in christmas.said
    christmas.press("1")
    assert christmas.dialing is None and christmas.waiting == "keys"
    tuesday = caller_at(datetime.datetime(2026, 12, 22, 10, 0, tzinfo=BRUSSELS)).press("1").press("2")
    assert "La ligne est ouverte en ce moment." in tuesday.said
    assert "Pour les appeler tout de suite, sans raccrocher, appuyez sur 1." in tuesday.said
    tuesday.press("1")
    assert tuesday.dialing == "+3280012800"
