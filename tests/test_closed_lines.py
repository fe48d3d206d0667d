"""Engine behaviour of issue 18, on the test menus: certainly-closed hours (may_be_open), hours
before the transfer offer, an open line named first, a short completed transfer, a failed one,
and a caller who never chose a language."""
import datetime
import xml.etree.ElementTree as ET

import pytest
from twilio.request_validator import RequestValidator

from ivr.call import flow
from ivr.menus.load import inspect, load
from ivr.menus.model import BRUSSELS
from ivr.operators.timing import heard
from ivr.testers.phone import FlaskTransport, call
from line_settings import PUBLIC_URL, TEST_MENUS, TOKEN

TUESDAY_MORNING = datetime.datetime(2026, 12, 8, 10, 30, tzinfo=BRUSSELS)
SUNDAY_NIGHT = datetime.datetime(2026, 12, 6, 3, 0, tzinfo=BRUSSELS)
CHRISTMAS_MORNING = datetime.datetime(2026, 12, 25, 10, 0, tzinfo=BRUSSELS)
OFFER = "Pour les appeler tout de suite, sans raccrocher, appuyez sur 1."  # the test prompts' transfer offer


@pytest.fixture
def widest_hours(menu_copy):
    """La ligne sans horaires (keys 3 then 2) given the widest hours sources agree on."""
    return menu_copy.replace('      if_closed: [ligne-nuit]\n      number: "0800 98 100"',
                             '      if_closed: [ligne-nuit]\n      may_be_open:\n        monday-friday: "09:00-17:00"\n'
                             '        closed: [public holidays]\n      number: "0800 98 100"')


def texts(reply):
    return [s.text for s in heard(reply)]


@pytest.mark.parametrize("now", [SUNDAY_NIGHT, CHRISTMAS_MORNING])
def test_a_certainly_closed_line_is_not_offered_and_an_open_line_comes_first(widest_hours, now):
    line = load(widest_hours.menus, widest_hours.prompts)
    said = texts(flow.node(line, line.language("fr"), ("3", "2"), 0, now))
    assert OFFER not in said
    assert "La ligne est fermée en ce moment." in said
    open_line = next(i for i, t in enumerate(said) if "La ligne de nuit" in t)
    assert open_line < said.index("La ligne sans horaires.")
    assert any("0 8 0 0, 9 8, 1 0 0" in t for t in said)  # its own number, for later
    # A key pressed all the same puts no one through.
    pressed = flow.key(line, line.language("fr"), ("3", "2"), 0, "1", now)
    assert not isinstance(pressed.next, flow.Transfer)


def test_within_the_widest_hours_the_line_is_offered_and_no_hours_are_claimed(widest_hours):
    line = load(widest_hours.menus, widest_hours.prompts)
    said = texts(flow.node(line, line.language("fr"), ("3", "2"), 0, TUESDAY_MORNING))
    assert OFFER in said
    assert "La ligne est fermée en ce moment." not in said and "La ligne est ouverte en ce moment." not in said
    assert "Si personne ne répond, appelez La ligne de nuit, au 1 0 7." in said


def test_the_loader_refuses_both_kinds_of_hours_and_an_empty_widest(menu_copy):
    menu_copy.replace('      hours: "En semaine, de 9 à 17 heures"\n',
                      '      hours: "En semaine, de 9 à 17 heures"\n      may_be_open:\n        monday-friday: "08:00-20:00"\n')
    menu_copy.replace('      if_closed: [ligne-nuit]\n      number: "0800 98 100"',
                      '      if_closed: [ligne-nuit]\n      may_be_open: always\n      number: "0800 98 100"')
    line, problems = inspect(menu_copy.menus, menu_copy.prompts, today=datetime.date(2026, 12, 1))
    errors = [p for p in problems if p.severity == "error"]
    assert line is None and len(errors) == 2
    assert errors[0].place.line == menu_copy.line_of("may_be_open:") and "both opening_hours" in errors[0].message
    assert errors[1].place.line == menu_copy.line_of("may_be_open: always") and "says nothing" in errors[1].message


