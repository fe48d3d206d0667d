"""Read a YAML file into plain Python data while remembering where each value was written.

Operators edit these files by hand; every problem we report must point at a file, a line and
a column, so we keep PyYAML's marks instead of throwing them away.
"""
from __future__ import annotations

import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Place:
    file: str
    line: int  # 1-based, as editors show it
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    place: Place
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        return f"{self.place}: {self.severity}: {self.message}"


class Located:
    """The data of one YAML file plus the place of every mapping key and value in it."""

    def __init__(self, file: str, data, places: dict[tuple, int]):
        self.file = file
        self.data = data
        # Line and column, 0-based, packed in one int (see _at), made a Place when asked for:
        # a menu has a place for every value, and an int takes 32 bytes where a Place takes 136.
        self._places = places
        self.raw = b""  # the file's bytes, when read from a file (`read`)

    def place(self, *path) -> Place:
        """Where the value at `path` was written; falls back to its nearest written parent."""
        path = tuple(path)
        while path:
            if path in self._places:
                return self._where(self._places[path])
            path = path[:-1]
        if () in self._places:
            return self._where(self._places[()])
        return Place(self.file, 1, 1)

    def _where(self, at: int) -> Place:
        return Place(self.file, (at >> 32) + 1, (at & 0xFFFFFFFF) + 1)


def _at(mark) -> int:
    return mark.line << 32 | mark.column


class YamlFileError(Exception):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


# Menu files are a few KB; the generated 2,000-helpline menu is 0.7 MB. A file past this cap is
# an accident (a log or a dump saved under the wrong name) and is refused before it is read.
MAX_FILE_BYTES = 4 * 1024 * 1024


