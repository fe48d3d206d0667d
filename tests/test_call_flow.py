"""Calls as a caller lives them: start a call, press keys, hear what the line says."""
import re

import pytest

from ivr.numbers import spoken
from conftest import walk

FR, NL = "fr-BE", "nl-BE"


def to_main_menu(phone, language_key="1"):
    call = phone()
    call.press(language_key)
    return call


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
    assert call.said.startswith("Si vous êtes en danger maintenant")
    assert "Menu principal" in call.said


def test_a_wrong_key_at_the_language_choice_is_said_in_both_languages(phone):
    call = phone().press("7")
    assert "Ce choix n'existe pas" in call.said and "Die keuze bestaat niet" in call.said
    assert "Pour le français" in call.said


def test_a_number_mapped_to_dutch_skips_the_language_choice(client):
    from ivr import create_app
    from ivr.phone import FlaskTransport, call
    from conftest import PUBLIC_URL, TOKEN
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "LANGUAGE_BY_NUMBER": "+32 800 99 991=nl"})
    dutch = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN, line="+3280099991")
    assert dutch.said.startswith("Bent u nu in gevaar?")
    other = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN, line="+3280099999")
    assert "Pour le français" in other.said


@pytest.mark.parametrize("key,danger,anytime,quick", [
    ("1", "raccrochez et appelez le 1 1 2", "raccrocher à tout moment", "appuyez sur dièse"),
    ("2", "Leg dan in en bel 1 1 2", "op elk moment inleggen", "druk hekje"),
])
def test_the_safety_message_comes_first_right_after_the_language_choice(phone, key, danger, anytime, quick):
    call = phone().press(key)
    first = call.heard[0].text
    assert danger in first and "1 0 1" in first and anytime in first and quick in first
    assert re.search(r"rappellera jamais|belt u nooit terug", first)
    assert re.search(r"historique|oproepgeschiedenis", first)
    # The quick-exit key is announced once, then menus go on without it.
    assert call.said.count(quick) == 1
    call.press("1")
    assert quick not in call.said


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
        for path, page in walk(language):
            yield language, path, page


def test_every_helpline_of_both_languages_is_reached_from_voice_and_its_number_said_twice(phone, line):
    reached = set()
    for language, path, page in every_page(line):
        call = press_path(phone().press(language.key), path)
        assert call.waiting == "keys"
        for helpline in page.helplines:
            assert helpline.name in call.said, (language.code, path, helpline.id)
            if helpline.number:
                assert call.said.count(spoken(helpline.number)) == 2, (helpline.id, call.said)
            else:
                assert helpline.how_to_reach.rstrip(".") in call.said
            reached.add((language.code, helpline.id))
    every = {(lang.code, hid) for lang in line.languages for hid in lang.helplines}
    assert reached == every
    assert len(every) >= 25


def test_numbers_are_spoken_in_belgian_groups_digit_by_digit(phone):
    call = phone().press("1").press("2")
    assert "0 8 0 0, 3 0, 0 3 0" in call.said  # Écoute Violences Conjugales
    assert "0800 30 800" not in call.said and "0 8 0 0, 3 0, 8 0 0" not in call.said  # the seed's wrong number


def transferable(line):
    for language, path, page in every_page(line):
        for key, helpline in page.transfers():
            yield language, path, key, helpline


def test_each_0800_helpline_transfers_to_its_e164_number_showing_the_line_not_the_caller(phone, line):
    seen = set()
    for language, path, key, helpline in transferable(line):
        call = press_path(phone().press(language.key), path).press(key)
        assert call.waiting == "dial"
        assert call.dialing == helpline.transfer
        assert call.dial_attributes["callerId"] == "+3225550100"  # configured, never the caller's
        assert int(call.dial_attributes["timeout"]) == line.ring_seconds
        assert helpline.name in call.said
        seen.add(helpline.transfer)
    assert seen == {"+3280030030", "+3280032123", "+3280098100", "+3280012800"}


def test_without_a_configured_caller_id_the_lines_own_number_is_shown(line):
    from ivr import create_app
    from ivr.phone import FlaskTransport, call
    from conftest import PUBLIC_URL, TOKEN
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0})
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN, line="+3225000000").press("1").press("2").press("1")
    assert c.dial_attributes["callerId"] == "+3225000000"


def test_a_toll_free_line_without_a_caller_id_does_not_try_a_transfer_twilio_would_refuse(caplog):
    from ivr import create_app
    from ivr.phone import FlaskTransport, call
    from conftest import PUBLIC_URL, TOKEN
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0})
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN, line="+3280099990").press("1").press("2").press("1")
    assert c.dialing is None and c.waiting == "keys"
    assert "Je n'ai pas pu joindre Écoute Violences Conjugales." in c.said
    assert "Vous pouvez appeler vous-même le 0 8 0 0, 3 0, 0 3 0" in c.said
    assert any("set IVR_TRANSFER_CALLER_ID" in r.getMessage() for r in caplog.records)
    assert not any("80099990" in r.getMessage() for r in caplog.records)


def test_a_configured_caller_id_is_used_for_transfers(line):
    from ivr import create_app
    from ivr.phone import FlaskTransport, call
    from conftest import PUBLIC_URL, TOKEN
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "TRANSFER_CALLER_ID": "02 226 88 88"})
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1").press("2").press("1")
    assert c.dial_attributes["callerId"] == "+3222268888"