def test_hours_come_before_the_transfer_offer(line):
    said = texts(flow.node(line, line.language("fr"), ("2",), 0, TUESDAY_MORNING))
    assert said.index("En semaine, de 9 à 17 heures.") < said.index(OFFER)


def test_a_short_completed_transfer_offers_other_numbers_once_then_hangs_up(line):
    fr = line.language("fr")
    reply = flow.dialed(line, fr, ("2",), "ligne-bureau", "completed", TUESDAY_MORNING, seconds=8)
    assert isinstance(reply.next, flow.Ask)
    assert texts(reply) == ["L'appel est terminé.", "Pour entendre d'autres numéros, appuyez sur 1."]
    assert reply.next.on_key.action == "others" and reply.next.on_key.helpline == "ligne-bureau"
    others = flow.others(line, fr, ("2",), "ligne-bureau", "1", TUESDAY_MORNING)
    assert isinstance(others.next, flow.HangUp)
    assert "La ligne de nuit répond jour et nuit, au 1 0 7." in texts(others)
    assert texts(others)[-1] == "Merci pour votre appel. Au revoir."
    silent = flow.others(line, fr, ("2",), "ligne-bureau", "", TUESDAY_MORNING)
    assert texts(silent) == ["Merci pour votre appel. Au revoir."] and isinstance(silent.next, flow.HangUp)


def test_a_long_completed_transfer_keeps_its_neutral_goodbye(line):
    for seconds in (45, 600, None):  # None: Twilio sent no duration
        reply = flow.dialed(line, line.language("fr"), ("2",), "ligne-bureau", "completed", TUESDAY_MORNING, seconds=seconds)
        assert texts(reply) == ["Merci pour votre appel. Au revoir."] and isinstance(reply.next, flow.HangUp)


def test_the_threshold_is_read_from_menus_yaml(menu_copy):
    menu_copy.replace("  ring_seconds: 25\n", "  ring_seconds: 25\n  short_transfer_seconds: 5\n")
    line = load(menu_copy.menus, menu_copy.prompts)
    reply = flow.dialed(line, line.language("fr"), ("2",), "ligne-bureau", "completed", TUESDAY_MORNING, seconds=8)
    assert isinstance(reply.next, flow.HangUp)


def test_twilios_dial_call_duration_reaches_the_flow(client):
    path = "/voice/fr/dialed?at=2&line=ligne-bureau"
    params = {"CallSid": "CA" + "0" * 32, "AccountSid": "AC" + "0" * 32, "DialCallStatus": "completed", "DialCallDuration": "7"}
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL + path, params)
    response = client.post(path, data=params, base_url=PUBLIC_URL, headers={"X-Twilio-Signature": signature})
    root = ET.fromstring(response.get_data(as_text=True))
    gather = root.find("Gather")
    assert gather is not None and gather.get("action").startswith("/voice/fr/others?")
    assert "line=ligne-bureau" in gather.get("action")


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed"])
def test_a_failed_transfer_names_a_line_that_answers_day_and_night(line, status):
    reply = flow.dialed(line, line.language("fr"), ("2",), "ligne-bureau", status, TUESDAY_MORNING)
    said = texts(reply)
    assert "La ligne de nuit répond jour et nuit, au 1 0 7." in said
    assert said.index("La ligne de nuit répond jour et nuit, au 1 0 7.") < len(said) - 1  # before the retry


