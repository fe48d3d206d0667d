"""The YAML mistakes a volunteer makes, named in their words at the line to edit."""
from click.testing import CliRunner

from ivr.menus.load import inspect
from ivr.operators.commands import main


def only_error(copy):
    line, problems = inspect(copy.menus, copy.prompts)
    assert line is None
    (error,) = [str(p) for p in problems if p.severity == "error"]
    return error


def test_a_tab_is_named_as_a_tab_at_its_line(menu_copy):
    menu_copy.replace('          say: "Pour la ligne de bureau"', '\t  say: "Pour la ligne de bureau"')
    at = menu_copy.line_of("Pour la ligne de bureau")
    error = only_error(menu_copy)
    assert error == f"{menu_copy.menus}:{at}:1: error: a tab at line {at}, column 1: indent with spaces, never tabs"


def test_a_tab_after_spaces_is_named_at_its_column(menu_copy):
    menu_copy.replace('          helpline: ligne-bureau', '        \t  helpline: ligne-bureau')
    at = menu_copy.line_of("helpline: ligne-bureau")
    assert f"a tab at line {at}, column 9: indent with spaces, never tabs" in only_error(menu_copy)


def test_an_unclosed_double_quote_is_reported_where_it_opens_not_where_yaml_noticed(menu_copy):
    menu_copy.replace('say: "Pour la ligne couple"', 'say: "Pour la ligne couple')
    at = menu_copy.line_of('say: "Pour la ligne couple')
    assert only_error(menu_copy) == (f'{menu_copy.menus}:{at}:16: error: the double quote (") opened here is '
                                     'never closed on its line: end the text with "')


def test_an_unclosed_single_quote_is_reported_where_it_opens(menu_copy):
    menu_copy.replace('say: "Pour la ligne de nuit"', "say: 'Pour la ligne de nuit")
    at = menu_copy.line_of("say: 'Pour la ligne de nuit")
    assert only_error(menu_copy).startswith(f"{menu_copy.menus}:{at}:16: error: the single quote (') opened here")


def test_a_stray_quote_at_the_end_of_a_text_is_an_error_naming_the_quote(menu_copy):
    menu_copy.replace('say: "Pour la ligne de bureau"', 'say: Pour la ligne de bureau"')
    at = menu_copy.line_of('say: Pour la ligne de bureau"')
    assert only_error(menu_copy) == (f'{menu_copy.menus}:{at}:39: error: a stray double quote (") in this text: '
                                     'put " at both its start and its end, or take it out')


def test_an_apostrophe_inside_a_text_without_quotes_is_no_mistake(menu_copy):
    menu_copy.replace('say: "Pour la ligne de bureau"', "say: Pour parler à quelqu'un")
    line, problems = inspect(menu_copy.menus, menu_copy.prompts)
    assert line is not None, [str(p) for p in problems]


def test_a_line_indented_one_space_too_far_is_named_at_that_line(menu_copy):
    menu_copy.replace('          helpline: ligne-bureau', '           helpline: ligne-bureau')
    at = menu_copy.line_of("helpline: ligne-bureau")
    assert only_error(menu_copy) == (f"{menu_copy.menus}:{at}:1: error: this line is indented differently from "
                                     "the lines around it: line it up with the lines of the same list or "
                                     "section, with spaces")


def test_a_line_indented_one_space_too_little_is_named_at_that_line(menu_copy):
    menu_copy.replace('          helpline: ligne-bureau', '         helpline: ligne-bureau')
    at = menu_copy.line_of("helpline: ligne-bureau")
    assert only_error(menu_copy).startswith(f"{menu_copy.menus}:{at}:1: error: this line is indented differently")


def test_check_says_the_same_in_the_terminal(menu_copy):
    menu_copy.replace('say: "Pour la ligne couple"', 'say: "Pour la ligne couple')
    checked = CliRunner().invoke(main, ["check", str(menu_copy.menus)])
    assert checked.exit_code == 1 and "never closed on its line" in checked.output


