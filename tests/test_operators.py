"""What operators get: checks with their place, the tree and map, and live reload."""
import datetime
import threading
import time

import pytest

from ivr import create_app
from ivr.load import inspect
from ivr.phone import FlaskTransport, call
from conftest import PUBLIC_URL, TOKEN


def warnings_of(copy, **kwargs):
    line, problems = inspect(copy.menus, copy.prompts, **kwargs)
    assert line is not None, [str(p) for p in problems]
    return [str(p) for p in problems if p.severity == "warning"]


def errors_of(copy):
    line, problems = inspect(copy.menus, copy.prompts)
    assert line is None
    return [str(p) for p in problems if p.severity == "error"]


def test_a_menu_and_a_helpline_no_caller_can_reach_are_warned_about(menu_copy):
    menu_copy.replace("          helpline: child-focus\n", "          helpline: centres-pms\n")
    menu_copy.replace("  helplines:\n    urgence-medicale:", "    orphelin:\n      options:\n        - key: 1\n          say: \"x\"\n          helpline: police\n\n  helplines:\n    urgence-medicale:")
    warnings = warnings_of(menu_copy)
    at = menu_copy.line_of("    child-focus:")
    assert f"{menu_copy.menus}:{at}:5: warning: no caller can hear helpline 'child-focus'" in "\n".join(warnings)
    assert any("no caller can reach menu 'orphelin'" in w for w in warnings)


def test_a_loop_between_menus_is_an_error(menu_copy):
    menu_copy.replace('          say: "Si vous pensez au suicide"\n          helpline: prevention-suicide',
                      '          say: "Si vous pensez au suicide"\n          menu: accueil')
    (error,) = errors_of(menu_copy)
    assert "leads back to menu 'accueil', which leads here: a loop with no end" in error
    assert error.startswith(f"{menu_copy.menus}:{menu_copy.line_of('          menu: accueil') - 2}:")


def test_a_fourth_level_is_a_warning(menu_copy):
    menu_copy.replace('          say: "Si vous pensez au suicide"\n          helpline: prevention-suicide',
                      '          say: "Si vous pensez au suicide"\n          menu: profond')
    menu_copy.replace("  helplines:\n    urgence-medicale:", "    profond:\n      options:\n        - key: 1\n          say: \"x\"\n          helpline: prevention-suicide\n\n  helplines:\n    urgence-medicale:")
    (warning,) = warnings_of(menu_copy)
    assert "at level 4 (main menu is 1); keep the tree at most 3 levels deep" in warning
    assert warning.startswith(f"{menu_copy.menus}:{menu_copy.line_of('helpline: prevention-suicide') - 2}:")


def test_more_than_six_options_is_a_warning(menu_copy):
    menu_copy.replace('        - key: 6\n', '        - key: 7\n          say: "Sept"\n          helpline: police\n        - key: 6\n')
    (warning,) = warnings_of(menu_copy)
    assert "menu 'accueil' has 7 options; callers remember at most six" in warning
    assert warning.startswith(f"{menu_copy.menus}:{menu_copy.line_of('    accueil:') + 2}:")  # its options:


def test_an_unused_prompt_is_a_warning_with_the_closest_name(menu_copy):
    menu_copy.replace("key_hash:", "transfer_bussy: \"x\"\nkey_hash:", file="prompts/fr.yaml")
    (warning,) = warnings_of(menu_copy)
    assert "'transfer_bussy' in fr.yaml is never used by the line; did you mean 'transfer_busy'?" in warning
    assert warning.startswith(f"{menu_copy.prompts / 'fr.yaml'}:{menu_copy.line_of('transfer_bussy', 'prompts/fr.yaml')}:1:")


def test_texts_too_long_for_twilio_are_errors_and_long_ones_warnings(menu_copy):
    menu_copy.replace('name: "Police"', 'name: "' + "Police. " * 400 + '"')
    (error,) = errors_of(menu_copy)
    assert "is 3199 characters; Twilio's voices stop at 3000" in error
    where = menu_copy.line_of('name: "Police. Police.')
    assert error.startswith(f"{menu_copy.menus}:{where}:")


def test_a_long_sentence_is_a_warning(menu_copy):
    menu_copy.replace('name: "Police"', 'name: "Police ' + "et encore " * 20 + '"')
    (warning,) = warnings_of(menu_copy)
    assert "has a sentence of 206 characters" in warning and "split it" in warning
    where = menu_copy.line_of('name: "Police et encore')
    assert warning.startswith(f"{menu_copy.menus}:{where}:")


def test_a_number_checked_over_a_year_ago_is_a_warning(menu_copy):
    later = datetime.date(2027, 12, 1)
    warnings = warnings_of(menu_copy, today=later)
    assert len(warnings) == 25  # every helpline of both languages
    sos = next(w for w in warnings if "helpline 'sos-viol' was last checked on 2026-11-28, over a year ago" in w)
    sos_line = menu_copy.line_of("    sos-viol:")
    assert any(sos.startswith(f"{menu_copy.menus}:{n}:") for n in range(sos_line, sos_line + 15))
    assert warnings_of(menu_copy, today=datetime.date(2027, 11, 1)) == []