def test_a_caller_who_never_chose_a_language_hears_112_in_every_language(line):
    defaulted = flow.language_choice(line, 2, TUESDAY_MORNING)
    step = defaulted.next.on_silence
    assert step.defaulted and step.language == "fr"
    goodbye = flow.silence(line, line.language("fr"), (), 2, TUESDAY_MORNING, defaulted=True)
    assert isinstance(goodbye.next, flow.HangUp)
    said = heard(goodbye)
    assert [s.language for s in said] == ["fr", "nl"] and all("1 1 2" in s.text for s in said)
    # A caller who chose French hears French only.
    chosen = flow.silence(line, line.language("fr"), (), 2, TUESDAY_MORNING)
    assert [s.language for s in heard(chosen)] == ["fr"]


def test_the_never_chosen_mark_travels_in_the_url(phone):
    c = phone().silence().silence()
    assert c.said  # the French menu, by default
    c = c.silence().silence()
    assert c.ended
    assert "Ik heb geen keuze gehoord. Bij nood: bel 1 1 2. Tot ziens." in c.said


def test_a_wrong_key_or_a_repeat_keeps_the_never_chosen_mark_until_an_option_is_picked(phone):
    c = phone().silence().silence()  # French by default
    c = c.press("7")  # not an option: the apology, then the menu again
    assert c.said.startswith("Cette touche ne correspond à aucun choix.") and not c.ended
    c = c.press("*").press("9").press("0").silence().silence()  # repeat, back, main menu: still no choice
    assert c.ended
    assert "Ik heb geen keuze gehoord. Bij nood: bel 1 1 2. Tot ziens." in c.said
    # Once an option is picked, the caller is understood: the goodbye is in French only.
    c = phone().silence().silence().press("1").silence().silence()
    assert c.ended and "Ik heb geen keuze gehoord. Bij nood: bel 1 1 2. Tot ziens." not in c.said


def test_an_open_free_line_named_for_a_closed_one_can_be_reached_by_transfer(menu_copy):
    # La ligne de bureau (key 2) names la ligne couple (0800, open day and night) while closed.
    menu_copy.replace("      if_closed: [ligne-nuit]\n      free: yes\n      number: \"0800 12 800\"",
                      "      if_closed: [ligne-couple]\n      free: yes\n      number: \"0800 12 800\"")
    line = load(menu_copy.menus, menu_copy.prompts)
    fr = line.language("fr")
    reply = flow.node(line, fr, ("2",), 0, SUNDAY_NIGHT)
    said = heard(reply)
    offers = [s for s in said if s.offers]
    assert [s.offers for s in offers] == ["2"]  # la ligne couple's key; la ligne de bureau's 1 is not offered
    assert [s.text for s in said].index("La ligne de bureau.") > next(
        i for i, s in enumerate(said) if "La ligne couple" in s.text)
    pressed = flow.key(line, fr, ("2",), 0, "2", SUNDAY_NIGHT)
    assert isinstance(pressed.next, flow.Transfer) and pressed.next.number == "+3280030030"
    # Its outcome is answered on the same page: the number to dial, and the retry key.
    busy = texts(flow.dialed(line, fr, ("2",), "ligne-couple", "busy", SUNDAY_NIGHT))
    assert "Ce menu a changé. Voici le menu principal." not in busy
    assert busy[-1] == "Pour réessayer, appuyez sur 2. Pour le menu principal, appuyez sur 0."
    # In office hours the same key still means la ligne couple, and 1 la ligne de bureau.
    assert flow.key(line, fr, ("2",), 0, "1", TUESDAY_MORNING).next.number == "+3280012800"


def test_a_short_number_with_unconfirmed_hours_names_a_line_open_now(menu_copy):
    menu_copy.replace('      anonymous: yes\n      number: "103"', '      anonymous: yes\n      if_closed: [ligne-nuit]\n      number: "103"')
    line = load(menu_copy.menus, menu_copy.prompts)
    said = texts(flow.node(line, line.language("fr"), ("3", "1"), 0, SUNDAY_NIGHT))
    assert "Si personne ne répond, appelez La ligne de nuit, au 1 0 7." in said


