"""Command-line tools for operators, registered on the app (`flask --app ivr ...`) and
available as `python -m ivr ...`."""
from __future__ import annotations

import sys

import click

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
    app.cli.add_command(fallback_command)


@click.group()
def main():
    """The helpline phone line's tools."""


main.add_command(check_command)


@click.command("fallback")
@click.argument("menus", required=False)
@click.option("--prompts", "prompts_dir", help="folder of the prompts files (default: prompts/ next to MENUS)")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), help="write here instead of stdout")
@click.option("--caller-id", envvar="IVR_TRANSFER_CALLER_ID", default="",
              help="caller ID shown if the fallback transfers (default: IVR_TRANSFER_CALLER_ID)")
def fallback_command(menus, prompts_dir, out, caller_id):
    """Write the static TwiML for Twilio's "Primary handler fails" URL (see docs/operations.md)."""
    from . import ROOT
    from .fallback import FallbackError, build
    from .load import MenuError
    from .numbers import to_e164
    if caller_id and to_e164(caller_id) is None:
        raise click.UsageError(f"--caller-id {caller_id!r} is not a valid phone number (use +32...)")
    try:
        twiml = build(menus or str(ROOT / "menus.yaml"), prompts_dir, to_e164(caller_id) if caller_id else None)
    except (MenuError, FallbackError) as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write(twiml + "\n")
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(twiml)


main.add_command(fallback_command)