def test_tree_prints_what_a_caller_hears_with_keys_numbers_and_transfers(runner):
    result = runner.invoke(args=["tree", "--lang", "fr"])
    assert result.exit_code == 0
    out = result.output
    assert "    2  Pour les violences dans le couple\n        - Écoute Violences Conjugales: 0800 30 030, transfers to +3280030030  [key 1: put through]" in out
    assert "- Police: 101, read out: hang up and dial (never transferred)" in out
    assert "[nl]" not in out
    assert runner.invoke(args=["tree", "--lang", "de"]).exit_code != 0


def test_map_writes_a_mermaid_diagram_of_both_languages(runner):
    result = runner.invoke(args=["map"])
    assert result.exit_code == 0
    out = result.output
    assert out.startswith("flowchart LR\n")
    assert 'fr_m -->|"2: Pour les violences dans le couple"| fr_m2' in out
    assert 'fr_m2(["Écoute Violences Conjugales: 0800 30 030 ☎"])' in out
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
    copy.replace('say: "Pour les violences sexuelles"', 'say: "En cas de violences sexuelles"')
    bump_mtime(copy.menus)
    assert live.refresh() is True and live.line.version != before
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1")
    assert "En cas de violences sexuelles, appuyez sur 4." in c.said


def test_a_broken_edit_is_refused_and_the_last_good_menu_served(live_app, caplog):
    app, live, copy = live_app
    before = live.line.version
    copy.replace('transfer: "+3280030030"', 'transfer: "+32112"')
    bump_mtime(copy.menus)
    assert live.refresh() is False
    assert live.line.version == before
    assert any("menu files refused, still serving version" in r.getMessage() and "menus.yaml:" in r.getMessage()
               for r in caplog.records)
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1").press("2").press("1")
    assert c.dialing == "+3280030030"
    assert "is an emergency or short number" in str(live.refused[0])


def test_a_caller_in_a_removed_menu_is_put_back_on_the_main_menu(live_app):
    app, live, copy = live_app
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1").press("5")
    assert "Enfants, jeunes et école" in c.said
    # The operator removes the last option of the main menu and the "jeunes" submenu.
    copy.replace('        - key: 5\n          say: "Pour les enfants, les jeunes et l\'école"\n          menu: jeunes\n', "")
    text = copy.menus.read_text(encoding="utf-8")
    start, end = text.index("    jeunes:\n"), text.index("    victimes:\n")
    copy.menus.write_text(text[:start] + text[end:], encoding="utf-8")
    bump_mtime(copy.menus)
    assert live.refresh() is True
    c.press("1")
    assert c.said.startswith("Ce menu a changé. Voici le menu principal.")
    assert "Menu principal." in c.said and c.waiting == "keys"


def test_no_caller_gets_an_error_while_menus_are_swapped(live_app):
    app, live, copy = live_app
    good = copy.menus.read_text(encoding="utf-8")
    edited = good.replace('say: "Pour une urgence"', 'say: "En cas d\'urgence"')
    broken = good.replace("menu: soutien", "menu: soutient")
    failures, calls = [], [0]
    stop = threading.Event()

    def caller():
        client = app.test_client()
        while not stop.is_set():
            try:
                c = call(FlaskTransport(client), PUBLIC_URL, TOKEN).press("1").press("3").press("1")
                assert c.waiting == "keys" and ("0 8 0 0, 3 2, 1 2 3" in c.said or "Ce menu a changé" in c.said)
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


def test_each_worker_watches_the_files_by_itself(menu_copy):
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "TRANSFER_CALLER_ID": "+3225550100", "MENUS": str(menu_copy.menus),
                      "PROMPTS": str(menu_copy.prompts), "RELOAD_SECONDS": 0.1})
    client = app.test_client()
    call(FlaskTransport(client), PUBLIC_URL, TOKEN)  # the first request starts the watcher
    menu_copy.replace('say: "Pour les violences sexuelles"', 'say: "En cas de violences sexuelles"')
    bump_mtime(menu_copy.menus)
    deadline = time.time() + 5
    while time.time() < deadline:
        c = call(FlaskTransport(client), PUBLIC_URL, TOKEN).press("1")
        if "En cas de violences sexuelles" in c.said:
            break
        time.sleep(0.05)
    assert "En cas de violences sexuelles" in c.said


def test_the_readme_shows_the_map_of_the_shipped_menus(line):
    from ivr import ROOT
    from ivr.overview import mermaid
    assert "```mermaid\n" + mermaid(line) + "```" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_a_caller_on_a_page_that_was_renumbered_is_not_put_through_to_another_line(live_app):
    app, live, copy = live_app
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1").press("4")
    assert "SOS Viol." in c.said
    # The operator swaps keys 2 and 4 of the main menu: key 4 now reads Écoute Violences Conjugales.
    copy.replace("        - key: 2\n          say: \"Pour les violences dans le couple\"",
                 "        - key: X\n          say: \"Pour les violences dans le couple\"")
    copy.replace("        - key: 4\n", "        - key: 2\n")
    copy.replace("        - key: X\n", "        - key: 4\n")
    bump_mtime(copy.menus)
    assert live.refresh() is True
    assert live.line.language("fr").node_id(("4",)) == "ecoute-violences-conjugales"
    c.press("1")  # "to call SOS Viol, press 1" is what the caller heard
    assert c.dialing is None
    assert c.said.startswith("Ce menu a changé. Voici le menu principal.")
