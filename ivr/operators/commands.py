"""Command-line tools, as `python -m ivr ...` (they need no auth token and read broken menus too).
What a person can fix (a broken menu file, a missing setting, a line that does not answer) is said
in one sentence with exit status 2; `check` lists a broken file's problems and exits 1."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..bench.command import bench_command
from ..menus.load import MenuError, inspect
from ..menus.model import RECORDABLE_PROMPTS
from ..testers import tester
from . import fallback, timing
from .check import check_problems
from .fallback import fallback_command
from .studio import studio_command
from .twilio_account import twilio_group


@click.command("check")
@click.argument("menus", required=False, envvar="IVR_MENUS")
@click.option("--prompts", "prompts_dir", envvar="IVR_PROMPTS", help="folder of the prompts files (default: prompts/ next to MENUS)")
@click.option("--fallback", "fallback_file", type=click.Path(dir_okay=False),
              help=f"the fallback document pasted into Twilio, to compare with the menus "
                   f"(default: {fallback.DOCUMENT} next to MENUS, when there is one)")
def check_command(menus, prompts_dir, fallback_file):
    """Check menus.yaml and the prompts; list every problem with its file and line."""
    from .. import MENUS_FILE
    menus = menus or str(MENUS_FILE)
    line, problems = check_problems(menus, prompts_dir, fallback_file)
    for problem in problems:
        click.echo(str(problem))
    errors = sum(p.severity == "error" for p in problems)
    if line is None:
        click.echo(f"{errors} error(s): the line would refuse these files and keep the last good ones.")
        sys.exit(1)
    if errors:  # only about the fallback, which the running line does not read
        click.echo(f"{errors} error(s) in the fallback document Twilio plays when the line is down; "
                   "the line itself would run.")
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
        sys.exit(2)
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
@click.option("--markdown", is_flag=True, help="print the diagram in a ```mermaid fence, to paste into Markdown")
def map_command(menus, prompts_dir, readme, markdown):
    """Print the phone tree as a Mermaid diagram (GitHub and most editors draw it)."""
    from .overview import mermaid
    diagram = mermaid(_load_or_exit(menus, prompts_dir))
    if not readme:
        click.echo(f"```mermaid\n{diagram}```\n" if markdown else diagram, nl=False)
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


def _port(ctx, param, value):
    if value is None or (value.isdigit() and int(value) <= 65535):  # 0: any free port
        return 5000 if value is None else int(value)
    raise click.BadParameter(f"{value!r} should be a port number from 1 to 65535 (PORT, or --port)")


@click.command("run")
@click.option("--port", default=None, envvar="PORT", callback=_port, help="port on 127.0.0.1  [default: 5000]")
def run_command(port):
    """Serve the line on http://127.0.0.1:PORT for local development (what `make run` does)."""
    app = _app_or_exit()
    try:
        app.run(host="127.0.0.1", port=port)
    except OSError as e:  # the port is taken: another `make run`, or another program
        _refuse(f"cannot serve on 127.0.0.1:{port} ({e.strerror}): is the line already running? "
                f"Stop it, or use another port: PORT={port + 1} make run")


@click.command("serve")
def serve_command():
    """Start gunicorn as the Procfile does (what `make serve` does), once the line can start."""
    from .. import ROOT
    from ..environment import gunicorn_settings
    _app_or_exit()  # a refused start says why in one sentence here, not in gunicorn's traceback
    try:
        gunicorn_settings()  # ivr/ops/start.py checks them too; here with status 2, as every command says why
    except SystemExit as e:
        _refuse(str(e))
    from ..ops.start import procfile_command
    os.chdir(ROOT)
    command = procfile_command()
    os.execv(command[0], command)


def _app_or_exit():
    """The line as it would start with this environment; ConfigError is turned into one sentence."""
    from .. import create_app
    return create_app()


def _refuse(sentence: str) -> None:
    click.echo(sentence, err=True)
    sys.exit(2)


class _Tools(click.Group):
    """Every command: what a person can fix (a broken menu file, a missing setting, a line that does
    not answer) is said in one sentence with exit status 2, never as a traceback."""

    def invoke(self, ctx):
        from .. import ConfigError
        try:
            return super().invoke(ctx)
        except (MenuError, ConfigError) as e:
            _refuse(_one_sentence(str(e)))
        except tester.Unreachable as e:
            _refuse(str(e))


def _one_sentence(message: str) -> str:
    """A MenuError's message ("N problem(s) in the menu files:" then each) as the problems and
    the one thing to do."""
    head, _, rest = message.partition("\n")
    if not rest:
        return message
    return f"{rest}\nthe line cannot start with these menu files: fix the error(s) above (`make check` lists them all)"


COMMANDS = (check_command, tree_command, map_command, tester.call_command, tester.replay_command,
            fallback_command, bench_command, run_command, serve_command, studio_command)


@click.group(cls=_Tools)
def main():
    """The helpline phone line's tools."""


for _command in COMMANDS:
    main.add_command(_command)
main.add_command(twilio_group)  # python -m ivr twilio connect / check
