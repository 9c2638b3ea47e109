"""The ``trialbook`` click group: the single registry of commands.

Command families live in ``shell/commands/*`` and are imported only when used,
so ``trialbook --help`` and write commands start fast. The REPL, completion,
help, the line checks and the LLM tier are all built from this group and
import it from here. The entry point is ``shell/cli.py`` (``main()``): it hands
the group the REPL to open when no command is given (:attr:`TrialbookGroup.repl`),
so nothing here imports the shell that imports the group.
"""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Callable
from typing import Any

import click

from trialbook.shell.app import App

#: command name -> "module:attribute" of its click command or group
COMMANDS: dict[str, str] = {
    "ab": "trialbook.shell.commands.ab:ab",
    "canary": "trialbook.shell.commands.canary:canary",
    "events": "trialbook.shell.commands.events:events",
    "export": "trialbook.shell.commands.export:export",
    "projections": "trialbook.shell.commands.events:projections",
    "demo": "trialbook.shell.commands.demo:demo",
    "audit": "trialbook.shell.commands.audit:audit",
    "ask": "trialbook.shell.commands.ask:ask",
    "eval": "trialbook.shell.commands.eval:eval_",
    "view": "trialbook.shell.commands.view:view",
    "report": "trialbook.shell.commands.report:report",
}

INTERNAL_ERROR = (
    "internal error: {kind}: {message}. This is a bug in trialbook; "
    "run again with TRIALBOOK_DEBUG=1 for details and report it"
)


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception classes whose message is meant for the user (imported lazily)."""
    from trialbook.domain.errors import DomainError
    from trialbook.store.errors import StoreError

    return (DomainError, StoreError)


class LazyGroup(click.Group):
    """A group whose subcommands named in ``lazy`` ("module:attribute") are imported on first use,
    so a command's module does not import its siblings' (``ab add-result`` never loads the
    analysis behind ``ab analyze``)."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            module, _, attr = self.lazy[name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)


class TrialbookGroup(LazyGroup):
    """The top group: subcommands imported on first use, and errors in one line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: what runs when the group is invoked with no subcommand; ``shell/cli.py``
        #: sets the REPL here, so this module never imports the terminal code
        self.repl: Callable[[App], None] | None = None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            # the command line as given (not sys.argv: CliRunner and the REPL pass their own)
            ctx.meta["trialbook.argv"] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise
        except Exception as e:
            if isinstance(e, user_errors()):
                raise click.ClickException(_with_names(ctx, str(e))) from e
            raise


def _with_names(ctx: click.Context, message: str) -> str:
    """An error with "did you mean" for a mistyped name (see :func:`shell.app.did_you_mean`)."""
    app = ctx.find_object(App)
    if app is None or "named '" not in message and "eval run '" not in message:
        return message
    from trialbook.shell.app import did_you_mean

    try:
        return did_you_mean(message, app.vocabulary())
    except Exception:  # the names are a hint: never let them hide the error itself
        return message


@click.group(
    cls=TrialbookGroup,
    lazy=COMMANDS,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    default=None,
    help="Database file (default: $TRIALBOOK_DB, else ~/.local/share/trialbook/trialbook.db).",
)
@click.version_option(package_name="trialbook", prog_name="trialbook")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """Record A/B tests and evals of LLM agents as an immutable event log, and read honest results.

    With no command, opens an interactive shell.

    \b
    Examples:
      trialbook demo
      trialbook ab create checkout-flow --variants cold,warm
      trialbook ab add-result checkout-flow --variant warm --tool-calls 12 --successful-calls 11 --success
      trialbook ab summary checkout-flow
    """
    if isinstance(ctx.obj, App):
        # inside the REPL: the session's App is reused line after line
        if db is not None:
            raise click.UsageError(
                "--db cannot be changed inside the shell; restart trialbook with --db"
            )
        return
    ctx.obj = App(db)
    ctx.obj.command_text = shlex.join(["trialbook", *ctx.meta.get("trialbook.argv", [])])
    ctx.call_on_close(ctx.obj.close)
    if ctx.invoked_subcommand is None:
        launch = cli.repl
        if launch is None:  # the group alone, without shell/cli.py: nothing to open
            click.echo(ctx.get_help())
            return
        ctx.obj.interactive = True
        launch(ctx.obj)
