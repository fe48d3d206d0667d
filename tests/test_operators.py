"""What operators get: checks with their place, the tree and map, and live reload."""
import datetime
import os
import threading
import time

import pytest

from ivr import create_app
from ivr.menus.load import inspect
from ivr.testers.phone import FlaskTransport, call
from line_settings import PUBLIC_URL, TEST_MENUS, TOKEN

TEST_FILES = [str(TEST_MENUS / "menus.yaml"), "--prompts", str(TEST_MENUS / "prompts")]


def warnings_of(copy, **kwargs):
    line, problems = inspect(copy.menus, copy.prompts, **kwargs)
    assert line is not None, [str(p) for p in problems]
    return [str(p) for p in problems if p.severity == "warning"]


def errors_of(copy):
    line, problems = inspect(copy.menus, copy.prompts)
    assert line is None
    return [str(p) for p in problems if p.severity == "error"]


def test_a_menu_and_a_helpline_no_caller_can_reach_are_warned_about(menu_copy):
    menu_copy.replace("          helpline: ligne-nuit\n", "          helpline: ligne-courte\n")
    menu_copy.replace("  helplines:\n    ligne-couple:", "    orphelin:\n      options:\n        - key: 1\n          say: \"x\"\n          helpline: ligne-courte\n\n  helplines:\n    ligne-couple:")
    warnings = warnings_of(menu_copy)
    at = menu_copy.line_of("    ligne-nuit:")
    assert f"{menu_copy.menus}:{at}:5: warning: no caller can hear helpline 'ligne-nuit'" in "\n".join(warnings)
    assert any("no caller can reach menu 'orphelin'" in w for w in warnings)


def test_a_loop_between_menus_is_an_error(menu_copy):
    menu_copy.replace('          say: "Pour la ligne courte"\n          helpline: ligne-courte',
                      '          say: "Pour la ligne courte"\n          menu: accueil')
    (error,) = errors_of(menu_copy)
    assert "leads back to menu 'accueil', which leads here: a loop with no end" in error
    assert error.startswith(f"{menu_copy.menus}:{menu_copy.line_of('          menu: accueil') - 2}:")


def test_a_fourth_level_is_a_warning(menu_copy):
    menu_copy.replace('          say: "Pour la ligne courte"\n          helpline: ligne-courte',
                      '          say: "Pour la ligne courte"\n          menu: profond')
    menu_copy.replace("  helplines:\n    ligne-couple:", "    profond:\n      options:\n        - key: 1\n          say: \"x\"\n          helpline: ligne-courte\n\n  helplines:\n    ligne-couple:")
    (warning,) = warnings_of(menu_copy)
    assert "at level 4 (main menu is 1); keep the tree at most 3 levels deep" in warning
    assert warning.startswith(f"{menu_copy.menus}:{menu_copy.line_of('helpline: ligne-courte') - 2}:")


def test_more_than_six_options_is_a_warning(menu_copy):
    more = "".join(f'        - key: {k}\n          say: "Option {k}"\n          helpline: ligne-nuit\n' for k in (4, 5, 6, 7))
    menu_copy.replace('        - key: 3\n          say: "Pour le sous-menu"', more + '        - key: 3\n          say: "Pour le sous-menu"')
    (warning,) = warnings_of(menu_copy)
    assert "menu 'accueil' has 7 options; callers remember at most six" in warning
    assert warning.startswith(f"{menu_copy.menus}:{menu_copy.line_of('    accueil:') + 1}:")  # its options:


def test_an_unused_prompt_is_a_warning_with_the_closest_name(menu_copy):
    menu_copy.replace("key_hash:", "transfer_bussy: \"x\"\nkey_hash:", file="prompts/fr.yaml")
    (warning,) = warnings_of(menu_copy)
    assert "'transfer_bussy' in fr.yaml is never used by the line; did you mean 'transfer_busy'?" in warning
    assert warning.startswith(f"{menu_copy.prompts / 'fr.yaml'}:{menu_copy.line_of('transfer_bussy', 'prompts/fr.yaml')}:1:")


def test_texts_too_long_for_twilio_are_errors_and_long_ones_warnings(menu_copy):
    menu_copy.replace('name: "La ligne courte"', 'name: "' + "Police. " * 400 + '"')
    (error,) = errors_of(menu_copy)
    assert "is 3199 characters; Twilio's voices stop at 3000" in error
    where = menu_copy.line_of('name: "Police. Police.')
    assert error.startswith(f"{menu_copy.menus}:{where}:")


