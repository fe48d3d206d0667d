"""Loading refuses what the line cannot run, and says where: file, line and what to change."""
import datetime

import pytest

from ivr import ConfigError, create_app
from ivr.menus.load import MenuError, inspect, load


def problems_of(copy):
    line, problems = inspect(copy.menus, copy.prompts)
    assert line is None
    return [str(p) for p in problems if p.severity == "error"]


def test_the_test_menu_loads_without_any_problem(menu_copy):
    # On the day it was checked: a year later every helpline rightly warns "re-check".
    line, problems = inspect(menu_copy.menus, menu_copy.prompts, today=datetime.date(2026, 12, 1))
    assert problems == [] and [lang.code for lang in line.languages] == ["fr", "nl"]


def test_the_shipped_menus_load_without_any_problem_on_the_day_they_were_last_checked():
    from ivr import MENUS_FILE, PROMPTS_DIR
    line = load(MENUS_FILE, PROMPTS_DIR)
    last_checked = max(h.checked for lang in line.languages for h in lang.helplines.values() if h.checked)
    _, problems = inspect(MENUS_FILE, PROMPTS_DIR, today=last_checked)
    assert [str(p) for p in problems] == []


def test_an_option_leading_to_a_missing_menu_is_refused_with_its_line(menu_copy):
    menu_copy.replace("menu: sous-menu", "menu: sousmenu")
    at = menu_copy.line_of("menu: sousmenu")
    (problem,) = problems_of(menu_copy)
    assert "'sousmenu', which does not exist; did you mean 'sous-menu'?" in problem
    assert problem.startswith(f"{menu_copy.menus}:{at - 2}:")  # the "- key: 3" line of that option


def test_a_transfer_to_an_emergency_number_is_refused(menu_copy):
    menu_copy.replace('      number: "103"\n', '      number: "103"\n      transfer: "+32112"\n')
    at = menu_copy.line_of('transfer: "+32112"')
    (problem,) = problems_of(menu_copy)
    assert problem.startswith(f"{menu_copy.menus}:{at}:")
    assert "emergency or short number (112)" in problem and "cannot put a caller through" in problem


def test_a_transfer_to_a_short_number_is_refused(menu_copy):
    menu_copy.replace('      number: "1712"\n', '      number: "1712"\n      transfer: "+321712"\n')
    (problem,) = problems_of(menu_copy)
    assert "1712 is an emergency or short number" in problem


def test_a_transfer_number_that_differs_from_the_spoken_one_is_refused(menu_copy):
    menu_copy.replace('transfer: "+3280030030"', 'transfer: "+3280030800"')
    (problem,) = problems_of(menu_copy)
    assert "+3280030800 is not the number callers hear (0800 30 030 is +3280030030)" in problem


def test_a_missing_translation_is_refused(menu_copy):
    text = (menu_copy.prompts / "nl.yaml").read_text(encoding="utf-8")
    start = text.index("transfer_busy:")
    end = text.index("\n", start)
    (menu_copy.prompts / "nl.yaml").write_text(text[:start] + text[end + 1:], encoding="utf-8")
    (problem,) = problems_of(menu_copy)
    assert f"{menu_copy.prompts / 'nl.yaml'}:" in problem and "'transfer_busy' is missing from nl.yaml" in problem


def test_an_offered_language_without_menus_or_prompts_is_refused(menu_copy):
    menu_copy.replace("languages: [fr, nl]", "languages: [fr, nl, de]")
    problems = problems_of(menu_copy)
    assert any("de.yaml" in p and "does not exist" in p for p in problems)
    assert any("'de' is offered but menus.yaml has no 'de:' section" in p for p in problems)


def test_a_blank_the_line_cannot_fill_is_refused(menu_copy):
    menu_copy.replace("vous pouvez joindre {name}", "vous pouvez joindre {nom}", file="prompts/fr.yaml")
    (problem,) = problems_of(menu_copy)
    assert "uses {nom}, which it cannot fill; it may use: {name}" in problem


def test_a_key_used_twice_or_taken_by_a_fixed_key_is_refused(menu_copy):
    menu_copy.replace("        - key: 3\n          say: \"Pour le sous", "        - key: 2\n          say: \"Pour le sous")
    menu_copy.replace("        - key: 2\n          say: \"Voor de lijn om", "        - key: 9\n          say: \"Voor de lijn om")
    problems = problems_of(menu_copy)
    assert any("key 2 is used twice in menu 'accueil'" in p for p in problems)
    assert any("key 9 in menu 'hoofdmenu' is the fixed key for back" in p for p in problems)


def test_a_misspelled_field_is_named_with_the_closest_right_one(menu_copy):
    menu_copy.replace('transfer: "+3280032123"', 'tranfser: "+3280032123"')
    at = menu_copy.line_of("tranfser:")
    (problem,) = problems_of(menu_copy)
    assert problem.startswith(f"{menu_copy.menus}:{at}:")
    assert "unknown name 'tranfser'" in problem and "did you mean 'transfer'?" in problem