def test_the_loader_names_a_wrong_switchboard_key_and_warns_of_hours_without_a_source(menu_copy):
    menu_copy.replace('      press_after_answer: "ww1"\n', '      press_after_answer: "ww1"\n      if_asked_to_choose: "12"\n')
    menu_copy.replace('      number: "1712"\n      source: "tests: a made-up source for made-up hours"\n',
                      '      number: "1712"\n')
    line, problems = inspect(menu_copy.menus, menu_copy.prompts, today=datetime.date(2026, 12, 1))
    assert line is None
    wrong_key = next(p for p in problems if "if_asked_to_choose" in p.message)
    assert wrong_key.severity == "error" and wrong_key.place.line == menu_copy.line_of('if_asked_to_choose: "12"')
    no_source = next(p for p in problems if "no source" in p.message)
    assert no_source.severity == "warning" and no_source.place.line == menu_copy.line_of('hours: "Op werkdagen"')


def test_a_key_pressed_for_a_closed_line_names_the_open_line_once(line):
    # Sunday night, la ligne de bureau (page 2) is closed; the page read again starts with its open
    # line, so the caller who pressed 1 all the same hears "closed", then that open line once.
    said = texts(flow.key(line, line.language("fr"), ("2",), 0, "1", SUNDAY_NIGHT))
    assert said[0] == "La ligne est fermée en ce moment."
    assert said[1] == "En ce moment, vous pouvez joindre La ligne de nuit."
    assert said.count("En ce moment, vous pouvez joindre La ligne de nuit.") == 1


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed"])
def test_no_retry_is_offered_into_a_line_that_closed_while_it_rang(line, status):
    # Put through at 16:59:50; after 25 s of ringing it is 17:00 and la ligne de bureau is closed.
    closing = datetime.datetime(2026, 12, 8, 17, 0, tzinfo=BRUSSELS)
    reply = flow.dialed(line, line.language("fr"), ("2",), "ligne-bureau", status, closing)
    said = texts(reply)
    assert not any("réessayer" in t for t in said), said  # the retry key would put no one through
    assert "La ligne de nuit répond jour et nuit, au 1 0 7." in said
    assert said[-1] == "Pour réécouter, appuyez sur étoile. Pour revenir, sur 9. Pour le menu principal, sur 0."
    assert isinstance(flow.key(line, line.language("fr"), ("2",), 0, "1", closing).next, flow.Ask)


@pytest.mark.parametrize("widest,message", [
    ('"09:00-17:00"', "may_be_open should be days with hours"),
    ("\n        closed: [public holidays]", "may_be_open gives no day with hours"),
])
def test_a_wrong_may_be_open_is_named_as_written(menu_copy, widest, message):
    # An operator who wrote may_be_open is told about may_be_open, never sent to 'always' (refused there).
    menu_copy.replace('      if_closed: [ligne-nuit]\n      number: "0800 98 100"',
                      f'      if_closed: [ligne-nuit]\n      may_be_open: {widest}\n      number: "0800 98 100"')
    line, problems = inspect(menu_copy.menus, menu_copy.prompts, today=datetime.date(2026, 12, 1))
    assert line is None
    [error] = [p for p in problems if p.severity == "error"]
    assert error.message.startswith(message) and "opening_hours" not in error.message and "always" not in error.message
    assert error.place.line == menu_copy.line_of("may_be_open:")


def test_a_tester_can_play_a_transfer_a_voicemail_picked_up(make_app):
    """The simulated phone says how long a completed transfer lasted: a few seconds is how a
    voicemail that answered looks, and the caller is offered other numbers once."""
    app = make_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0, "TRANSFER_CALLER_ID": "+3225550100",
                    "MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts"),
                    "CLOCK": lambda: TUESDAY_MORNING})
    transfer = lambda: call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1").press("2").press("1")  # noqa: E731
    short = transfer().dial_outcome("completed", seconds=4)
    assert not short.ended and short.waiting == "keys", short.transcript
    long = transfer().dial_outcome("completed")
    assert long.ended
