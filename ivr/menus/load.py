"""Load menus.yaml and prompts/<language>.yaml into the immutable model, or refuse them.

Every problem found is reported at once, each with its file, line and column, so that an
operator can fix a file in one go (the way RapidPro inspects a flow before running it). Loading
never half-succeeds: either a whole checked `Line` comes back, or `MenuError` with the list.
"""
from __future__ import annotations

import copyreg
import datetime
import difflib
import hashlib
import io
import os
import pickle
import re
import string
import threading
from pathlib import Path
from types import MappingProxyType

from . import numbers
from .model import AUDIO_TYPES, PROMPTS, RECORDABLE_PROMPTS, Budget, Helpline, Keys, Language, Line, Menu, OpeningHours, Option, Recording
from .yamlfile import Located, Place, Problem, YamlFileError, read

# What an operator may write, and what each part means to the loader.
TOP_FIELDS = {"languages", "default_language", "keys", "emergency_number", "police_number", "timing",
              "fallback"}  # read and checked by ivr/operators/fallback.py
KEY_FIELDS = {"repeat", "back", "main_menu", "change_language", "quick_exit"}
TIMING_FIELDS = {"listen_seconds", "silences_before_goodbye", "ring_seconds", "short_transfer_seconds",
                 "first_topic_within", "numbers_within", "sooner", "page_within"}  # the last four: ivr/operators/timing.py
LANGUAGE_FIELDS = {"main_menu", "menus", "helplines"}
MENU_FIELDS = {"intro", "options"}
OPTION_FIELDS = {"key", "say", "menu", "helpline", "helplines"}
HELPLINE_FIELDS = {
    "name", "about", "hours", "free", "anonymous", "number", "transfer", "how_to_reach",
    "show_caller_number", "source", "checked", "opening_hours", "if_closed", "press_after_answer", "more",
    "may_be_open", "if_asked_to_choose",
}
PRESS_AFTER_ANSWER = re.compile(r"^[0-9*#w]{1,20}$")  # Twilio's sendDigits: keys, and w for half a second
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
PROMPT_FILE_FIELDS = {"voice", "language"} | set(PROMPTS)
KEYPAD = set("0123456789*#")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")  # menu and helpline names travel in URLs as they are
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")
DEFAULT_TIMING = {"listen_seconds": 6, "silences_before_goodbye": 1, "ring_seconds": 25, "short_transfer_seconds": 45}
PUBLIC_HOLIDAYS = "public holidays"  # in opening_hours' closed: list, Belgium's public holidays