def test_a_long_sentence_is_a_warning(menu_copy):
    menu_copy.replace('name: "La ligne courte"', 'name: "Police ' + "et encore " * 20 + '"')
    (warning,) = warnings_of(menu_copy)
    assert "has a sentence of 206 characters" in warning and "split it" in warning
    where = menu_copy.line_of('name: "Police et encore')
    assert warning.startswith(f"{menu_copy.menus}:{where}:")


def test_a_number_checked_over_a_year_ago_is_a_warning(menu_copy):
    later = datetime.date(2027, 12, 2)
    warnings = warnings_of(menu_copy, today=later)
    assert len(warnings) == 8  # every helpline of both languages
    couple = next(w for w in warnings if "helpline 'ligne-couple' was last checked on 2026-12-01, over a year ago" in w)
    couple_line = menu_copy.line_of('name: "La ligne couple"')
    assert any(couple.startswith(f"{menu_copy.menus}:{n}:") for n in range(couple_line, couple_line + 15))
    assert warnings_of(menu_copy, today=datetime.date(2027, 11, 1)) == []


def test_tree_prints_what_a_caller_hears_with_keys_numbers_and_transfers(runner):
    result = runner.invoke(args=["tree", *TEST_FILES, "--lang", "fr"])
    assert result.exit_code == 0
    out = result.output
    assert "    1  Pour la ligne couple\n        - La ligne couple: 0800 30 030, transfers to +3280030030  [key 1: put through]" in out
    assert "- La ligne courte: 103, read out: hang up and dial (never transferred)" in out
    assert "[nl]" not in out
    assert runner.invoke(args=["tree", *TEST_FILES, "--lang", "de"]).exit_code != 0


def test_map_writes_a_mermaid_diagram_of_both_languages(runner):
    result = runner.invoke(args=["map", *TEST_FILES])
    assert result.exit_code == 0
    out = result.output
    assert out.startswith("flowchart LR\n")
    assert 'fr_m -->|"1: Pour la ligne couple"| fr_m1' in out
    assert 'fr_m1(["La ligne couple: 0800 30 030 ☎"])' in out
    assert 'subgraph nl["nl: key 2"]' in out


@pytest.fixture
def live_app(menu_copy):
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "TRANSFER_CALLER_ID": "+3225550100", "MENUS": str(menu_copy.menus),
                      "PROMPTS": str(menu_copy.prompts), "RELOAD_SECONDS": 0})
    return app, app.extensions["ivr"], menu_copy


def bump_mtime(path):
    # Some filesystems keep a coarse mtime; make sure an edit is seen as one.
    later = time.time() + 5
    import os
    os.utime(path, (later, later))


def test_a_good_edit_is_served_without_a_restart(live_app):
    app, live, copy = live_app
    before = live.line.version
    copy.replace('say: "Pour la ligne de bureau"', 'say: "Pour le bureau"')
    bump_mtime(copy.menus)
    assert live.refresh() is True and live.line.version != before
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1")
    assert "Pour le bureau, appuyez sur 2." in c.said


def test_a_broken_edit_is_refused_and_the_last_good_menu_served(live_app, caplog):
    app, live, copy = live_app
    before = live.line.version
    copy.replace('transfer: "+3280030030"', 'transfer: "+32112"')
    bump_mtime(copy.menus)
    assert live.refresh() is False
    assert live.line.version == before
    assert any("menu files refused, still serving version" in r.getMessage() and "menus.yaml:" in r.getMessage()
               for r in caplog.records)
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1").press("1").press("1")
    assert c.dialing == "+3280030030"
    assert "is an emergency or short number" in str(live.refused[0])


def test_a_caller_in_a_removed_menu_is_put_back_on_the_main_menu(live_app):
    app, live, copy = live_app
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1").press("3")
    assert "Sous-menu." in c.said
    # The operator removes the last option of the main menu and the sub-menu it led to.
    copy.replace('        - key: 3\n          say: "Pour le sous-menu"\n          menu: sous-menu\n', "")
    text = copy.menus.read_text(encoding="utf-8")
    start, end = text.index("    sous-menu:\n"), text.index("  helplines:\n    ligne-couple:")
    copy.menus.write_text(text[:start] + text[end:], encoding="utf-8")
    bump_mtime(copy.menus)
    assert live.refresh() is True
    c.press("1")
    assert c.said.startswith("Ce menu a changé. Voici le menu principal.")
    assert "Pour la ligne couple, appuyez sur 1." in c.said and c.waiting == "keys"


