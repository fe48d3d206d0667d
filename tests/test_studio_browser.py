"""The operators' studio in a real browser: headless Chromium (Debian's chromium and
chromium-driver, which .ci/run installs) driven by selenium, against `python -m ivr studio`
serving a copy of the engine's test menu, as an operator or tester would use it."""
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ivr import ROOT
from real_line import free_port
from tests.conftest import TEST_MENUS

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
if not (CHROMIUM.exists() and DRIVER.exists()):
    if os.environ.get("CI"):  # CI installs the browser (.ci/run): its absence there is a failure
        raise RuntimeError("CI: /usr/bin/chromium or /usr/bin/chromedriver is missing; .ci/run should install them")
    pytest.skip("the studio's browser test needs Debian's chromium and chromium-driver: "
                "apt-get install chromium chromium-driver", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

WAIT = 10  # seconds; the line looks for edits every 2 s, the page asks every 1.5 s



@pytest.fixture
def menus(tmp_path):
    """A copy of the test menu, which the test may break."""
    shutil.copytree(TEST_MENUS, tmp_path / "menus")
    return tmp_path / "menus"


@pytest.fixture
def studio(menus):
    port = free_port()
    env = dict(os.environ, IVR_MENUS=str(menus / "menus.yaml"), IVR_PROMPTS=str(menus / "prompts"))
    env.pop("TWILIO_AUTH_TOKEN", None)  # the studio needs none
    process = subprocess.Popen([sys.executable, "-m", "ivr", "studio", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the studio did not start: {process.stdout.read()}")
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """One headless Chromium for the module's tests (starting one costs about a second of CPU)."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run",
                     "--disable-dev-shm-usage", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
                     "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium):
    """A tab of its own for each test: what a test adds to every page (execute_cdp_cmd) stays in
    its tab, and its studio's port is an origin of its own (the page's saved language)."""
    first = chromium.current_window_handle
    chromium.switch_to.new_window("tab")
    chromium.set_window_size(1280, 1000)  # shared by the tabs
    yield chromium
    try:
        chromium.execute_script("try { localStorage.clear() } catch (e) {}")  # in case a later studio gets this port
    finally:
        chromium.close()
        chromium.switch_to.window(first)


def log_text(driver) -> str:
    return driver.find_element(By.CSS_SELECTOR, "[role=log]").text


def wait_for(driver, condition, what):
    # The page redraws the tree when the clock or the files change: an element may go stale.
    return WebDriverWait(driver, WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: condition(d), message=f"waited {WAIT} s for {what}")


def button(driver, name):
    """The button a person would find by its name."""
    found = [b for b in driver.find_elements(By.TAG_NAME, "button") if b.accessible_name == name and b.is_displayed()]
    assert len(found) == 1, f"{len(found)} visible buttons named {name!r}"
    return found[0]


def test_a_call_in_the_studio_reaches_a_transfer_and_hears_it_was_busy(studio, browser):
    browser.get(studio)
    assert [b.accessible_name for b in browser.find_elements(By.CSS_SELECTOR, ".keypad button")] == \
        list("123456789*0#")
    button(browser, "Call").click()
    wait_for(browser, lambda d: "Pour le français, appuyez sur 1." in log_text(d), "the language choice")
    assert not button(browser, "Call").is_enabled()  # one call at a time
    first = browser.find_element(By.CSS_SELECTOR, "[role=log] li")
    assert first.find_element(By.CSS_SELECTOR, ".lang").text == "fr-BE"  # each sentence's language
    assert "nl-BE" in log_text(browser) and "Voor Nederlands, druk 2." in log_text(browser)

    ActionChains(browser).send_keys("1").perform()  # typing a digit presses it
    wait_for(browser, lambda d: "Pour la ligne couple, appuyez sur 1." in log_text(d), "the main menu")
    assert "caller presses 1" in log_text(browser)

    button(browser, "1").click()
    wait_for(browser, lambda d: "0 8 0 0, 3 0, 0 3 0" in log_text(d), "the helpline's number")
    button(browser, "1").click()  # put through
    wait_for(browser, lambda d: d.find_element(By.ID, "outcomes").is_displayed(), "the transfer's outcomes")
    assert "line dials +3280030030" in log_text(browser)
    for name in ("answered", "no-answer", "failed"):
        assert button(browser, name).is_enabled()
    button(browser, "busy").click()
    wait_for(browser, lambda d: "La ligne est occupée." in log_text(d), "the busy sentence")
    assert not browser.find_element(By.ID, "outcomes").is_displayed()

    button(browser, "Hang up").click()
    wait_for(browser, lambda d: button(d, "Call").is_enabled(), "the Call button back")
    assert "caller hangs up" in log_text(browser)


def helpline_state(driver, helpline_id) -> str:
    return driver.find_element(By.CSS_SELECTOR, f"[data-helpline='{helpline_id}']").text


def retype(field, text):
    """As a person does: click into the field, select what is there, type over it (WebDriver's
    clear() leaves the field unfocused, and the page's refresh may write the clock back into it
    before the first key)."""
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(text)


def set_clock(driver, at):
    clock = driver.find_element(By.ID, "clock")
    # As a person's typing does: the value, then the input event (the field's format is the locale's).
    driver.execute_script("arguments[0].value = arguments[1];"
                          "arguments[0].dispatchEvent(new Event('input', {bubbles: true}))", clock, at)
    button(driver, "Set clock").click()


def test_the_clock_shows_an_office_line_closed_on_a_public_holiday(studio, browser):
    browser.get(studio)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-helpline='ligne-bureau']"), "the tree")
    tree = browser.find_element(By.ID, "tree").text
    assert "La ligne de bureau 0800 12 800" in tree and "transfer +3280012800" in tree
    assert re.search(r"La ligne couple 0800 30 030\n\d+\.\d s to reach \(budget 35 s\)", tree), tree

    set_clock(browser, "2026-12-23T10:00")  # a Wednesday morning
    wait_for(browser, lambda d: "open now" in helpline_state(d, "ligne-bureau"), "the office line open")
    set_clock(browser, "2026-12-25T10:00")  # Christmas, a Friday
    wait_for(browser, lambda d: "closed now" in helpline_state(d, "ligne-bureau"), "the office line closed")
    assert "open now" in helpline_state(browser, "ligne-couple")  # open day and night

    # A call at that hour hears it too: the line in the studio runs on the studio's clock.
    button(browser, "Call").click()
    wait_for(browser, lambda d: "appuyez sur 1" in log_text(d), "the language choice")
    ActionChains(browser).send_keys("1").perform()
    wait_for(browser, lambda d: "Pour la ligne de bureau" in log_text(d), "the main menu")
    ActionChains(browser).send_keys("2").perform()
    wait_for(browser, lambda d: "La ligne de nuit" in log_text(d), "the line open at night named instead")


def test_a_broken_menu_file_shows_its_problem_with_file_line_and_column(studio, browser, menus):
    browser.get(studio)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-helpline='ligne-bureau']"), "the tree")
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]")
    assert " error: " not in alert.text
    menu_file = menus / "menus.yaml"
    text = menu_file.read_text(encoding="utf-8")
    menu_file.write_text(text.replace("menu: sous-menu", "menu: sous-menus"), encoding="utf-8")
    wait_for(browser, lambda d: "sous-menus" in alert.text, "the problem in the alert")
    found = re.search(rf"^{re.escape(str(menu_file))}:(\d+):(\d+): error: .*'sous-menus'.*did you mean 'sous-menu'",
                      alert.text, re.M)
    assert found, alert.text
    line, column = int(found[1]), int(found[2])
    assert text.splitlines()[line - 1][column - 1:] == "key: 3"  # the option that leads nowhere
    # The line keeps the last good version: its tree is still there, and a call still runs.
    assert "Sous-menu." in browser.find_element(By.ID, "tree").text
    menu_file.write_text(text.replace('name: "La ligne couple"', 'name: "La ligne du couple"'), encoding="utf-8")
    wait_for(browser, lambda d: " error: " not in alert.text, "the problem gone once fixed")
    # A good edit reaches the tree as it reaches the line.
    wait_for(browser, lambda d: "La ligne du couple" in d.find_element(By.ID, "tree").text, "the edit in the tree")


# The browser's voices, as a machine with Belgian French and Dutch voices has them (headless
# Chromium has none): the page must pick fr-BE and nl-BE over fr-FR and nl-NL.
FAKE_VOICES = """
const voices = [["Thomas", "fr-FR"], ["Amélie", "fr_BE"], ["Xander", "nl-NL"], ["Ellen", "nl-BE"]]
  .map(([name, lang]) => ({ name, lang, default: false, localService: true, voiceURI: name }));
window.spoken = [];
window.SpeechSynthesisUtterance = class { constructor(text) { this.text = text; } };
Object.defineProperty(window, "speechSynthesis", { configurable: true, value: {
  getVoices: () => voices, cancel() {},
  speak(u) { window.spoken.push([u.text, u.voice && u.voice.name]); setTimeout(() => u.onend && u.onend(), 10); },
}});
window.audio = [];
const RealAudio = window.Audio;
window.Audio = function (url) {
  const a = new RealAudio(url);
  a.addEventListener("canplay", () => window.audio.push(["canplay", a.src]));
  a.addEventListener("error", () => window.audio.push(["error", a.src]));
  return a;
};
"""


def silent_wav(path):
    import wave
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 1600)  # 0.2 s


@pytest.fixture
def recorded(menus):
    """The test menu with the French safety sentence recorded."""
    (menus / "prompts" / "fr").mkdir()
    silent_wav(menus / "prompts" / "fr" / "safety.wav")
    return menus


def test_sentences_are_spoken_with_belgian_voices_and_recordings_played(recorded, studio, browser):
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FAKE_VOICES})
    browser.get(studio)
    button(browser, "Call").click()
    wait_for(browser, lambda d: len(d.execute_script("return window.spoken")) >= 2, "the language choice spoken")
    assert browser.execute_script("return window.spoken") == [
        ["Pour le français, appuyez sur 1.", "Amélie"], ["Voor Nederlands, druk 2.", "Ellen"]]
    ActionChains(browser).send_keys("1").perform()
    wait_for(browser, lambda d: "recording safety.wav" in log_text(d), "the recording in the transcript")
    wait_for(browser, lambda d: d.execute_script("return window.audio"), "the recording loaded")
    event, url = browser.execute_script("return window.audio")[0]
    assert event == "canplay" and re.search(r"/recordings/fr/safety\.wav\?v=\w+$", url), (event, url)
    # The sentences after it are spoken once it has played (or could not be).
    wait_for(browser, lambda d: ["Pour la ligne couple, appuyez sur 1.", "Amélie"] in d.execute_script("return window.spoken"),
             "the main menu spoken after the recording")

    browser.find_element(By.ID, "speak").click()  # Speak aloud off: silence
    spoken = len(browser.execute_script("return window.spoken"))
    button(browser, "*").click()
    wait_for(browser, lambda d: log_text(d).count("Pour la ligne couple, appuyez sur 1.") == 2, "the menu repeated")
    time.sleep(0.5)
    assert len(browser.execute_script("return window.spoken")) == spoken


@pytest.fixture
def broken_at_start(menus):
    """The test menu with an option leading nowhere, before the studio starts; returns the good text."""
    menu_file = menus / "menus.yaml"
    good = menu_file.read_text(encoding="utf-8")
    menu_file.write_text(good.replace("menu: sous-menu", "menu: sous-menus"), encoding="utf-8")
    return good


def test_the_studio_starts_on_a_broken_file_shows_its_problem_and_the_tree_once_fixed(broken_at_start, studio,
                                                                                      browser, menus):
    browser.get(studio)
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]")
    wait_for(browser, lambda d: "sous-menus" in alert.text, "the problem in the alert")
    assert re.search(r"menus\.yaml:\d+:\d+: error: .*'sous-menus'", alert.text), alert.text
    assert browser.find_element(By.ID, "no-line").is_displayed()
    assert "No tree yet" in browser.find_element(By.ID, "tree").text
    button(browser, "Call").click()
    wait_for(browser, lambda d: "fix the problems above first" in log_text(d), "why no call can start")
    (menus / "menus.yaml").write_text(broken_at_start, encoding="utf-8")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-helpline='ligne-bureau']"), "the tree")
    assert not browser.find_element(By.ID, "no-line").is_displayed()
    button(browser, "Call").click()
    wait_for(browser, lambda d: "Pour le français, appuyez sur 1." in log_text(d), "a call, once fixed")


def focused(driver) -> str:
    return driver.execute_script("const a = document.activeElement; return a.id || a.textContent")


def test_keyboard_focus_follows_the_call_from_start_to_end(studio, browser):
    browser.get(studio)
    browser.find_element(By.ID, "call").send_keys("\n")  # Enter on the Call button
    wait_for(browser, lambda d: "Pour le français, appuyez sur 1." in log_text(d), "the language choice")
    assert focused(browser) == "hangup"  # not lost with the Call button, now disabled
    ActionChains(browser).send_keys("1").perform()
    wait_for(browser, lambda d: "Pour la ligne couple" in log_text(d), "the main menu")
    ActionChains(browser).send_keys("1").perform()
    wait_for(browser, lambda d: "0 8 0 0, 3 0, 0 3 0" in log_text(d), "the helpline's number")
    ActionChains(browser).send_keys("1").perform()
    wait_for(browser, lambda d: d.find_element(By.ID, "outcomes").is_displayed(), "the transfer's outcomes")
    assert focused(browser) == "answered"  # the choice to make now
    ActionChains(browser).send_keys("\n").perform()  # answered: the line says goodbye and hangs up
    wait_for(browser, lambda d: button(d, "Call").is_enabled(), "the call's end")
    assert focused(browser) == "call"  # ready for the next call


def test_the_clock_is_typed_in_24_hour_form_whatever_the_browsers_locale(studio, browser):
    browser.get(studio)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-helpline='ligne-bureau']"), "the tree")
    clock = browser.find_element(By.ID, "clock")
    assert clock.get_attribute("type") == "text"
    retype(clock, "2026-12-23 23:00")  # a Wednesday night, typed key by key
    button(browser, "Set clock").click()
    wait_for(browser, lambda d: "closed now" in helpline_state(d, "ligne-bureau"), "the office line closed at 23:00")
    wait_for(browser, lambda d: d.find_element(By.ID, "clock-label").text == "Wednesday 2026-12-23 23:00",
             "the clock as set")
    retype(clock, "2026-12-23 10:00")
    button(browser, "Set clock").click()
    wait_for(browser, lambda d: "open now" in helpline_state(d, "ligne-bureau"), "the office line open at 10:00")
    retype(clock, "23/12/2026 11:00 PM")
    button(browser, "Set clock").click()
    wait_for(browser, lambda d: "YYYY-MM-DD HH:MM, 24-hour" in d.find_element(By.ID, "clock-label").text,
             "the form to use")
    time.sleep(2)  # the page asks for the tree every 1.5 s: the form to use is still said after it
    assert "YYYY-MM-DD HH:MM, 24-hour" in browser.find_element(By.ID, "clock-label").text
    assert "open now" in helpline_state(browser, "ligne-bureau")  # the clock did not move


def test_each_sentence_shows_its_estimated_seconds(studio, browser):
    from ivr.operators.studio import heard_seconds
    browser.get(studio)
    button(browser, "Call").click()
    wait_for(browser, lambda d: "Pour le français, appuyez sur 1." in log_text(d), "the language choice")
    first = browser.find_element(By.CSS_SELECTOR, "[role=log] li .secs")
    assert first.text == f"{heard_seconds('Pour le français, appuyez sur 1.')} s"


DUTCH_BROWSER = "Object.defineProperty(navigator, 'languages', {get: () => ['nl-BE', 'nl', 'en']});"


def test_the_page_speaks_the_browsers_language_and_can_be_switched(studio, browser):
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": DUTCH_BROWSER})
    browser.get(studio)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-helpline='ligne-bureau']"), "the tree")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "nl"
    button(browser, "Bellen").click()
    wait_for(browser, lambda d: "Pour le français, appuyez sur 1." in log_text(d), "the language choice")
    ActionChains(browser).send_keys("1").perform()
    wait_for(browser, lambda d: "beller drukt 1" in log_text(d), "the key, in Dutch")
    assert "Ophangen" in [b.accessible_name for b in browser.find_elements(By.TAG_NAME, "button")]
    assert "nu open" in helpline_state(browser, "ligne-couple")
    Select(browser.find_element(By.ID, "ui-language")).select_by_visible_text("Français")
    wait_for(browser, lambda d: "ouvert maintenant" in helpline_state(d, "ligne-couple"), "the tree in French")
    assert "l'appelant appuie sur 1" in log_text(browser)  # what was shown, said again in French
    assert button(browser, "Raccrocher").is_enabled()
    browser.get(studio)  # the choice is kept
    wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr", "French kept")


def test_the_map_is_a_picture_drawn_in_the_page_with_nothing_fetched_elsewhere(studio, browser):
    browser.get(studio)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#map svg[role=img]"), "the map")
    picture = browser.find_element(By.CSS_SELECTOR, "#map svg")
    assert picture.size["width"] > 400 and picture.size["height"] > 200  # drawn, not an empty element
    texts = [t.get_attribute("textContent") for t in picture.find_elements(By.CSS_SELECTOR, "text")]
    tree = urllib.request.urlopen(studio + "api/tree", timeout=5).read().decode()
    import json
    for language in json.loads(tree)["languages"]:
        assert f"{language['key']}: {language['code']}" in texts

        def walk(node):
            if node["kind"] == "page":
                for h in node["helplines"]:
                    assert any(text.startswith(h["name"][:20]) for text in texts), h["name"]
                return
            for option in node["options"]:
                assert option["key"] in texts
                walk(option["node"])
        walk(language["menu"])
    assert picture.find_elements(By.CSS_SELECTOR, "path.edge")
    # A window narrower than the map: the map scrolls in its own box, the page never sideways.
    browser.set_window_size(picture.size["width"] - 100, 1000)
    try:
        wait_for(browser, lambda d: d.execute_script(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"),
            "no sideways scrolling of the page")
    finally:
        browser.set_window_size(1280, 1000)
    origins = browser.execute_script(
        "return performance.getEntriesByType('resource').map((e) => new URL(e.name).origin)")
    assert set(origins) <= {studio.rstrip("/")}, origins