class MenuError(Exception):
    """The files cannot run the line. `problems` lists every error and warning found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__(f"{len(errors)} problem(s) in the menu files:\n" + "\n".join(map(str, errors)))


SAY_LIMIT = 3000  # Twilio refuses a longer <Say> with a Polly voice
FOLLOW_LIMIT = 600  # past this (about 40 seconds of speech) a frightened caller loses the thread
SENTENCE_LIMIT = 160  # one sentence longer than this is hard to follow by ear
RECHECK_AFTER = datetime.timedelta(days=365)


class _Checker:
    def __init__(self, today: datetime.date):
        self.problems: list[Problem] = []
        self.today = today
        # Equal sentences (the same hours or source for many helplines) become one string.
        self._texts: dict[str, str] = {}

    def error(self, place: Place, message: str):
        self.problems.append(Problem(place, message, "error"))

    def warning(self, place: Place, message: str):
        self.problems.append(Problem(place, message, "warning"))

    @property
    def failed(self) -> bool:
        return any(p.severity == "error" for p in self.problems)

    def fields(self, doc: Located, path: tuple, value, allowed: set, what: str) -> dict:
        """`value` as a mapping, with unknown names reported (and the closest known one offered)."""
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.error(doc.place(*path), f"{what} should be a set of 'name: value' lines")
            return {}
        for name in value:
            if str(name) not in allowed:
                close = difflib.get_close_matches(str(name), sorted(allowed), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f"; known names: {', '.join(sorted(allowed))}"
                self.error(doc.place(*path, name), f"unknown name '{name}' in {what}{hint}")
        return value

    def text(self, doc: Located, path: tuple, value, what: str, required: bool = True) -> str | None:
        if value is None:
            if required:
                self.error(doc.place(*path), f"{what} is missing")
            return None
        if isinstance(value, (dict, list, bool)) or str(value).strip() == "":
            self.error(doc.place(*path), f"{what} should be a sentence of text, not empty")
            return None
        text = " ".join(str(value).split())
        text = self._texts.setdefault(text, text)
        if len(text) > SAY_LIMIT:
            self.error(doc.place(*path), f"{what} is {len(text)} characters; Twilio's voices stop at {SAY_LIMIT}: shorten it")
        elif len(text) > FOLLOW_LIMIT:
            self.warning(doc.place(*path), f"{what} is {len(text)} characters, long for a caller to follow; keep it under {FOLLOW_LIMIT}")
        else:
            longest = max(re.split(r"(?<=[.!?])\s+", text), key=len)
            if len(longest) > SENTENCE_LIMIT:
                self.warning(doc.place(*path), f"{what} has a sentence of {len(longest)} characters (\"{longest[:40]}...\"); split it into shorter ones")
        return text

    def flag(self, doc: Located, path: tuple, value, what: str) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            self.error(doc.place(*path), f"{what} should be yes or no")
            return False
        return value


def load(menus_path: str | Path, prompts_dir: str | Path | None = None) -> Line:
    """The checked line, or MenuError listing every problem with its place."""
    line, problems = inspect(menus_path, prompts_dir)
    if line is None:
        raise MenuError(problems)
    return line


def load_apart(menus_path: str | Path, prompts_dir: str | Path | None = None) -> Line:
    """`load`, with the files read and checked in a short-lived child process.

    Reading a large menu leaves this process's memory with holes that Python cannot hand back
    to the system (it frees an arena of 1 MB only once all of it is free, and the model is
    spread over all of them); a gunicorn master that loads the menu before forking its workers
    passes them all on. The child does the reading and checking and sends back only the checked
    model, which is rebuilt here in one compact piece: for the big menu, 2.4 MB less in every
    worker. Same result and same errors as `load`, which is what runs where this cannot be done:
    where there is no fork(), or another thread is running (forking then is unsafe).
    """
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return load(menus_path, prompts_dir)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns, never runs the parent's exit handlers
        status = 1
        try:
            os.close(read_end)
            result = io.BytesIO()
            _Pickler(result, pickle.HIGHEST_PROTOCOL).dump(inspect(menus_path, prompts_dir))
            with os.fdopen(write_end, "wb") as out:
                out.write(result.getbuffer())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as result:
        sent = result.read()
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:  # already collected by a SIGCHLD handler
        pass
    try:
        line, problems = pickle.loads(sent)
    except (pickle.UnpicklingError, EOFError):  # nothing came: the child failed
        return load(menus_path, prompts_dir)  # so the same error is raised here
    if line is None:
        raise MenuError(problems)
    return line


class _Pickler(pickle.Pickler):
    dispatch_table = copyreg.dispatch_table.copy()
    dispatch_table[MappingProxyType] = lambda proxy: (_read_only, (dict(proxy),))  # the model's mappings


def _read_only(mapping: dict) -> MappingProxyType:
    return MappingProxyType(mapping)


def inspect(menus_path: str | Path, prompts_dir: str | Path | None = None,
            today: datetime.date | None = None) -> tuple[Line | None, list[Problem]]:
    """Every problem in the files (errors and warnings), and the line if there is no error."""
    menus_path = Path(menus_path)
    prompts_dir = Path(prompts_dir) if prompts_dir else menus_path.parent / "prompts"
    check = _Checker(today or datetime.date.today())
    digest = hashlib.sha256()
    try:
        doc = read(menus_path)
    except YamlFileError as e:
        return None, [e.problem]
    digest.update(doc.raw)
    top = check.fields(doc, (), doc.data, TOP_FIELDS | _language_codes(doc.data), "menus.yaml")

    codes = top.get("languages")
    if not isinstance(codes, list) or not codes or not all(isinstance(c, str) and c for c in codes):
        check.error(doc.place("languages"), "languages should list the language codes offered, e.g. [fr, nl]")
        codes = []
    if len(set(codes)) != len(codes):
        check.error(doc.place("languages"), "a language is listed twice in languages")
    for code in codes:
        # Codes go into the URLs Twilio calls back; "language" is the language choice's own path.
        if not LANGUAGE_CODE.match(code) or code == "language":
            check.error(doc.place("languages"), f"'{code}' is not a language code: use two or three small letters, like fr or nl")
    if len(codes) > 9:
        check.error(doc.place("languages"), "at most 9 languages fit on the keypad")
    default = top.get("default_language")
    if codes and default not in codes:
        check.error(doc.place("default_language"), f"default_language should be one of {', '.join(codes)}")

    keys = _keys(check, doc, top.get("keys"))
    timing = _timing(check, doc, top.get("timing"))
    emergency = _fixed_number(check, doc, top, "emergency_number", "112")
    police = _fixed_number(check, doc, top, "police_number", "101")
    language_keys = {str(i): code for i, code in enumerate(codes, start=1)}
    for lkey, code in language_keys.items():
        if lkey in keys.all().values():
            check.error(doc.place("languages"), f"language {code} is chosen with key {lkey}, which is also a fixed key in keys")

    languages = []
    for lkey, code in language_keys.items():
        prompts = _prompts(check, prompts_dir / f"{code}.yaml", digest)
        if code not in top:
            check.error(doc.place("languages"), f"language '{code}' is offered but menus.yaml has no '{code}:' section with its menus")
            continue
        menus, helplines, main = _tree(check, doc, code, top[code], keys)
        if prompts is None:
            continue
        voice, speech_language, texts = prompts
        recordings = _recordings(check, prompts_dir / code, set(helplines) | set(top[code].get("helplines") or {}), digest)
        languages.append(Language(code, lkey, voice, speech_language, texts, main, menus, helplines, recordings))

    written = {str(h) for code in codes if isinstance(top.get(code), dict)
               and isinstance(top[code].get("helplines"), dict) for h in top[code]["helplines"]}
    budget = _budget(check, doc, top.get("timing"), written)
    if check.failed:
        return None, check.problems
    return Line(
        languages=tuple(languages),
        default_language=default,
        keys=keys,
        emergency_number=emergency,
        police_number=police,
        listen_seconds=timing["listen_seconds"],
        silences_before_goodbye=timing["silences_before_goodbye"],
        ring_seconds=timing["ring_seconds"],
        version=digest.hexdigest()[:12],
        budget=budget,
        short_transfer_seconds=timing["short_transfer_seconds"],
    ), check.problems


def _language_codes(data) -> set:
    if isinstance(data, dict) and isinstance(data.get("languages"), list):
        return {c for c in data["languages"] if isinstance(c, str)}
    return set()


def _keys(check: _Checker, doc: Located, value) -> Keys:
    defaults = {"repeat": "*", "back": "9", "main_menu": "0", "change_language": "8", "quick_exit": "#"}
    given = check.fields(doc, ("keys",), value, KEY_FIELDS, "keys")
    chosen = {}
    for name, default in defaults.items():
        key = str(given.get(name, default))
        if key not in KEYPAD:
            check.error(doc.place("keys", name), f"keys: {name} should be one key of the keypad (0-9, * or #), not '{key}'")
        chosen[name] = key
    seen: dict[str, str] = {}
    for name, key in chosen.items():
        if key in seen:
            check.error(doc.place("keys", name), f"keys: {name} and {seen[key]} both use key {key}; each needs its own")
        seen[key] = name
    return Keys(**chosen)


def _timing(check: _Checker, doc: Located, value) -> dict:
    given = check.fields(doc, ("timing",), value, TIMING_FIELDS, "timing")
    # A silent caller hears the list of topics at most twice in all: once, and once more at most.
    limits = {"listen_seconds": (3, 20), "silences_before_goodbye": (0, 1), "ring_seconds": (10, 60),
              "short_transfer_seconds": (0, 180)}
    out = dict(DEFAULT_TIMING)
    for name, (low, high) in limits.items():
        if name in given:
            v = given[name]
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
                check.error(doc.place("timing", name), f"timing: {name} should be a whole number from {low} to {high}")
            else:
                out[name] = v
    return out


def _budget(check: _Checker, doc: Located, value, known: set[str]) -> Budget:
    """timing: first_topic_within, numbers_within, page_within (seconds) and sooner: {helpline: seconds}."""
    given = value if isinstance(value, dict) else {}
    out = {}
    for name, field in (("first_topic_within", "first_topic"), ("numbers_within", "numbers"), ("page_within", "page")):
        if name in given:
            v = given[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 5 <= v <= 600:
                check.error(doc.place("timing", name), f"timing: {name} should be a number of seconds from 5 to 600")
            else:
                out[field] = v
    sooner = given.get("sooner") or {}
    if not isinstance(sooner, dict):
        check.error(doc.place("timing", "sooner"), "timing: sooner should list helplines with their seconds, like ecoute-violences-conjugales: 35")
        sooner = {}
    for hid, seconds in sooner.items():
        if str(hid) not in known:
            check.error(doc.place("timing", "sooner", hid), f"timing: sooner names '{hid}', which is no helpline of any language{_suggest(hid, known)}")
        elif isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 5 <= seconds <= 600:
            check.error(doc.place("timing", "sooner", hid), f"timing: sooner: {hid} should be a number of seconds from 5 to 600")
    out["sooner"] = MappingProxyType({str(h): float(v) for h, v in sooner.items()
                                      if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return Budget(**out)


def _fixed_number(check: _Checker, doc: Located, top: dict, name: str, default: str):
    written = str(top.get(name, default))
    try:
        number = numbers.parse(written)
    except numbers.NumberError as e:
        check.error(doc.place(name), f"{name}: {e}")
        return numbers.parse(default)
    if number.kind != numbers.EMERGENCY:
        check.error(doc.place(name), f"{name}: {written} is not a Belgian emergency number (112, 101, 100)")
    return number


def _prompts(check: _Checker, path: Path, digest) -> tuple[str, str, MappingProxyType] | None:
    try:
        doc = read(path)
    except YamlFileError as e:
        check.problems.append(e.problem)
        return None
    digest.update(doc.raw)
    data = doc.data if isinstance(doc.data, dict) else check.fields(doc, (), doc.data, PROMPT_FILE_FIELDS, f"prompts file {path.name}")
    for name in data:
        if str(name) not in PROMPT_FILE_FIELDS:
            check.warning(doc.place(name), f"the sentence '{name}' in {path.name} is never used by the line{_suggest(name, PROMPT_FILE_FIELDS)}")
    ok = True
    voice = check.text(doc, ("voice",), data.get("voice"), "voice (the Twilio voice, e.g. Polly.Isabelle-Neural)")
    speech_language = check.text(doc, ("language",), data.get("language"), "language (e.g. fr-BE)")
    texts = {}
    formatter = string.Formatter()
    for name, blanks in PROMPTS.items():
        if name not in data:
            check.error(doc.place(), f"the sentence '{name}' is missing from {path.name}; every language needs it")
            ok = False
            continue
        text = check.text(doc, (name,), data[name], f"the sentence '{name}'")
        if text is None:
            ok = False
            continue
        try:
            used = {field for _, field, _, _ in formatter.parse(text) if field is not None}
        except ValueError as e:
            check.error(doc.place(name), f"the sentence '{name}' has a broken {{blank}}: {e}")
            ok = False
            continue
        unknown = used - blanks
        if unknown:
            allowed = ", ".join("{" + b + "}" for b in sorted(blanks)) or "none"
            why = ("; sentences about a transfer never name the service, since someone in the room may hear them"
                   if "name" in unknown and name.startswith("transfer") else "")
            check.error(doc.place(name), f"the sentence '{name}' uses {', '.join('{' + u + '}' for u in sorted(unknown))}, which it cannot fill; it may use: {allowed}{why}")
            ok = False
            continue
        texts[name] = text
    if not ok or voice is None or speech_language is None:
        return None
    return voice, speech_language, MappingProxyType(texts)


def _recordings(check: _Checker, folder: Path, helpline_ids: set, digest) -> MappingProxyType:
    """Audio files under prompts/<language>/ named after a prompt or a helpline."""
    found = {}
    if not folder.is_dir():
        return MappingProxyType(found)
    names = RECORDABLE_PROMPTS | {str(h) for h in helpline_ids}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        where = Place(str(path), 1, 1)
        if path.suffix.lower() not in AUDIO_TYPES:
            check.warning(where, f"{path.name} is not played: recordings must be {' or '.join(AUDIO_TYPES)}")
            continue
        if path.stem in PROMPTS and path.stem not in RECORDABLE_PROMPTS:
            check.warning(where, f"{path.name} is not played: '{path.stem}' changes with each use (names, numbers or keys), so only the voice can say it")
            continue
        if path.stem not in names:
            check.warning(where, f"{path.name} matches no sentence or helpline, so it is never played{_suggest(path.stem, names)}")
            continue
        if path.stem in found:
            check.error(where, f"two recordings for '{path.stem}' in {folder}; keep one")
            continue
        content = path.read_bytes()
        if not content:
            check.error(where, f"{path.name} is empty; record it again or remove it")
            continue
        digest.update(content)
        found[path.stem] = Recording(path.name, hashlib.sha256(content).hexdigest()[:10])
    return MappingProxyType(found)


def _tree(check: _Checker, doc: Located, code: str, value, keys: Keys):
    section = check.fields(doc, (code,), value, LANGUAGE_FIELDS, f"the '{code}' section")
    raw_helplines = check.fields(doc, (code, "helplines"), section.get("helplines"), set(section.get("helplines") or {}), "helplines")
    helplines = {}
    menu_names = list(section["menus"]) if isinstance(section.get("menus"), dict) else []
    for name, kind in [(m, "menu") for m in menu_names] + [(h, "helpline") for h in raw_helplines]:
        if not NAME.match(str(name)):
            check.error(doc.place(code, f"{kind}s", name), f"'{name}' cannot name a {kind}: use small letters, digits and dashes, like sos-viol")
    for hid, hvalue in raw_helplines.items():
        helpline = _helpline(check, doc, (code, "helplines", hid), str(hid), hvalue)
        if helpline:
            helplines[str(hid)] = helpline

    raw_menus = section.get("menus")
    if not isinstance(raw_menus, dict) or not raw_menus:
        check.error(doc.place(code, "menus"), f"the '{code}' section needs menus: with at least the main menu")
        raw_menus = {}
    menus = {}
    for mid, mvalue in raw_menus.items():
        menus[str(mid)] = _menu(check, doc, (code, "menus", mid), str(mid), mvalue, keys)

    main = section.get("main_menu")
    if main is None:
        check.error(doc.place(code), f"the '{code}' section needs main_menu: the menu a caller hears first")
    elif str(main) not in menus:
        check.error(doc.place(code, "main_menu"), f"main_menu '{main}' is not one of the menus of '{code}'{_suggest(main, menus)}")

    for mid, menu in menus.items():
        for i, option in enumerate(menu.options):
            where = doc.place(code, "menus", mid, "options", i)
            if option.menu and option.menu not in menus:
                check.error(where, f"key {option.key} of menu '{mid}' leads to menu '{option.menu}', which does not exist{_suggest(option.menu, menus)}")
            for hid in option.helplines:
                if hid not in raw_helplines:
                    check.error(where, f"key {option.key} of menu '{mid}' reads helpline '{hid}', which does not exist{_suggest(hid, raw_helplines)}")
    for hid, helpline in helplines.items():
        for other in helpline.if_closed:
            if other not in raw_helplines:
                check.error(doc.place(code, "helplines", hid, "if_closed"), f"if_closed of helpline '{hid}' names '{other}', which does not exist{_suggest(other, raw_helplines)}")
    if main is not None and str(main) in menus:
        _reach(check, doc, code, menus, raw_helplines, str(main))
    return MappingProxyType(menus), MappingProxyType(helplines), str(main) if main is not None else ""


MAX_LEVELS = 3  # the main menu is level 1; callers get lost further down
# Past these the files are refused: a menu file never comes near them, a generated or hostile one
# would make every walk of the tree (the check's timing, the line's pages) take for ever.
MAX_KEYS_DEEP = 12
MAX_WAYS = 20_000  # the generated 2,000-helpline menu has 200


def _reach(check: _Checker, doc: Located, code: str, menus: dict, helplines: dict, main: str) -> None:
    """Walk the tree as callers can: loops are errors, unreachable or too deep parts warnings.

    Each menu is walked once, without recursion, and a menu's level is the deepest a caller can
    reach it at: walking every path instead took for ever on a few menus whose six keys all lead
    to the next one (6 to the power of their number), and recursing overflowed on a chain of
    20,000 menus."""
    reached_menus, reached_lines, too_deep = {main}, set(), set()
    state = {main: 1}  # 1: its options are being walked (on the way from the main menu), 2: done
    finished = []  # menus in the order their walk ended: the deepest first
    stack = [(main, iter(enumerate(menus[main].options)))]
    while stack:
        mid, options = stack[-1]
        for i, option in options:
            if option.helplines:
                reached_lines.update(option.helplines)
            elif option.menu in menus:
                if state.get(option.menu) == 1:
                    check.error(doc.place(code, "menus", mid, "options", i), f"key {option.key} of menu '{mid}' leads back to menu '{option.menu}', which leads here: a loop with no end")
                elif option.menu not in state:
                    reached_menus.add(option.menu)
                    state[option.menu] = 1
                    stack.append((option.menu, iter(enumerate(menus[option.menu].options))))
                    break
        else:
            state[mid] = 2
            finished.append(mid)
            stack.pop()
    order = {mid: n for n, mid in enumerate(finished)}
    level, ways = {main: 1}, {main: 1}
    for mid in reversed(finished):  # every menu after all those that lead to it (loops left out)
        for i, option in enumerate(menus[mid].options):
            if option.helplines:
                if level[mid] + 1 > MAX_LEVELS and mid not in too_deep:
                    too_deep.add(mid)
                    check.warning(doc.place(code, "menus", mid, "options", i), f"callers reach this at level {level[mid] + 1} (main menu is 1); keep the tree at most {MAX_LEVELS} levels deep")
            elif option.menu in menus and order[option.menu] < order[mid]:
                level[option.menu] = max(level.get(option.menu, 0), level[mid] + 1)
                ways[option.menu] = ways.get(option.menu, 0) + ways[mid]
    # Each way of keys to a menu is a page the line (and `check`'s timing) can be asked for: a few
    # menus whose keys all lead on to the next one make billions of them.
    deepest = max(finished, key=level.__getitem__)
    if level[deepest] > MAX_KEYS_DEEP:
        check.error(doc.place(code, "menus", deepest), f"callers reach menu '{deepest}' at level {level[deepest]} (main menu is 1): "
                    f"the line accepts at most {MAX_KEYS_DEEP} levels (keep it to {MAX_LEVELS})")
    elif sum(ways.values()) > MAX_WAYS:
        busiest = max(finished, key=ways.__getitem__)
        check.error(doc.place(code, "menus", busiest), f"callers can reach menu '{busiest}' by {ways[busiest]:,} different "
                    f"ways of keys, and all menus by more than the {MAX_WAYS:,} the line accepts: let fewer options lead to the same menus")
    for mid in menus:
        if mid not in reached_menus:
            check.warning(doc.place(code, "menus", mid), f"no caller can reach menu '{mid}': no option of another menu leads to it")
    for hid in helplines:
        if hid not in reached_lines:
            check.warning(doc.place(code, "helplines", hid), f"no caller can hear helpline '{hid}': no menu option lists it")


def _suggest(name, known) -> str:
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _menu(check: _Checker, doc: Located, path: tuple, mid: str, value, keys: Keys) -> Menu:
    data = check.fields(doc, path, value, MENU_FIELDS, f"menu '{mid}'")
    intro = check.text(doc, path + ("intro",), data.get("intro"), f"the intro of menu '{mid}'", required=False)
    raw_options = data.get("options")
    if not isinstance(raw_options, list) or not raw_options:
        check.error(doc.place(*path), f"menu '{mid}' needs options: a list of choices, each with a key")
        raw_options = []
    fixed = {key: name for name, key in keys.all().items()}
    options, seen = [], set()
    for i, ovalue in enumerate(raw_options):
        opath = path + ("options", i)
        o = check.fields(doc, opath, ovalue, OPTION_FIELDS, f"an option of menu '{mid}'")
        key = str(o.get("key", "")).strip()
        if len(key) != 1 or key not in KEYPAD:
            check.error(doc.place(*opath, "key"), f"each option of menu '{mid}' needs key: one key of the keypad, 1 to 7")
            continue
        if key in fixed:
            check.error(doc.place(*opath, "key"), f"key {key} in menu '{mid}' is the fixed key for {fixed[key].replace('_', ' ')} on every menu; pick another")
        if key in seen:
            check.error(doc.place(*opath, "key"), f"key {key} is used twice in menu '{mid}'")
        seen.add(key)
        say = check.text(doc, opath + ("say",), o.get("say"), f"say: (what key {key} of menu '{mid}' is for)") or ""
        targets = [t for t in ("menu", "helpline", "helplines") if t in o]
        if len(targets) != 1:
            check.error(doc.place(*opath), f"key {key} of menu '{mid}' needs exactly one of menu:, helpline: or helplines:")
            continue
        target = targets[0]
        if target == "menu":
            options.append(Option(key, say, str(o["menu"]), ()))
            continue
        lines = o[target] if target == "helplines" else [o[target]]
        if not isinstance(lines, list) or not lines or not all(isinstance(h, str) for h in lines):
            check.error(doc.place(*opath, target), f"{target}: of key {key} in menu '{mid}' should name helplines, e.g. [sos-viol]")
            continue
        options.append(Option(key, say, None, tuple(lines)))
    if len(raw_options) > 6:
        check.warning(doc.place(*path, "options"), f"menu '{mid}' has {len(raw_options)} options; callers remember at most six")
    return Menu(mid, intro, tuple(options))


def _short_target(transfer: str) -> str | None:
    """The short number a transfer target really is ("+32112" is 112), or None."""
    digits = re.sub(r"[ ./-]", "", transfer)
    for national in (digits[3:] if digits.startswith("+32") else None, digits):
        if national and not national.startswith(("0", "+")):
            try:
                if not numbers.parse(national).dialable:
                    return national
            except numbers.NumberError:
                pass
    return None


def _helpline(check: _Checker, doc: Located, path: tuple, hid: str, value) -> Helpline | None:
    data = check.fields(doc, path, value, HELPLINE_FIELDS, f"helpline '{hid}'")
    errors_before = len(check.problems)
    name = check.text(doc, path + ("name",), data.get("name"), f"the name of helpline '{hid}'")
    about = check.text(doc, path + ("about",), data.get("about"), "about", required=False)
    hours = check.text(doc, path + ("hours",), data.get("hours"), "hours", required=False)
    how = check.text(doc, path + ("how_to_reach",), data.get("how_to_reach"), "how_to_reach", required=False)
    source = check.text(doc, path + ("source",), data.get("source"), "source", required=False)
    free = check.flag(doc, path + ("free",), data.get("free"), "free")
    anonymous = check.flag(doc, path + ("anonymous",), data.get("anonymous"), "anonymous")
    show_caller = check.flag(doc, path + ("show_caller_number",), data.get("show_caller_number"), "show_caller_number")
    checked = data.get("checked")
    if checked is not None and not isinstance(checked, datetime.date):
        check.error(doc.place(*path, "checked"), "checked should be the date the number was verified, like 2026-11-28")
        checked = None
    elif checked is not None and check.today - checked > RECHECK_AFTER:
        check.warning(doc.place(*path, "checked"), f"helpline '{hid}' was last checked on {checked}, over a year ago: call the service or its site to re-check the number and hours, then update checked:")

    number = None
    number_broken = False
    if data.get("number") is not None:
        try:
            number = numbers.parse(str(data["number"]))
        except numbers.NumberError as e:
            check.error(doc.place(*path, "number"), f"helpline '{hid}': {e}")
            number_broken = True
    elif how is None:
        check.error(doc.place(*path), f"helpline '{hid}' needs a number: or, if it has none, how_to_reach: (a sentence saying how to contact it)")

    transfer = data.get("transfer")
    transfer_problems = len(check.problems)
    if transfer is not None and not number_broken:  # a broken number is reported once, above
        transfer = str(transfer).strip()
        where = doc.place(*path, "transfer")
        target = _short_target(transfer)
        if target is not None:
            check.error(where, f"helpline '{hid}': transfer: {transfer} is an emergency or short number ({target}); Twilio cannot put a caller through to it: remove transfer: (the line tells callers to hang up and dial it)")
        elif number is not None and not number.dialable:
            check.error(where, f"helpline '{hid}': {number.written} is an emergency or short number; the line can never put a caller through to it: remove transfer: (the line tells callers to hang up and dial it)")
        elif not transfer.startswith("+") or numbers.to_e164(transfer) != transfer:
            check.error(where, f"helpline '{hid}': transfer: should be the full number in international form, like +3280030030")
        elif number is None:
            check.error(where, f"helpline '{hid}': transfer: needs the number: a caller hears, so they can dial it themselves")
        elif number.e164 != transfer:
            check.error(where, f"helpline '{hid}': transfer: {transfer} is not the number callers hear ({number.written} is {number.e164})")
    transfer_valid = transfer is not None and not number_broken and len(check.problems) == transfer_problems
    opening = _opening_hours(check, doc, path + ("opening_hours",), data.get("opening_hours"))
    may_be_open = None
    if data.get("may_be_open") is not None:
        where = doc.place(*path, "may_be_open")
        if "opening_hours" in data:
            check.error(where, f"helpline '{hid}' has both opening_hours (hours a source confirms) and may_be_open (the widest hours, when none are confirmed): keep one")
        elif data["may_be_open"] == "always":
            check.error(where, f"helpline '{hid}': may_be_open: always says nothing; write the widest hours any source gives, like monday-friday: \"08:00-20:00\", or remove it")
        else:
            may_be_open = _opening_hours(check, doc, path + ("may_be_open",), data["may_be_open"])
    if_closed = data.get("if_closed") or []
    if not isinstance(if_closed, list) or not all(isinstance(h, str) for h in if_closed):
        check.error(doc.place(*path, "if_closed"), "if_closed should list helplines to name when this one is closed, e.g. [tele-accueil]")
        if_closed = []
    hours_text = data.get("hours")
    if hours_text is not None and not data.get("source"):
        # A caller acts on hours: a closed line at night is a door shut in their face.
        check.warning(doc.place(*path, "hours"), f"helpline '{hid}' says hours but gives no source: add source: (where the hours were checked), or remove hours:")
    choose = data.get("if_asked_to_choose")
    if choose is not None:
        choose = str(choose).strip()
        if len(choose) != 1 or choose not in KEYPAD:
            check.error(doc.place(*path, "if_asked_to_choose"), f"helpline '{hid}': if_asked_to_choose should be the one key to press in its switchboard's menu, like 1")
            choose = None
    if transfer_valid and "opening_hours" not in data and not if_closed:
        # Putting a frightened caller through to a line that rings out at night is worse than
        # reading them its number: a transfer needs confirmed hours, or an open line to name.
        check.error(doc.place(*path, "transfer"), f"helpline '{hid}' may be put through but has no opening_hours: add the hours a source confirms, or if_closed: a line that answers day and night (e.g. [tele-accueil]), said in case nobody answers")
    more = check.text(doc, path + ("more",), data.get("more"), "more", required=False)
    press = data.get("press_after_answer")
    if press is not None:
        press = str(press).strip()
        if not PRESS_AFTER_ANSWER.match(press):
            check.error(doc.place(*path, "press_after_answer"), f"helpline '{hid}': press_after_answer should be the keys to press once the line answers, like \"1\" (w waits half a second: \"ww1\")")
        elif transfer is None:
            check.error(doc.place(*path, "press_after_answer"), f"helpline '{hid}': press_after_answer is only used when callers are put through (transfer:)")
    if len(check.problems) > errors_before and any(p.severity == "error" for p in check.problems[errors_before:]):
        return None
    return Helpline(
        id=hid, name=name, about=about, hours=hours, free=free, anonymous=anonymous, number=number,
        transfer=transfer, how_to_reach=how, show_caller_number=show_caller, source=source, checked=checked,
        opening_hours=opening, if_closed=tuple(if_closed), press_after_answer=press, more=more,
        may_be_open=may_be_open, if_asked_to_choose=choose,
    )


_TIME = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")


def _opening_hours(check: _Checker, doc: Located, path: tuple, value) -> OpeningHours | None:
    """`always`, or days to hours: {monday-friday: "09:00-19:00", saturday: "10:00-12:00, 14:00-16:00",
    closed: [2026-12-25]}. Times are Brussels time; "22:00-02:00" runs past midnight."""
    if value is None:
        return None
    if value == "always":
        return OpeningHours(always=True)
    field = path[-1]  # opening_hours, or may_be_open (where 'always' is refused before)
    if not isinstance(value, dict):
        check.error(doc.place(*path), "opening_hours should be 'always' or days with hours, like monday-friday: \"09:00-19:00\""
                    if field == "opening_hours" else f"{field} should be days with hours, like monday-friday: \"09:00-19:00\"")
        return None
    weekly, closed, holidays_closed = [], set(), False
    for spec, hours in value.items():
        where = doc.place(*path, spec)
        if spec == "closed":
            if not isinstance(hours, list) or not all(isinstance(d, datetime.date) or d == PUBLIC_HOLIDAYS for d in hours):
                check.error(where, f"closed should list dates like [{PUBLIC_HOLIDAYS}, 2026-12-24, 2027-01-02]")
            else:
                holidays_closed = PUBLIC_HOLIDAYS in hours
                closed.update(d for d in hours if d != PUBLIC_HOLIDAYS)
            continue
        days = _days(str(spec))
        if days is None:
            check.error(where, f"'{spec}' is not a day: use monday ... sunday, a range like monday-friday, or every day")
            continue
        for part in str(hours).split(","):
            start, sep, end = part.strip().partition("-")
            s_match, e_match = _TIME.match(start.strip()), _TIME.match(end.strip())
            if not sep or not s_match or not e_match:
                check.error(where, f"'{hours}' should be hours like 09:00-19:00 (several: 09:00-12:00, 14:00-17:00)")
                break
            a = int(s_match[1]) * 60 + int(s_match[2])
            b = int(e_match[1]) * 60 + int(e_match[2])
            if a >= 1440 or b > 1440 or a == b:
                check.error(where, f"'{part.strip()}' is not a time range; use 00:00 to 24:00")
                break
            if b < a:
                b += 1440  # runs past midnight into the next day
            weekly.extend((day, a, b) for day in days)
    if not weekly:
        check.error(doc.place(*path), "opening_hours gives no day with hours; use 'always' for a line that always answers"
                    if field == "opening_hours" else f"{field} gives no day with hours: write the widest hours any source gives, or remove it")
        return None
    return OpeningHours(always=False, weekly=tuple(weekly), closed=frozenset(closed),
                        closed_on_public_holidays=holidays_closed)


def _days(spec: str) -> list[int] | None:
    spec = spec.strip().lower()
    if spec in ("every day", "everyday", "daily"):
        return list(range(7))
    first, _, last = spec.partition("-")
    if first.strip() not in DAYS or (last and last.strip() not in DAYS):
        return None
    a = DAYS.index(first.strip())
    b = DAYS.index(last.strip()) if last else a
    return [d % 7 for d in range(a, (b if b >= a else b + 7) + 1)]