def read(path: str | Path) -> Located:
    path = Path(path)
    name = str(path)
    raw = _read_raw(path, name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise YamlFileError(
            Problem(Place(name, 1, 1), f"this file is not UTF-8 text ({e.reason}); save it as UTF-8")
        ) from None
    doc = parse(text, name)
    doc.raw = raw  # the bytes read, for the menu's version: the file is never opened twice
    return doc


def _read_raw(path: Path, name: str) -> bytes:
    """Only a regular file is opened, and never waited on: a named pipe, a device or a socket saved
    under a menu's name would block the reader (the check command, or a worker's reload) for ever.
    O_NONBLOCK makes even a pipe swapped in after the first look open at once; the opened file is
    looked at again before a byte is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise YamlFileError(Problem(Place(name, 1, 1), "this file does not exist")) from None
    except IsADirectoryError:
        raise YamlFileError(Problem(Place(name, 1, 1), "this is a folder, not a file")) from None
    except OSError as e:
        raise YamlFileError(Problem(Place(name, 1, 1), f"this file cannot be opened ({e.strerror})")) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise YamlFileError(Problem(Place(name, 1, 1), f"this is {_kind(info.st_mode)}, not a regular file: "
                                                           "save the menu as an ordinary file"))
        if info.st_size > MAX_FILE_BYTES:
            raise YamlFileError(Problem(Place(name, 1, 1), f"this file is {_megabytes(info.st_size)}, over the "
                                                           f"{_megabytes(MAX_FILE_BYTES)} cap on menu files"))
        chunks, size = [], 0
        while True:  # a file that grows while it is read is stopped at the cap too
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_FILE_BYTES:
                raise YamlFileError(Problem(Place(name, 1, 1), f"this file is over the {_megabytes(MAX_FILE_BYTES)} "
                                                               "cap on menu files"))
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as e:
        raise YamlFileError(Problem(Place(name, 1, 1), f"this file cannot be read ({e.strerror})")) from None
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size % (1024 * 1024) else f"{size // (1024 * 1024)} MB"


# libyaml's parser (shipped in PyYAML's wheels) reads a large menu about ten times faster and
# keeps the same line and column marks; the pure-Python one is the fallback.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse(text: str, name: str) -> Located:
    try:
        data, places = _read_events(text, name)
    except YamlFileError:
        raise
    except (_NotPlain, yaml.YAMLError, RecursionError):
        # Anything unusual, and every mistake, is read again the reference way (the whole tree of
        # nodes first), which reports the same error, at the same place, as it always did.
        return _parse_composed(text, name)
    return Located(name, data, places)


def _parse_composed(text: str, name: str) -> Located:
    try:
        _refuse_aliases(text, name)
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as e:
        raise YamlFileError(_in_plain_words(e, text, name)) from None
    except yaml.YAMLError as e:
        raise YamlFileError(Problem(Place(name, 1, 1), f"YAML syntax: {e}")) from None
    places: dict[tuple, int] = {}
    if node is None:
        return Located(name, None, places)
    try:
        data = _build(node, (), name, places)
    finally:
        # The constructor keeps every node it built (for YAML aliases): forget this file's, or
        # each load and reload keeps its whole parsed tree (15 MB for a 2,000-helpline menu).
        _constructor.constructed_objects.clear()
        _constructor.recursive_objects.clear()
    return Located(name, data, places)


def _in_plain_words(e: yaml.MarkedYAMLError, text: str, name: str) -> Problem:
    """PyYAML's message for a mistake, in a volunteer's words and at the line to edit: where a
    tab is, where a quote that never closes opens (PyYAML notices it lines later), which line is
    indented differently. Anything else keeps PyYAML's words."""
    mark = e.problem_mark or e.context_mark
    if mark is None:
        return Problem(Place(name, 1, 1), f"YAML syntax: {e.problem or e.context or 'the YAML cannot be read'}")
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    inside = _quote_inside_quotes(lines, mark.line)
    if inside is not None:
        row, column, message = inside
        return Problem(Place(name, row + 1, column + 1), message)
    opened = _unclosed_quote(text, e)
    if opened is not None:
        quote, at = opened
        what = "double quote (\")" if quote == '"' else "single quote (')"
        if quote == "'":  # most often an apostrophe that starts a text: Dutch 's avonds, 't
            return Problem(Place(name, at.line + 1, at.column + 1),
                           f"the {what} opened here is never closed on its line: if it is an apostrophe "
                           "('s avonds), put the whole text in double quotes (\"'s avonds\"); if not, "
                           "end the text with '")
        return Problem(Place(name, at.line + 1, at.column + 1),
                       f"the {what} opened here is never closed on its line: end the text with {quote}")
    tab = _tab_near(lines, mark.line, e.context_mark)
    if tab is not None:
        row, column = tab
        return Problem(Place(name, row + 1, column + 1),
                       f"a tab at line {row + 1}, column {column + 1}: indent with spaces, never tabs")
    if e.problem == "mapping values are not allowed in this context" and ": " in line[:mark.column].lstrip(" -"):
        return Problem(Place(name, mark.line + 1, mark.column + 1),
                       "a colon followed by a space inside a text: put the whole text in double quotes")
    if e.context in ("while parsing a flow sequence", "while parsing a flow mapping") and e.context_mark:
        bracket, closer = ("[", "]") if "sequence" in e.context else ("{", "}")
        return Problem(Place(name, e.context_mark.line + 1, e.context_mark.column + 1),
                       f"the {bracket} opened here is never closed: end the list with {closer} on the same line")
    if e.problem and (e.problem in ("did not find expected key", "did not find expected '-' indicator",
                                    "mapping values are not allowed in this context")
                      or e.problem.startswith("expected <block end>")):
        return Problem(Place(name, mark.line + 1, 1),
                       "this line is indented differently from the lines around it: line it up with the "
                       "lines of the same list or section, with spaces")
    return Problem(Place(name, mark.line + 1, mark.column + 1), f"YAML syntax: {e.problem or e.context}")


# A value that starts with a quote: `say: '...`, `- "...`, `name: "...`
_QUOTED_VALUE = re.compile(r"""^(\s*(?:-\s+)?(?:[^\s'"#\[{][^:#]*:\s+)?)(['"])""")


def _quote_inside_quotes(lines: list[str], row: int) -> tuple[int, int, str] | None:
    """(row, column, message) of a quote inside a quoted text that ends the text too early: an
    apostrophe in single quotes (French d'écoute, Dutch zo'n, 's avonds) or a double quote in double
    quotes. PyYAML then reads the rest of the line as something else and blames the indentation,
    on that line or the next; so the line it names and the one before are looked at."""
    for r in range(min(row, len(lines) - 1), max(row - 2, -1), -1):
        text = lines[r]
        found = _QUOTED_VALUE.match(text)
        if found is None:
            continue
        quote, start = found.group(2), found.end()
        i = start
        while i < len(text):
            if quote == "'" and text[i:i + 2] == "''":  # YAML's own way to write ' in single quotes
                i += 2
                continue
            if quote == '"' and text[i] == "\\":
                i += 2
                continue
            if text[i] == quote:
                break
            i += 1
        else:
            continue  # never closed: _unclosed_quote's case
        rest = text[i + 1:].split(" #")[0].strip()
        if not rest or rest[0] in ",]}":
            continue
        word = text[text.rfind(" ", 0, i) + 1:].split(" ")[0].rstrip(",.;:!?")  # the word the quote is in
        if quote == "'" and word.endswith("'") and word.count("'") > 1:
            word = word[:-1]  # d'écoute', the text's own end
        whole = text.split(" #")[0].rstrip()
        inner = whole[start:-1] if whole.endswith(quote) and len(whole) > start else None
        if inner is not None and len(inner) > 50:
            inner = inner[:40].rstrip() + "…"
        if quote == "'":
            fix = f': "{inner}"' if inner is not None and '"' not in inner else ""
            return r, i, (f"the apostrophe in {word} ends the text that the single quote (') at column {start} "
                          f"opened: put the whole text in double quotes instead{fix}")
        fix = f": '{inner}'" if inner is not None and "'" not in inner else ""
        return r, i, (f"the double quote (\") in {word} ends the text that the double quote at column {start} "
                      f"opened: put the whole text in single quotes instead{fix}, or write the quotes inside "
                      "it as « »")
    return None


def _unclosed_quote(text: str, error: yaml.MarkedYAMLError):
    """(quote, its mark) of a quote left open, or None. Menu texts never span lines, so the first
    quoted text that runs past its line is one: PyYAML reads on to the next quote in the file and
    fails there or later, lines below the mistake."""
    rows = text.splitlines()
    loader = _LOADER(text)
    try:
        while True:
            token = loader.get_token()
            if token is None or isinstance(token, yaml.StreamEndToken):
                break
            if (isinstance(token, yaml.ScalarToken) and token.style in ('"', "'")
                    and token.start_mark.line != token.end_mark.line):
                return token.style, token.start_mark
    except yaml.MarkedYAMLError as e:
        error = e  # the scanner's own complaint, if about a quote, is nearer the mistake
    except yaml.YAMLError:
        pass
    finally:
        loader.dispose()
    at = error.context_mark
    if error.context == "while scanning a quoted scalar" and at is not None and at.line < len(rows):
        quote = rows[at.line][at.column:at.column + 1]
        return (quote if quote in ("'", '"') else '"'), at
    return None


def _tab_near(lines: list[str], row: int, context_mark) -> tuple[int, int] | None:
    """The tab in the indentation of the line PyYAML stopped at (or of the line it was reading)."""
    rows = [row] + ([context_mark.line] if context_mark is not None else [])
    for r in rows:
        if r < len(lines):
            text = lines[r]
            indent = text[:len(text) - len(text.lstrip(" \t"))]
            if "\t" in indent:
                return r, indent.index("\t")
    return None


def _stray_quote(value: str, start_mark, name: str) -> YamlFileError | None:
    """A text written without quotes that holds an unmatched double quote, or ends in one: a quote
    forgotten at its start (`say: Pour les violences"`), which the voice would stumble on."""
    if value.count('"') % 2 == 0 and not (value.endswith("'") and value[:-1].count("'") % 2 == 0):
        return None
    quote, kind = ('"', "double") if value.count('"') % 2 else ("'", "single")
    column = start_mark.column + value.rindex(quote) if "\n" not in value else start_mark.column
    return YamlFileError(Problem(
        Place(name, start_mark.line + 1, column + 1),
        f"a stray {kind} quote ({quote}) in this text: put {quote} at both "
        f"its start and its end, or take it out"))


_ALIASES = ("anchors (&) and aliases (*) are not accepted in menu files: write the text out where it "
            "is needed (a few lines of aliases can stand for millions of values)")


def _refused_at(event, name: str, message: str) -> YamlFileError:
    """The file refused at where a parser's event starts: an alias, a level or a value too many."""
    return YamlFileError(Problem(Place(name, event.start_mark.line + 1, event.start_mark.column + 1), message))


def _refuse_aliases(text: str, name: str) -> None:
    """The first anchor or alias in the file is refused, before any of its values is built: nine
    lines of nine aliases each would build nine to the ninth values (an "alias bomb"). So is a file
    nested too deep or holding too many values (see _Bounds), before PyYAML's composer, which
    recurses once per level, sees it."""
    loader = _LOADER(text)
    bounds = _Bounds(name)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise _refused_at(event, name, _ALIASES)
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                bounds.enter(event)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                bounds.depth -= 1
            elif isinstance(event, yaml.ScalarEvent):
                bounds.value(event)
    finally:
        loader.dispose()


# A real menu file is 7 levels deep (menus.yaml: language, menus, a menu, options, an option...) and
# the generated 2,000-helpline menu holds about 53,000 values. A file past either bound is not a
# menu: 30,000 brackets in a row (60 KB) overflowed the C stack of PyYAML's composer (the process
# died with no word), and 2 million one-character values under the 4 MB cap take gigabytes once
# each is remembered with its line.
MAX_DEPTH = 40
MAX_VALUES = 150_000


class _Bounds:
    """Counts levels and values as the parser's events come, and refuses the first past a bound."""

    def __init__(self, name: str):
        self.name, self.depth, self.values = name, 0, 0

    def enter(self, event) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _refused_at(event, self.name,
                              f"lists and sections are nested more than {MAX_DEPTH} levels deep here (a menu file "
                              "needs fewer than 10): look for brackets [ or { that are opened and never closed")
        self.value(event)

    def value(self, event) -> None:
        self.values += 1
        if self.values > MAX_VALUES:
            raise _refused_at(event, self.name,
                              f"this file holds more than {MAX_VALUES:,} values by here (a menu of 2,000 helplines "
                              "holds 53,000): it is not a menu file, or far too large a menu for a phone line")


class _NotPlain(Exception):
    """Something the streamed reading leaves to the composed one: several documents, a tag it does not know, or any mistake (which the composed reading reports)."""


# What a plain scalar can be, built straight from its text, with no memory of it kept.
_SCALARS = {tag: yaml.SafeLoader.yaml_constructors[tag] for tag in (
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float", "tag:yaml.org,2002:binary", "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:str")}


def _read_events(text: str, name: str) -> tuple:
    """The same data and places as `_parse_composed`, built from the parser's events as they
    come: no tree of nodes (with two marks each) for the whole file is ever held, so reading a
    large menu needs a fraction of the memory, and leaves less of it behind."""
    loader = _LOADER(text)
    places: dict[tuple, int] = {}
    try:
        loader.get_event()  # the start of the stream
        if loader.check_event(yaml.StreamEndEvent):
            return None, places
        loader.get_event()  # the start of the document
        data = _from_events(loader, (), places, name, _Bounds(name))
        loader.get_event()  # the end of the document
        if not loader.check_event(yaml.StreamEndEvent):
            raise _NotPlain  # a second document
        return data, places
    finally:
        loader.dispose()


def _from_events(loader, path, places, name, bounds):
    event = loader.get_event()
    if isinstance(event, yaml.AliasEvent) or event.anchor is not None:
        raise _refused_at(event, name, _ALIASES)
    if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
        bounds.enter(event)
    else:
        bounds.value(event)
    places[path] = _at(event.start_mark)
    if isinstance(event, yaml.MappingStartEvent):
        out = {}
        key_path = path + ("<key>",)
        while not loader.check_event(yaml.MappingEndEvent):
            key = _from_events(loader, key_path, places, name, bounds)
            if isinstance(key, (dict, list)) or key in out:
                raise _NotPlain
            if type(key) is str:
                key = sys.intern(key)  # "name", "about"...: one string for every helpline
            key_place = places[key_path]
            out[key] = _from_events(loader, path + (key,), places, name, bounds)
            places[path + (key,)] = key_place
        loader.get_event()
        bounds.depth -= 1
        places.pop(key_path, None)
        return out
    if isinstance(event, yaml.SequenceStartEvent):
        out = []
        while not loader.check_event(yaml.SequenceEndEvent):
            out.append(_from_events(loader, path + (len(out),), places, name, bounds))
        loader.get_event()
        bounds.depth -= 1
        return out
    tag = event.tag
    if not event.style and ('"' in event.value or event.value.endswith("'")):
        stray = _stray_quote(event.value, event.start_mark, name)
        if stray is not None:
            raise stray
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    construct = _SCALARS.get(tag)
    if construct is None:
        raise _NotPlain
    return construct(_constructor, yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style))


def _place(node, name) -> Place:
    return Place(name, node.start_mark.line + 1, node.start_mark.column + 1)


_constructor = yaml.SafeLoader("")


def _build(node, path, name, places):
    places[path] = _at(node.start_mark)
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = _build(key_node, path + ("<key>",), name, places)
            if isinstance(key, (dict, list)):
                raise YamlFileError(Problem(_place(key_node, name), "a name cannot be a list or a mapping"))
            if key in out:
                raise YamlFileError(
                    Problem(_place(key_node, name), f"'{key}' is written twice here; keep one")
                )
            out[key] = _build(value_node, path + (key,), name, places)
            # The key's own line is the most useful place to point at for its value too.
            places[path + (key,)] = _at(key_node.start_mark)
        places.pop(path + ("<key>",), None)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), name, places) for i, item in enumerate(node.value)]
    if not node.style and isinstance(node.value, str) and ('"' in node.value or node.value.endswith("'")):
        stray = _stray_quote(node.value, node.start_mark, name)
        if stray is not None:
            raise stray
    try:
        return _constructor.construct_object(node, deep=True)
    except yaml.YAMLError as e:
        raise YamlFileError(Problem(_place(node, name), f"YAML value: {e}")) from None