def test_no_caller_gets_an_error_while_menus_are_swapped(live_app):
    app, live, copy = live_app
    good = copy.menus.read_text(encoding="utf-8")
    edited = good.replace('say: "Pour la ligne couple"', 'say: "Pour le couple"')
    broken = good.replace("menu: sous-menu", "menu: sousmenu")
    failures, calls = [], [0]
    stop = threading.Event()

    def caller():
        client = app.test_client()
        while not stop.is_set():
            try:
                c = call(FlaskTransport(client), PUBLIC_URL, TOKEN).press("1").press("3").press("1")
                assert c.waiting == "keys" and ("1 0 3" in c.said or "Ce menu a changé" in c.said)
                calls[0] += 1
            except AssertionError as e:
                failures.append(e)

    threads = [threading.Thread(target=caller) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(12):
        copy.menus.write_text([edited, broken, good][i % 3], encoding="utf-8")
        bump_mtime(copy.menus)
        live.refresh()
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join()
    assert failures == [] and calls[0] > 10


def test_each_worker_watches_the_files_by_itself(menu_copy, make_app):
    app = make_app({"TWILIO_AUTH_TOKEN": TOKEN, "TRANSFER_CALLER_ID": "+3225550100", "MENUS": str(menu_copy.menus),
                    "PROMPTS": str(menu_copy.prompts), "RELOAD_SECONDS": 0.1})
    client = app.test_client()
    call(FlaskTransport(client), PUBLIC_URL, TOKEN)  # the first request starts the watcher
    menu_copy.replace('say: "Pour la ligne de bureau"', 'say: "Pour le bureau"')
    bump_mtime(menu_copy.menus)
    deadline = time.time() + 5
    while time.time() < deadline:
        c = call(FlaskTransport(client), PUBLIC_URL, TOKEN).press("1")
        if "Pour le bureau" in c.said:
            break
        time.sleep(0.05)
    assert "Pour le bureau" in c.said


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_a_closed_app_stops_watching_the_files(menu_copy, phone):
    """Closing an app (a test's end, a tester's session) stops its menu watcher: no thread stays
    behind, and edits made afterwards are no longer picked up, even if a request comes in."""
    phone()  # a call on a line without reload starts the process's metrics thread, counted apart
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "TRANSFER_CALLER_ID": "+3225550100", "MENUS": str(menu_copy.menus),
                      "PROMPTS": str(menu_copy.prompts), "RELOAD_SECONDS": 0.1})
    before = os_threads()
    client = app.test_client()
    call(FlaskTransport(client), PUBLIC_URL, TOKEN)  # the first request starts the watcher
    assert os_threads() == before + 1
    live = app.extensions["ivr"]
    assert live.close() is True  # close() waited for the watcher to finish its last check
    # Its last step releases the lock close() waits on; the OS thread then ends a moment later.
    deadline = time.monotonic() + 2
    while os_threads() != before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os_threads() == before
    version = live.line.version
    menu_copy.replace('say: "Pour la ligne de bureau"', 'say: "Pour le bureau"')
    bump_mtime(menu_copy.menus)
    c = call(FlaskTransport(client), PUBLIC_URL, TOKEN).press("1")
    time.sleep(0.5)  # five of its intervals
    assert live.line.version == version and "Pour le bureau" not in c.said
    assert os_threads() == before


def test_the_readme_shows_the_map_of_the_shipped_menus(shipped_line):
    from ivr import ROOT
    from ivr.operators.overview import mermaid
    from stale import first_differences, out_of_date
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    drawn = readme.split("```mermaid\n", 1)[-1].split("```", 1)[0]
    if drawn != mermaid(shipped_line):
        out_of_date("README.md's map", "make map", first_differences(mermaid(shipped_line), drawn))


def test_a_caller_on_a_page_that_was_renumbered_is_not_put_through_to_another_line(live_app):
    app, live, copy = live_app
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1").press("1")
    assert "La ligne couple." in c.said
    # The operator swaps keys 1 and 2 of the main menu: key 1 now reads the office line.
    copy.replace("        - key: 1\n          say: \"Pour la ligne couple\"",
                 "        - key: X\n          say: \"Pour la ligne couple\"")
    copy.replace("        - key: 2\n          say: \"Pour la ligne de bureau\"",
                 "        - key: 1\n          say: \"Pour la ligne de bureau\"")
    copy.replace("        - key: X\n", "        - key: 2\n")
    bump_mtime(copy.menus)
    assert live.refresh() is True
    assert live.line.language("fr").node_id(("1",)) == "ligne-bureau"
    c.press("1")  # "to call them, press 1" is what the caller heard, on the couple line's page
    assert c.dialing is None
    assert c.said.startswith("Ce menu a changé. Voici le menu principal.")