def test_short_and_emergency_numbers_are_never_dialled(phone, line):
    for language, path, page in every_page(line):
        for helpline in page.helplines:
            if helpline.number and not helpline.number.dialable:
                assert helpline.transfer is None
        if not page.transfers():
            call = press_path(phone().press(language.key), path).press("1")
            assert call.waiting == "keys" and call.dialing is None
            assert re.search(r"Ce choix n'existe pas|Die keuze bestaat niet", call.said)
    call = phone().press("1").press("1")  # emergencies
    assert "Raccrochez et appelez le 1 1 2. Je répète : 1 1 2." in call.said


@pytest.mark.parametrize("status,expected", [
    ("busy", "est occupée"),
    ("no-answer", "ne répond pas"),
    ("failed", "Je n'ai pas pu joindre"),
    ("canceled", "Je n'ai pas pu joindre"),
])
def test_a_transfer_that_does_not_connect_says_so_gives_the_number_and_offers_the_menu(phone, status, expected):
    call = phone().press("1").press("2").press("1").dial_outcome(status)
    assert expected in call.said
    assert "Vous pouvez appeler vous-même le 0 8 0 0, 3 0, 0 3 0" in call.said
    assert "Pour réessayer, appuyez sur 1" in call.said
    assert call.waiting == "keys"
    call.press("1")
    assert call.waiting == "dial" and call.dialing == "+3280030030"
    call.dial_outcome(status).press("0")
    assert "Menu principal" in call.said


def test_after_a_transfer_ends_the_caller_is_back_on_the_main_menu(phone):
    call = phone().press("1").press("4").press("1").dial_outcome("completed")
    assert "Votre appel avec SOS Viol est terminé" in call.said
    assert "Menu principal" in call.said and call.waiting == "keys"


def test_a_wrong_key_says_it_is_not_an_option_and_repeats_the_same_menu(phone):
    call = phone().press("1").press("3")
    submenu = call.said
    call.press("7")
    assert call.said.startswith("Ce choix n'existe pas.")
    assert submenu in call.said


@pytest.mark.parametrize("path", [(), ("3",), ("2",)])
def test_silence_repeats_the_menu_twice_then_says_112_and_hangs_up(phone, path):
    call = press_path(phone().press("1"), path)
    menu = call.said if path else call.said.split("Menu principal.")[1]
    for _ in range(2):
        call.silence()
        assert menu in call.said and call.waiting == "keys"
    call.silence()
    assert "1 1 2" in call.said and "rappeler cette ligne à tout moment" in call.said
    assert call.ended


def test_the_fixed_keys_do_the_same_on_every_menu(phone):
    call = phone().press("1").press("3")
    submenu = call.said
    assert "Soutien psychologique" in submenu
    call.press("1")
    assert "Centre de Prévention du Suicide" in call.said
    page = call.said
    call.press("*")
    assert call.said == page  # repeat
    call.press("9")
    assert call.said == submenu  # back one level
    call.press("*")
    assert call.said == submenu
    call.press("0")
    assert call.said.startswith("Menu principal.")
    call.press("9")
    assert call.said.startswith("Menu principal.")  # back from the top stays there
    call.press("8")
    assert call.said.startswith("Bent u nu in gevaar?")  # Dutch, safety first
    call.press("8")
    assert call.said.startswith("Si vous êtes en danger maintenant")


@pytest.mark.parametrize("path", [(), ("1",), ("1", "3"), ("1", "3", "1"), ("2", "2")])
def test_quick_exit_says_a_neutral_goodbye_and_hangs_up_from_anywhere(phone, path):
    call = press_path(phone(), path).press("#")
    assert call.ended
    fr, nl = "Merci pour votre appel. Au revoir.", "Bedankt voor uw oproep. Tot ziens."
    # Before a language is chosen, the neutral goodbye is said in each language.
    assert call.said == (f"{fr} {nl}" if not path else fr if path[0] == "1" else nl)


def test_a_call_can_walk_the_dutch_tree(phone):
    call = phone().press("2").press("3").press("1")
    assert "De Zelfmoordlijn" in call.said and "Leg in en bel 1 8 1 3. Ik herhaal: 1 8 1 3." in call.said


def test_the_callers_own_number_is_shown_only_where_an_operator_turned_it_on(menu_copy):
    from ivr import create_app
    from ivr.phone import FlaskTransport, call
    from conftest import PUBLIC_URL, TOKEN
    menu_copy.replace('      transfer: "+3280030030"', '      transfer: "+3280030030"\n      show_caller_number: yes')
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0, "TRANSFER_CALLER_ID": "+3222268888",
                      "MENUS": str(menu_copy.menus), "PROMPTS": str(menu_copy.prompts)})
    shown = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1").press("2").press("1")
    assert shown.dialing == "+3280030030" and "callerId" not in shown.dial_attributes  # Twilio shows the caller
    hidden = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1").press("4").press("1")
    assert hidden.dial_attributes["callerId"] == "+3222268888"


def test_a_third_language_is_added_with_files_only(menu_copy):
    import copy

    import yaml
    from ivr import create_app
    from ivr.phone import FlaskTransport, call
    from conftest import PUBLIC_URL, TOKEN
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


def test_the_readmes_simulated_call_runs_as_written(capsys):
    import re as _re
    from ivr import ROOT
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (example,) = _re.findall(r"```python\n(.*?)```", readme, flags=_re.S)
    exec(compile(example, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "[line dials +3280030030]" in out and "La ligne est occupée." in out