def test_an_unclosed_list_is_named_where_it_opens(menu_copy):
    menu_copy.replace("languages: [fr, nl]", "languages: [fr, nl")
    at = menu_copy.line_of("languages: [fr, nl")
    assert only_error(menu_copy) == (f"{menu_copy.menus}:{at}:12: error: the [ opened here is never closed: "
                                     "end the list with ] on the same line")


# -- quotes inside quotes: an apostrophe in single quotes, a double quote in double quotes -------
def test_a_french_apostrophe_in_single_quotes_is_named_not_the_indentation(menu_copy):
    menu_copy.replace('name: "Le centre"', "name: 'La ligne d'écoute'")
    at = menu_copy.line_of("name: 'La ligne d'écoute'")
    assert only_error(menu_copy) == (
        f"{menu_copy.menus}:{at}:24: error: the apostrophe in d'écoute ends the text that the single quote (') "
        "at column 13 opened: put the whole text in double quotes instead: \"La ligne d'écoute\"")


def test_a_french_apostrophe_in_a_single_quoted_option_is_named_on_its_own_line(menu_copy):
    menu_copy.replace('say: "Pour la ligne couple"', "say: 'Pour la ligne d'écoute, jour et nuit'")
    at = menu_copy.line_of("Pour la ligne d'écoute")
    error = only_error(menu_copy)
    assert error.startswith(f"{menu_copy.menus}:{at}:")
    assert "the apostrophe in d'écoute ends the text" in error and "indented" not in error
    assert error.endswith("double quotes instead: \"Pour la ligne d'écoute, jour et nuit\"")


def test_dutch_apostrophes_in_single_quotes_are_named(menu_copy):
    menu_copy.replace('name: "De lijn geweld"', "name: 'Bel zo'n lijn'")
    at = menu_copy.line_of("name: 'Bel zo'n lijn'")
    assert only_error(menu_copy) == (
        f"{menu_copy.menus}:{at}:20: error: the apostrophe in zo'n ends the text that the single quote (') "
        "at column 13 opened: put the whole text in double quotes instead: \"Bel zo'n lijn\"")


def test_a_dutch_text_that_starts_with_an_apostrophe_is_told_to_take_double_quotes(menu_copy):
    menu_copy.replace('hours: "Op werkdagen"', "hours: ''s avonds open'")
    assert ("the apostrophe in ''s ends the text that the single quote (') at column 14 opened: put the whole "
            "text in double quotes instead: \"'s avonds open\"") in only_error(menu_copy)


def test_an_apostrophe_at_the_start_of_a_text_without_quotes_is_told_to_take_double_quotes(menu_copy):
    menu_copy.replace('keys_help: "Om opnieuw te luisteren, druk op {repeat}."',
                      "keys_help: 's Avonds, druk op {repeat}.", file="prompts/nl.yaml")
    at = menu_copy.line_of("keys_help: 's Avonds", file="prompts/nl.yaml")
    error = only_error(menu_copy)
    assert error.startswith(f"{menu_copy.prompts / 'nl.yaml'}:{at}:12: error: the single quote (') opened here is "
                            "never closed on its line: if it is an apostrophe ('s avonds), put the whole text in "
                            "double quotes")


def test_a_double_quote_inside_double_quotes_is_named(menu_copy):
    menu_copy.replace('say: "Pour la ligne de bureau"', 'say: "Pour la ligne "bureau" du jour"')
    at = menu_copy.line_of('say: "Pour la ligne "bureau"')
    assert only_error(menu_copy) == (
        f'{menu_copy.menus}:{at}:31: error: the double quote (") in "bureau" ends the text that the double quote '
        "at column 16 opened: put the whole text in single quotes instead: 'Pour la ligne \"bureau\" du jour', or "
        "write the quotes inside it as « »")


def test_quotes_written_the_yaml_way_are_no_mistake(menu_copy):
    menu_copy.replace('name: "Le centre"', "name: 'La ligne d''écoute'")
    menu_copy.replace('name: "De lijn geweld"', "name: \"'s Avonds, zo'n lijn\"")
    line, problems = inspect(menu_copy.menus, menu_copy.prompts)
    assert line is not None, [str(p) for p in problems]
    assert line.language("fr").helplines["ligne-adresse"].name == "La ligne d'écoute"
