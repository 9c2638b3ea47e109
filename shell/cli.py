"""The ``trialbook`` command's entry point: ``main()``, and the REPL when no command is given.

The commands themselves are the click group in ``shell/group.py``, the single
registry the REPL, completion, help and the plain-language checks are built
from. This module gives that group its interactive shell (imported only when it
opens, so ``trialbook --help`` and write commands start fast) and is what the
console script and ``python -m trialbook`` run.
"""

from __future__ import annotations

import os
import sys

import click

from trialbook.shell.app import App
from trialbook.shell.group import INTERNAL_ERROR, cli
from trialbook.shell.render import color

__all__ = ["cli", "main", "run_shell"]


def run_shell(app: App) -> None:
    """Open the interactive shell on ``app`` (prompt_toolkit is imported only now)."""
    from trialbook.shell.repl import run_repl

    run_repl(app)


cli.repl = run_shell


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI, never showing a traceback unless asked."""
    try:
        cli.main(args=argv, prog_name="trialbook", standalone_mode=True, color=color())
    except SystemExit:
        raise
    except KeyboardInterrupt:  # pragma: no cover - interactive
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except Exception as e:  # pragma: no cover - the last line of defence
        if os.environ.get("TRIALBOOK_DEBUG"):
            raise
        click.secho(
            "Error: " + INTERNAL_ERROR.format(kind=type(e).__name__, message=e),
            fg="red",
            err=True,
            color=color(),
        )
        sys.exit(1)
