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
