"""The interactive shell: the same click group, one line at a time.

Every line runs through ``shell.cli.cli`` with the session's :class:`App`, so
the REPL and the CLI cannot drift apart. Bad input prints one red line and the
shell goes on; ``exit``, ``quit`` or Ctrl-D leave it.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import click

from shell.app import App, state_dir

PROMPT = "trialbook> "
EXIT_WORDS = {"exit", "quit", ":q"}
HELP_WORDS = {"help", "?"}
BANNER = "trialbook shell: type a command (e.g. `ab list`), `help`, or `exit`."


# --------------------------------------------------------------------------- pure parts


def command_tree(group: click.Group, ctx: click.Context | None = None) -> dict[str, Any]:
    """``{name: subtree-or-option-list}`` of every command, for completion."""
    ctx = ctx or click.Context(group)
    tree: dict[str, Any] = {}
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        if isinstance(cmd, click.Group):
            tree[name] = command_tree(cmd, click.Context(cmd, parent=ctx))
        else:
            tree[name] = sorted(
                opt for p in cmd.params if isinstance(p, click.Option) for opt in (*p.opts, *p.secondary_opts)
            ) + ["--help"]
    return tree


def completions(tree: dict[str, Any], line: str) -> list[str]:
    """Candidates for the word being typed at the end of ``line``."""
    try:
        words = shlex.split(line)
    except ValueError:
        return []
    if line and not line[-1].isspace() and words:
        current, done = words[-1], words[:-1]
    else:
        current, done = "", words
    node: Any = {**tree, **{w: [] for w in (*HELP_WORDS, "exit", "quit")}} if not done else tree
    for w in done:
        if isinstance(node, dict) and w in node:
            node = node[w]
        elif w == "help" and node is tree:
            node = tree
        elif isinstance(node, list):
            break
        else:
            return []
    options = list(node) if isinstance(node, dict) else (node if current.startswith("-") else [])
    return sorted(o for o in options if o.startswith(current))


def split_line(line: str) -> list[str]:
    """The argv of a typed line; a one-line usage error if the quoting is broken."""
    try:
        return shlex.split(line)
    except ValueError as e:
        raise click.UsageError(f"cannot read that line ({e}); check the quotes") from None


# --------------------------------------------------------------------------- running lines


def run_line(app: App, line: str) -> bool:
    """Run one typed line; returns False when it failed (the error is already printed)."""
    from shell.cli import cli, user_errors

    text = line.strip()
    if not text or text.startswith("#"):
        return True
    try:
        argv = split_line(text)
        if argv[0] in HELP_WORDS:
            argv = [*argv[1:], "--help"]
        app.command_text = text
        app.tier = "repl" if app.interactive else "stdin"
        cli.main(args=argv, prog_name="trialbook", standalone_mode=False, obj=app)
        return True
    except click.exceptions.Exit as e:
        return e.exit_code == 0
    except click.ClickException as e:
        click.secho(f"Error: {e.format_message()}", fg="red", err=True)
        if isinstance(e, click.UsageError) and e.ctx is not None:
            click.echo(f"Try `{e.ctx.command_path.removeprefix('trialbook ')} --help`.", err=True)
        return False
    except click.Abort:
        click.secho("Aborted.", fg="red", err=True)
        return False
    except Exception as e:
        if isinstance(e, user_errors()):
            click.secho(f"Error: {e}", fg="red", err=True)
        else:
            click.secho(f"Error: internal error: {type(e).__name__}: {e}", fg="red", err=True)
        return False


def run_lines(app: App, lines: Iterable[str]) -> int:
    """Run piped lines in order; stop at the first error with exit status 1."""
    for line in lines:
        if line.strip() in EXIT_WORDS:
            return 0
        if not run_line(app, line):
            return 1
    return 0


# --------------------------------------------------------------------------- the terminal


def _session(app: App, input: Any = None, output: Any = None) -> Any:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    from shell.cli import cli

    tree = command_tree(cli)

    class TreeCompleter(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterator[Completion]:
            text = document.text_before_cursor
            word = "" if not text or text[-1].isspace() else text.split()[-1]
            for candidate in completions(tree, text):
                yield Completion(candidate, start_position=-len(word))

    history: Any
    try:
        directory = state_dir()
        directory.mkdir(parents=True, exist_ok=True)
        history = FileHistory(str(directory / "history"))
    except OSError:
        history = InMemoryHistory()
    return PromptSession(
        PROMPT,
        history=history,
        completer=TreeCompleter(),
        complete_while_typing=True,
        auto_suggest=AutoSuggestFromHistory(),
        bottom_toolbar=lambda: f" db: {app.db_path}",
        input=input,
        output=output,
    )


def repl(app: App, input: Any = None, output: Any = None) -> int:
    """Read and run lines until exit; returns the exit status."""
    session = _session(app, input=input, output=output)
    click.echo(BANNER)
    while True:
        try:
            line = session.prompt()
        except KeyboardInterrupt:
            continue  # Ctrl-C clears the line, never exits
        except EOFError:
            return 0
        if line.strip() in EXIT_WORDS:
            return 0
        run_line(app, line)


def run_repl(app: App) -> None:
    """Start the shell on a terminal, or run piped lines when stdin is not one."""
    if not sys.stdin.isatty():
        sys.exit(run_lines(app, sys.stdin))
    sys.exit(repl(app))