def test_a_yaml_syntax_error_is_reported_with_its_line(menu_copy):
    menu_copy.replace("languages: [fr, nl]", "languages: [fr, nl")
    (problem,) = problems_of(menu_copy)
    assert problem.startswith(f"{menu_copy.menus}:{menu_copy.line_of('languages: [fr, nl')}:")
    assert "never closed" in problem


def test_every_problem_is_reported_at_once(menu_copy):
    menu_copy.replace("menu: sous-menu", "menu: nowhere")
    menu_copy.replace('number: "0800 98 100"', 'number: "0800 98 10"')
    menu_copy.replace("helpline: ligne-nuit", "helpline: lignenuit")
    assert len(problems_of(menu_copy)) == 3


def test_the_app_refuses_to_start_on_a_broken_menu_and_says_why(menu_copy):
    menu_copy.replace("menu: sous-menu", "menu: sousmenu")
    with pytest.raises(ConfigError, match="does not exist"):
        create_app({"TWILIO_AUTH_TOKEN": "t", "MENUS": str(menu_copy.menus), "PROMPTS": str(menu_copy.prompts)})
    with pytest.raises(MenuError):
        load(menu_copy.menus, menu_copy.prompts)


def test_the_check_command_lists_problems_and_fails(menu_copy, runner):
    result = runner.invoke(args=["check", str(menu_copy.menus)])
    assert result.exit_code == 0 and "OK:" in result.output
    menu_copy.replace("menu: sous-menu", "menu: sousmenu")
    result = runner.invoke(args=["check", str(menu_copy.menus)])
    assert result.exit_code == 1
    assert "does not exist; did you mean 'sous-menu'?" in result.output and "1 error(s)" in result.output


@pytest.mark.parametrize("old,new,message", [
    ("    ligne-couple:\n", "    ligne&couple:\n", "'ligne&couple' cannot name a helpline: use small letters, digits and dashes"),
    ("    sous-menu:\n", "    Sous Menu:\n", "'Sous Menu' cannot name a menu"),
])
def test_names_that_cannot_travel_in_a_url_are_refused(menu_copy, old, new, message):
    menu_copy.replace(old, new)
    where = menu_copy.line_of(new.rstrip("\n"))
    problems = problems_of(menu_copy)
    assert any(message in p and f"menus.yaml:{where}:" in p for p in problems), problems


@pytest.mark.parametrize("code", ["language", "FR", "fr-BE"])
def test_a_language_code_must_be_two_or_three_small_letters(menu_copy, code):
    menu_copy.replace("languages: [fr, nl]", f"languages: [fr, nl, {code}]")
    assert any(f"'{code}' is not a language code" in p for p in problems_of(menu_copy))


YAML_CASES = [
    "", "# only a comment\n", "---\n", "a: 1\nb: [x, {c: 2025-01-02}]\n'1': yes\n1: no\n",
    "a: &x {b: 1}\nc: *x\n",  # anchors and aliases
    "a: !!str 12\nb: !!binary aGk=\nc: !!set {x}\nd: ~\n",  # explicit tags
    "a: 1\n---\nb: 2\n",  # two documents
    "a: 1\na: 2\n", "? [a]\n: 1\n", "a: !nope x\n", "a: [1, 2\n",  # mistakes
]


@pytest.mark.parametrize("text", YAML_CASES)
def test_menu_files_read_as_the_whole_yaml_tree_reads_them(text):
    # Menu files are read from the parser's events as they come (ivr/menus/yamlfile.py); every value
    # and every place a problem can point at is the one the reference reading finds.
    from ivr.menus import yamlfile

    def read(how):
        try:
            doc = how(text, "menus.yaml")
        except yamlfile.YamlFileError as e:
            return str(e)
        return doc.data, doc._places

    assert read(yamlfile.parse) == read(yamlfile._parse_composed)


def test_the_shipped_and_the_big_menus_read_as_the_whole_yaml_tree_reads_them(tmp_path):
    from ivr import MENUS_FILE, PROMPTS_DIR
    from ivr.menus import yamlfile
    from ivr.bench.bigmenu import write_big_menu
    for path in [MENUS_FILE, *sorted(PROMPTS_DIR.glob("*.yaml")), write_big_menu(tmp_path)]:
        text = path.read_text(encoding="utf-8")
        streamed, composed = yamlfile.parse(text, str(path)), yamlfile._parse_composed(text, str(path))
        assert (streamed.data, streamed._places) == (composed.data, composed._places), path


@pytest.fixture
def fork_counted(monkeypatch):
    """load_apart forks only when no other thread runs; earlier tests leave reload threads."""
    import os
    import threading
    forks = []
    real_fork = os.fork

    def fork():
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.setattr(os, "fork", fork)
    return forks


