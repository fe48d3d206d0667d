"""Command-line tools, as `python -m ivr ...` (they need no auth token and read broken menus too),
and registered on the app for `flask --app ivr ...` (which loads the app first)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..bench.command import bench_command
from ..menus.load import inspect
from ..menus.model import RECORDABLE_PROMPTS
from ..menus.yamlfile import read
from ..testers import tester
from . import fallback, timing
from .fallback import fallback_command


@click.command("check")
@click.argument("menus", required=False, envvar="IVR_MENUS")
@click.option("--prompts", "prompts_dir", envvar="IVR_PROMPTS", help="folder of the prompts files (default: prompts/ next to MENUS)")
def check_command(menus, prompts_dir):
    """Check menus.yaml and the prompts; list every problem with its file and line."""
    from .. import MENUS_FILE
    menus = menus or str(MENUS_FILE)
    line, problems = inspect(menus, prompts_dir)
    if line is not None:
        doc = read(menus)
        problems = problems + timing.problems(line, doc) + fallback.problems(line, doc)
    for problem in problems:
        click.echo(str(problem))
    errors = sum(p.severity == "error" for p in problems)
    if line is None:
        click.echo(f"{errors} error(s): the line would refuse these files and keep the last good ones.")
        sys.exit(1)
    if errors:  # only in the fallback: section, which the running line does not read
        click.echo(f"{errors} error(s) in the fallback: section: `ivr fallback` would refuse to write the document "
                   "Twilio plays when the line is down; the line itself would run.")
        sys.exit(1)
    for language in line.languages:
        recordable = set(RECORDABLE_PROMPTS) | set(language.helplines)
        recorded = sorted(language.recordings)
        spoken = sorted(recordable - set(recorded))
        click.echo(f"{language.code}: {len(recorded)} of {len(recordable)} texts recorded"
                   + (f" ({', '.join(recorded)})" if recorded else "")
                   + f"; spoken by the voice: {', '.join(spoken)}")
    languages = ", ".join(lang.code for lang in line.languages)
    click.echo(f"OK: {menus} ({languages}), version {line.version}"
               + (f", {len(problems)} warning(s)" if problems else ""))


def _load_or_exit(menus, prompts_dir):
    from .. import MENUS_FILE
    line, problems = inspect(menus or str(MENUS_FILE), prompts_dir)
    if line is None:
        for problem in problems:
            click.echo(str(problem), err=True)
        sys.exit(1)
    return line


@click.command("tree")
@click.argument("menus", required=False, envvar="IVR_MENUS")
@click.option("--prompts", "prompts_dir", envvar="IVR_PROMPTS", help="folder of the prompts files")
@click.option("--lang", help="only this language, e.g. fr or nl")
@click.option("--timing", "with_timing", is_flag=True,
              help="seconds of speech until the first topic and each helpline's number, against the budget")
def tree_command(menus, prompts_dir, lang, with_timing):
    """Print the phone tree as a caller hears it: keys, helplines, numbers, transfers."""
    from .overview import tree
    line = _load_or_exit(menus, prompts_dir)
    if lang and line.language(lang) is None:
        raise click.BadParameter(f"the line offers {', '.join(language.code for language in line.languages)}", param_hint="--lang")
    click.echo(timing.report(line, lang) if with_timing else tree(line, lang), nl=False)


@click.command("map")
@click.argument("menus", required=False, envvar="IVR_MENUS")
@click.option("--prompts", "prompts_dir", envvar="IVR_PROMPTS", help="folder of the prompts files")
@click.option("--readme", type=click.Path(exists=True, dir_okay=False),
              help="write the diagram into this Markdown file's ```mermaid block instead of printing it")
def map_command(menus, prompts_dir, readme):
    """Print the phone tree as a Mermaid diagram (GitHub and most editors draw it)."""
    from .overview import mermaid
    diagram = mermaid(_load_or_exit(menus, prompts_dir))
    if not readme:
        click.echo(diagram, nl=False)
        return
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    fence = "```mermaid\n"
    if fence not in text:
        raise click.ClickException(f"{readme} has no ```mermaid block to replace")
    start = text.index(fence) + len(fence)
    end = text.index("```", start)
    path.write_text(text[:start] + diagram + text[end:], encoding="utf-8")
    click.echo(f"wrote the map into {readme}")


COMMANDS = (check_command, tree_command, map_command, tester.call_command, tester.replay_command,
            fallback_command, bench_command)


@click.group()
def main():
    """The helpline phone line's tools."""


for _command in COMMANDS:
    main.add_command(_command)
