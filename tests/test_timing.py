"""The time budget: what a caller waits before help, as `ivr tree --timing` and `ivr check` show it."""
import datetime

import pytest

from ivr import ROOT
from ivr.call.speech import Said, said_with_numbers
from ivr.menus.load import inspect, load
from ivr.menus.model import BRUSSELS
from ivr.menus.numbers import parse
from ivr.menus.yamlfile import read
from ivr.operators import timing
from line_settings import TEST_MENUS

TEST_FILES = [str(TEST_MENUS / "menus.yaml"), "--prompts", str(TEST_MENUS / "prompts")]


def test_speech_is_timed_at_150_words_a_minute_half_a_second_a_digit_and_its_pauses():
    assert timing.seconds(Said("Pour la ligne couple, appuyez sur 1.", "fr")) == pytest.approx(6 * 0.4 + 0.5)
    # A number: 9 digits and a pause between each of its 3 groups.
    number = said_with_numbers(["Le numéro est le ", parse("0800 30 030"), "."], "fr")
    assert timing.seconds(number) == pytest.approx(4 * 0.4 + 9 * 0.5 + 2 * 0.3)


def test_the_first_topic_and_each_number_are_timed_on_the_fastest_keys(menu_copy):
    line = load(menu_copy.menus, menu_copy.prompts)
    waits = {w.what: w for w in timing.waits(line, line.language("fr"))}
    first = waits["first topic"]
    assert first.keys == () and first.label == "Pour la ligne couple" and 10 < first.seconds < 20
    # The couple line is the first option: its number starts a few seconds after it is offered.
    couple = waits["ligne-couple"]
    assert couple.keys == ("1",) and first.seconds < couple.seconds < first.seconds + 8
    assert couple.budget == 35 and waits["ligne-nuit"].budget == 60  # timing: sooner
    # Deeper, and after another helpline on the same page, takes longer.
    assert waits["ligne-sans-horaires"].keys == ("3", "2")
    assert waits["ligne-adresse"].seconds > waits["ligne-sans-horaires"].seconds > couple.seconds


def test_a_longer_safety_message_moves_every_wait_by_the_time_it_takes(menu_copy):
    before = {w.what: w.seconds for w in timing.waits(*_fr(menu_copy))}
    menu_copy.replace("Cette ligne ne vous rappellera jamais.",
                      "Cette ligne ne vous rappellera jamais, jamais.", file="prompts/fr.yaml")
    after = {w.what: w.seconds for w in timing.waits(*_fr(menu_copy))}
    assert all(after[what] == pytest.approx(before[what] + 0.4) for what in before)  # one word more


def _fr(copy):
    line = load(copy.menus, copy.prompts)
    return line, line.language("fr")


def test_check_warns_with_the_place_when_a_wait_goes_over_the_budget(menu_copy, runner):
    menu_copy.replace("first_topic_within: 20", "first_topic_within: 8")
    result = runner.invoke(args=["check", str(menu_copy.menus)])
    assert result.exit_code == 0 and "OK:" in result.output  # a warning: the line still runs
    main_menu = menu_copy.line_of("    accueil:")
    assert (f"{menu_copy.menus}:{main_menu}:5: warning: [fr] the main menu's first topic is offered"
            in result.output) and "the budget is 8 s (timing: first_topic_within)" in result.output
    # The test menu's last line is read after a long page: over its 60 s.
    address = menu_copy.line_of("    ligne-adresse:")
    assert f"{menu_copy.menus}:{address}:5: warning: [fr] the number of helpline 'ligne-adresse' starts" in result.output


def test_a_page_too_long_to_follow_is_a_warning(menu_copy):
    menu_copy.replace("page_within: 60", "page_within: 20")
    line = load(menu_copy.menus, menu_copy.prompts)
    problems = [str(p) for p in timing.problems(line, read(menu_copy.menus))]
    assert any("'ligne-sans-horaires, ligne-adresse' takes" in p and "(timing: page_within)" in p for p in problems)


@pytest.mark.parametrize("edit,message", [
    (("first_topic_within: 20", "first_topic_within: soon"), "timing: first_topic_within should be a number of seconds"),
    (("    ligne-couple: 35", "    ligne-coupl: 35"), "timing: sooner names 'ligne-coupl', which is no helpline of any language; did you mean 'ligne-couple'?"),
])
def test_a_budget_that_is_not_a_number_of_seconds_is_refused(menu_copy, edit, message):
    menu_copy.replace(*edit)
    line, problems = inspect(menu_copy.menus, menu_copy.prompts)
    assert line is None and any(message in str(p) for p in problems), [str(p) for p in problems]


def test_tree_timing_prints_each_language_with_the_budget_and_what_goes_over(runner):
    result = runner.invoke(args=["tree", *TEST_FILES, "--timing"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "[fr] key 1 at the language choice" in out and "[nl] key 2 at the language choice" in out
    assert "(budget  20)  keys -      first topic: Pour la ligne couple" in out
    assert "(budget  35)  keys 1      La ligne couple (0800 30 030)" in out
    over = [row for row in out.splitlines() if "OVER BUDGET" in row]
    assert len(over) == 1 and "Le centre (no number)" in over[0]
    assert "slowest number: Le centre (no number)" in out


def test_the_shipped_menus_keep_within_their_own_budget(shipped_line):
    # What callers wait today, against the budget menus.yaml sets: first topic, every number.
    problems = timing.problems(shipped_line, read(ROOT / "menus.yaml"))
    assert [str(p) for p in problems] == []


def test_a_closed_line_is_timed_at_its_slower_moment(menu_copy):
    # The office line is closed on Sunday night: its page then names the night line, which
    # the caller hears after it. The slower of the two moments is the one reported.
    line, fr = _fr(menu_copy)
    sunday = timing.MOMENTS[1]
    assert sunday.weekday() == 6 and fr.helplines["ligne-bureau"].open_at(sunday) is False
    assert fr.helplines["ligne-bureau"].open_at(timing.MOMENTS[0]) is True
    assert datetime.datetime(2026, 12, 8, 10, 30, tzinfo=BRUSSELS) == timing.MOMENTS[0]