def test_a_menu_loaded_in_a_child_process_is_the_same_line(menu_copy, fork_counted):
    from ivr.menus.load import load_apart
    assert load_apart(menu_copy.menus, menu_copy.prompts) == load(menu_copy.menus, menu_copy.prompts)
    assert fork_counted == [1]


def test_a_broken_menu_loaded_in_a_child_process_is_refused_with_every_problem(menu_copy, fork_counted):
    from ivr.menus.load import load_apart
    menu_copy.replace("menu: sous-menu", "menu: nowhere")
    menu_copy.replace('number: "0800 98 100"', 'number: "0800 98 10"')
    with pytest.raises(MenuError) as in_child:
        load_apart(menu_copy.menus, menu_copy.prompts)
    assert fork_counted == [1]
    with pytest.raises(MenuError) as here:
        load(menu_copy.menus, menu_copy.prompts)
    assert in_child.value.problems == here.value.problems
    assert len([p for p in here.value.problems if p.severity == "error"]) == 2


def test_a_child_process_that_fails_leaves_the_load_and_its_error_to_this_one(menu_copy, fork_counted, monkeypatch):
    import ivr.menus.load as module

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the checks")

    monkeypatch.setattr(module, "inspect", broken)
    with pytest.raises(RuntimeError, match="a bug in the checks"):
        module.load_apart(menu_copy.menus, menu_copy.prompts)
    assert fork_counted == [1]


# -- what a transfer needs, so that no caller is put through to a closed line ------------------
def test_a_transfer_line_needs_confirmed_hours_or_an_open_line_to_name(menu_copy):
    block_start = menu_copy.line_of('name: "La ligne sans horaires"')
    menu_copy.replace('      if_closed: [ligne-nuit]\n      number: "0800 98 100"', '      number: "0800 98 100"')
    (problem,) = problems_of(menu_copy)
    assert "helpline 'ligne-sans-horaires' may be put through but has no opening_hours" in problem
    assert "if_closed: a line that answers day and night" in problem
    assert block_start < int(problem.split(":")[1]) < block_start + 8  # at its transfer: line


@pytest.mark.parametrize("edit,message", [
    (('press_after_answer: "ww1"', 'press_after_answer: "1 then 2"'), "press_after_answer should be the keys to press"),
    (('      number: "103"\n', '      number: "103"\n      press_after_answer: "1"\n'),
     "press_after_answer is only used when callers are put through"),
])
def test_keys_sent_after_the_transfer_is_answered_are_checked(menu_copy, edit, message):
    menu_copy.replace(*edit)
    (problem,) = problems_of(menu_copy)
    assert message in problem and f"menus.yaml:{menu_copy.line_of(edit[1].strip().splitlines()[-1].strip())}:" in problem


def test_keys_sent_after_the_transfer_is_answered_are_in_the_model(menu_copy):
    line = load(menu_copy.menus, menu_copy.prompts)
    assert line.language("fr").helplines["ligne-bureau"].press_after_answer == "ww1"
    assert line.language("fr").helplines["ligne-couple"].press_after_answer is None


def test_public_holidays_close_a_line_with_office_hours(menu_copy):
    from ivr.menus.model import BRUSSELS
    office = load(menu_copy.menus, menu_copy.prompts).language("fr").helplines["ligne-bureau"]
    at = lambda *day: datetime.datetime(*day, 10, 0, tzinfo=BRUSSELS)  # noqa: E731
    assert office.open_at(at(2026, 12, 22)) is True  # a Tuesday
    assert office.open_at(at(2026, 12, 24)) is False  # a closed date written in the file
    assert office.open_at(at(2026, 12, 25)) is False  # Christmas, a Friday: a public holiday
    assert office.open_at(at(2027, 5, 6)) is False  # Ascension Day, worked out by the holidays package
    assert office.open_at(at(2027, 5, 7)) is True


def test_a_misspelled_public_holidays_entry_is_refused(menu_copy):
    menu_copy.replace("closed: [public holidays, 2026-12-24]", "closed: [public holiday, 2026-12-24]")
    (problem,) = problems_of(menu_copy)
    assert "closed should list dates like [public holidays, 2026-12-24" in problem


def test_a_transfer_sentence_that_names_the_service_is_refused_and_says_why(menu_copy):
    menu_copy.replace('transferring: "Je vous mets en relation. Ne raccrochez pas."',
                      'transferring: "Je vous mets en relation avec {name}."', file="prompts/fr.yaml")
    (problem,) = problems_of(menu_copy)
    assert "'transferring' uses {name}" in problem and "never name the service" in problem


def test_a_silent_caller_cannot_be_read_the_menu_more_than_twice(menu_copy):
    menu_copy.replace("silences_before_goodbye: 1", "silences_before_goodbye: 2")
    (problem,) = problems_of(menu_copy)
    assert "silences_before_goodbye should be a whole number from 0 to 1" in problem
