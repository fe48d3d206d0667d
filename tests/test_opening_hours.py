"""Opening hours, Brussels time, with a fixed clock: open or closed now, and what a caller hears."""
import datetime

import pytest

from ivr import create_app
from ivr.menus.load import inspect
from ivr.menus.model import BRUSSELS
from ivr.testers.phone import FlaskTransport, call
from line_settings import PUBLIC_URL, TEST_MENUS, TOKEN


def at(text):
    return datetime.datetime.fromisoformat(text).replace(tzinfo=BRUSSELS)


def caller_at(when, copy=None):
    config = {"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0, "CLOCK": lambda: at(when),
              "TRANSFER_CALLER_ID": "+3225550100",
              "MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts")}
    if copy:
        config.update(MENUS=str(copy.menus), PROMPTS=str(copy.prompts))
    return call(FlaskTransport(create_app(config).test_client()), PUBLIC_URL, TOKEN)


@pytest.fixture
def late_office(menu_copy):
    """La ligne de bureau (key 2) open on weekdays until midnight."""
    return menu_copy.replace('monday-friday: "09:00-17:00"', 'monday-friday: "09:00-24:00"')


def test_a_line_open_until_midnight_is_open_at_23_59(late_office):
    c = caller_at("2026-11-27 23:59", late_office).press("1").press("2")
    assert "La ligne de bureau." in c.said and "La ligne est ouverte en ce moment." in c.said


@pytest.mark.parametrize("when", ["2026-11-28 00:00", "2026-11-27 08:59", "2026-11-27 17:00"])
def test_a_closed_line_says_so_and_names_an_open_one(when):
    c = caller_at(when).press("1").press("2")
    assert "La ligne est fermée en ce moment." in c.said
    assert "En ce moment, vous pouvez joindre La ligne de nuit. Raccrochez et appelez le 1 0 7." in c.said
    assert "0 8 0 0, 1 2, 8 0 0" in c.said  # its own number is still said, for later


def test_the_brussels_clock_is_used_whatever_the_servers_zone():
    # 16:30 UTC in winter is 17:30 in Brussels: la ligne de bureau is closed.
    utc = datetime.datetime(2026, 11, 27, 16, 30, tzinfo=datetime.timezone.utc)
    config = {"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0, "CLOCK": lambda: utc,
              "MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts")}
    c = call(FlaskTransport(create_app(config).test_client()), PUBLIC_URL, TOKEN).press("1").press("2")
    assert "La ligne est fermée en ce moment." in c.said


@pytest.fixture
def night_line(menu_copy):
    """La ligne sans horaires (keys 3, 2) given night hours on weekdays, past midnight, and closed dates."""
    menu_copy.replace('      number: "0800 98 100"', '      opening_hours:\n        monday-friday: "22:00-02:00"\n'
                      '        closed: [2026-12-05, 2026-12-11]\n      number: "0800 98 100"')
    return menu_copy


@pytest.mark.parametrize("when,is_open", [
    ("2026-11-27 21:59", False),  # Friday evening, before opening
    ("2026-11-27 22:00", True),
    ("2026-11-28 01:59", True),   # Saturday night: Friday's hours run past midnight
    ("2026-11-28 02:00", False),
    ("2026-11-28 22:30", False),  # Saturday: no hours of its own
    ("2026-11-30 00:30", False),  # Monday 00:30: Sunday had no hours to spill over
    ("2026-12-04 23:00", True),   # Friday
    ("2026-12-05 01:00", False),  # a closed date closes the spill-over from the night before
    ("2026-12-11 23:00", False),  # a closed Friday...
    ("2026-12-12 01:00", False),  # ...has no night shift running into Saturday either
    ("2026-12-10 23:30", True),   # the Thursday before is open as usual
])
def test_hours_past_midnight_and_closed_dates(night_line, when, is_open):
    line, problems = inspect(night_line.menus, night_line.prompts)
    assert line is not None, problems
    sos = line.language("fr").helplines["ligne-sans-horaires"]
    assert sos.open_at(at(when)) is is_open


def test_a_closed_line_is_not_offered_for_transfer_and_an_open_one_is_named(night_line):
    c = caller_at("2026-11-28 12:00", night_line).press("1").press("3").press("2")
    assert "La ligne sans horaires." in c.said and "La ligne est fermée en ce moment." in c.said
    assert "sans raccrocher, appuyez sur" not in c.said
    # Its if_closed line answers day and night.
    assert "En ce moment, vous pouvez joindre La ligne de nuit." in c.said
    c.press("1")  # the transfer key does nothing while it is closed
    assert c.waiting == "keys" and c.dialing is None
    assert c.said.startswith("La ligne est fermée en ce moment.")


def test_an_open_line_is_offered_for_transfer(night_line):
    c = caller_at("2026-11-27 23:00", night_line).press("1").press("3").press("2")
    assert "La ligne est ouverte en ce moment." in c.said
    assert "Pour les appeler tout de suite, sans raccrocher, appuyez sur 1." in c.said
    c.press("1")
    assert c.dialing == "+3280098100"


@pytest.mark.parametrize("hours,message", [
    ('        funday: "09:00-17:00"', "'funday' is not a day"),
    ('        monday: "9h-17h"', "should be hours like 09:00-19:00"),
    ('        monday: "09:00-25:00"', "should be hours like 09:00-19:00"),
    ('        closed: [christmas]', "closed should list dates"),
])
def test_wrong_opening_hours_are_refused_with_their_line(menu_copy, hours, message):
    menu_copy.replace('      number: "0800 98 100"', f'      opening_hours:\n{hours}\n      number: "0800 98 100"')
    where = menu_copy.line_of(hours.strip())
    line, problems = inspect(menu_copy.menus, menu_copy.prompts)
    errors = [str(p) for p in problems if p.severity == "error"]
    assert line is None and any(message in e and f"menus.yaml:{where}:" in e for e in errors), errors


def test_if_closed_must_name_an_existing_helpline(menu_copy):
    menu_copy.replace("if_closed: [ligne-nuit]", "if_closed: [ligne-nuti]")
    line, problems = inspect(menu_copy.menus, menu_copy.prompts)
    assert line is None
    assert any("names 'ligne-nuti', which does not exist; did you mean 'ligne-nuit'?" in str(p) for p in problems)
