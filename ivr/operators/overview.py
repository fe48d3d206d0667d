"""The phone tree as operators review it: indented text (`tree`) or a Mermaid diagram (`map`).

Both walk the checked model the way a caller does, from each language's main menu.
"""
from __future__ import annotations

import re

from ..menus.model import Helpline, Language, Line, Menu
from ..menus.numbers import FULL


def _number(helpline: Helpline) -> str:
    if helpline.number is None:
        return "no number: " + (helpline.how_to_reach or "")
    if helpline.transfer:
        return f"{helpline.number.written}, transfers to {helpline.transfer}"
    if helpline.number.kind == FULL:
        return f"{helpline.number.written}, read out (no transfer)"
    return f"{helpline.number.written}, read out: hang up and dial (never transferred)"


def tree(line: Line, code: str | None = None) -> str:
    out = []
    for language in line.languages:
        if code and language.code != code:
            continue
        out.append(f"[{language.code}] key {language.key} at the language choice; voice {language.voice}")
        _tree_menu(language, (), 1, out)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _tree_menu(language: Language, path: tuple, depth: int, out: list) -> None:
    node = language.node(path)
    pad = "    " * depth
    if isinstance(node, Menu):
        if not path:
            out.append(f"{node.intro or ''}  (menu '{node.id}')".strip())
        for option in node.options:
            child = language.node(path + (option.key,))
            leads = f"  -> {child.intro or ''} (menu '{child.id}')" if isinstance(child, Menu) else ""
            out.append(f"{pad}{option.key}  {option.say}{leads}")
            _tree_menu(language, path + (option.key,), depth + 1, out)
        return
    transfer_keys = {h.id: k for k, h in node.transfers()}
    for helpline in node.helplines:
        key = transfer_keys.get(helpline.id)
        out.append(f"{pad}- {helpline.name}: {_number(helpline)}" + (f"  [key {key}: put through]" if key else ""))


def mermaid(line: Line) -> str:
    out = ["flowchart LR"]
    for language in line.languages:
        out.append(f"  subgraph {language.code}[\"{language.code}: key {language.key}\"]")
        _map_node(language, (), out)
        out.append("  end")
    return "\n".join(out) + "\n"


def _node_id(language: Language, path: tuple) -> str:
    keys = "_".join({"*": "star", "#": "hash"}.get(k, k) for k in path)
    return f"{language.code}_m{keys}"


def _label(text: str) -> str:
    return re.sub(r'["<>]', "'", text)


def _map_node(language: Language, path: tuple, out: list) -> None:
    node = language.node(path)
    me = _node_id(language, path)
    if isinstance(node, Menu):
        out.append(f"    {me}[\"{_label(node.intro or node.id)}\"]")
        for option in node.options:
            child = _node_id(language, path + (option.key,))
            _map_node(language, path + (option.key,), out)
            out.append(f"    {me} -->|\"{option.key}: {_label(option.say)}\"| {child}")
        return
    lines = []
    for helpline in node.helplines:
        number = helpline.number.written if helpline.number else "no number"
        arrow = " ☎" if helpline.transfer else ""
        lines.append(f"{_label(helpline.name)}: {number}{arrow}")
    out.append(f"    {me}([\"{'<br/>'.join(lines)}\"])")
