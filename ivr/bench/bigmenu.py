"""A generated menu far larger than the shipped one (200 menus, 2,000 helplines by default),
to show that loading stays fast and that a request costs the same whatever the menu's size.

The texts look like the shipped ones (same prompts, sentences of similar length); the numbers
are 0800 numbers in an unused-looking range and are only ever "dialled" by the simulated phone.
"""
from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import yaml

from .. import ROOT

OPTIONS_PER_MENU = 6  # the most a caller remembers; keys 1 to 6


def write_big_menu(folder: str | Path, menus: int = 200, helplines: int = 2000) -> Path:
    """Write menus.yaml and prompts/ into `folder`, split evenly between French and Dutch;
    returns the path of menus.yaml."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "languages": ["fr", "nl"],
        "default_language": "fr",
        "keys": {"repeat": "*", "back": "9", "main_menu": "0", "change_language": "8", "quick_exit": "#"},
        "emergency_number": "112",
        "police_number": "101",
    }
    words = {
        "fr": ("Menu", "Pour le sujet", "Ligne d'écoute", "Une écoute confidentielle pour le sujet",
               "Du lundi au vendredi de 9 heures à 19 heures"),
        "nl": ("Menu", "Voor het onderwerp", "Hulplijn", "Een vertrouwelijk gesprek over het onderwerp",
               "Op weekdagen van 9 tot 19 uur"),
    }
    for code, (menu_word, topic, line_word, about, hours) in words.items():
        doc[code] = _language(code, menus // 2, helplines // 2, menu_word, topic, line_word, about, hours)
    path = folder / "menus.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    shutil.copytree(ROOT / "prompts", folder / "prompts", dirs_exist_ok=True)
    return path


def _language(code, menu_count, helpline_count, menu_word, topic, line_word, about, hours) -> dict:
    # Menus form a tree in which menu i leads to menus 6i+1 .. 6i+6 (those that exist); every
    # other option reads helplines, which are dealt out over those pages in turn.
    menus, pages = {}, []
    for i in range(menu_count):
        options = []
        for key in range(1, OPTIONS_PER_MENU + 1):
            child = OPTIONS_PER_MENU * i + key
            option = {"key": key, "say": f"{topic} {i}.{key}"}
            if child < menu_count:
                option["menu"] = f"m{child}"
            else:
                option["helplines"] = []
                pages.append(option)
            options.append(option)
        menus[f"m{i}"] = {"intro": f"{menu_word} {i}.", "options": options}
    helplines = {}
    for n in range(helpline_count):
        hid = f"{code}-{n}"
        digits = f"{10000 + n:05d}"
        helpline = {
            "name": f"{line_word} {n}",
            "about": f"{about} {n}",
            "hours": hours,
            "free": True,
            "anonymous": n % 2 == 0,
            "number": f"0800 {digits[:2]} {digits[2:]}",
            "source": "generated for the benchmark",
            "checked": datetime.date(2026, 11, 28),
        }
        if n % 3 != 2:
            helpline["transfer"] = f"+32800{digits}"
            helpline["opening_hours"] = "always"  # a line callers are put through to needs known hours
        helplines[hid] = helpline
        pages[n % len(pages)]["helplines"].append(hid)
    for page in pages:
        if not page["helplines"]:  # fewer helplines than pages: point at one already read
            page["helplines"].append(f"{code}-0")
    return {"main_menu": "m0", "menus": menus, "helplines": helplines}
