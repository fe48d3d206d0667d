"""Command-line tools for operators, registered on the app (`flask --app ivr ...`) and
available as `python -m ivr ...`."""
from __future__ import annotations

import sys

import click

from .bench import bench_command
from .load import inspect


@click.command("check")
@click.argument("menus", required=False)
@click.option("--prompts", "prompts_dir", help="folder of the prompts files (default: prompts/ next to MENUS)")
def check_command(menus, prompts_dir):
    """Check menus.yaml and the prompts; list every problem with its file and line."""
    from . import ROOT
    menus = menus or str(ROOT / "menus.yaml")
    line, problems = inspect(menus, prompts_dir)
    for problem in problems:
        click.echo(str(problem))
    errors = sum(p.severity == "error" for p in problems)
    if line is None:
        click.echo(f"{errors} error(s): the line would refuse these files and keep the last good ones.")
        sys.exit(1)
    languages = ", ".join(lang.code for lang in line.languages)
    click.echo(f"OK: {menus} ({languages}), version {line.version}"
               + (f", {len(problems)} warning(s)" if problems else ""))


def register(app) -> None:
    app.cli.add_command(check_command)
    app.cli.add_command(bench_command)


@click.group()
def main():
    """The helpline phone line's tools."""


main.add_command(check_command)
main.add_command(bench_command)
