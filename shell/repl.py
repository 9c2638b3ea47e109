"""The interactive shell: the same click group one line at a time, and plain requests.

A line whose first word is a command (or ``help``, ``?``, ``use``, ``exit``,
``quit``) runs through ``shell.group.cli`` with the session's :class:`App`, so the
REPL and the CLI cannot drift apart. Any other line is a plain request: the
deterministic parser (``trialbook.plain.translate``) turns it into one command line, which is
checked against the click group (it must parse; its numbers must be written in
the request; its names must exist in the store or be written in it), echoed as
``→ LINE``, and run: reads at once, writes after ``[y/N]`` (default No; EOF is
No). A request missing a required value opens the line pre-filled for editing.
Requests the rules do not understand can go to an optional LLM tier
(``TRIALBOOK_LLM_BASE_URL``), whose output is checked and confirmed the same way.

Bad input prints one red line and the shell goes on; piped input runs lines in
order and exits 1 at the first error (a plain-language write is refused there:
nobody can confirm it). The pure parts are functions tested without a terminal:
the command tree and completion (``shell.command_tree``) and the checks
(``shell.line_checks``); the LLM tier is ``shell.llm_tier``. This module runs
lines and holds the terminal session; prompt_toolkit is imported only when a
terminal session starts.
"""

from __future__ import annotations

import difflib
import re
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import click

from trialbook.shell.app import App, history_path
from trialbook.shell.command_tree import (
    EXIT_WORDS,
    HELP_WORDS,
    SHELL_WORDS,
    command_tree,
    completions,
    names_for,
    split_line,
    toolbar_text,
    value_kind,
)
from trialbook.shell.line_checks import (
    command_exists,
    needs_confirmation,
    parse_command,
    resolve_command,
)
from trialbook.shell.llm_tier import NOT_UNDERSTOOD, interpret

if TYPE_CHECKING:
    from trialbook.plain.types import Translation, Vocabulary

PROMPT = "trialbook> "
CONTINUATION = "...       > "
BANNER = (
    'trialbook shell: type a command (`ab list`) or a plain request ("add a warm result: '
    '12 calls, 11 ok"); `help`, `help examples`, `exit`.'
)
SHELL_HELP = """\
Shell:
  Type a command without the `trialbook` prefix, or say what you want:
    what tests do I have?            summarize checkout-flow
    add a warm result: 12 calls, 11 ok, took 40s
  A request is echoed as the command it became (→ …). Reads run at once;
  writes ask [y/N] (Enter or Ctrl-D means No). A request missing a value opens
  the command line pre-filled: finish it and press Enter, or Ctrl-C to cancel.

  help examples      plain requests beside the commands they become
  help COMMAND       a command's options, e.g. `help ab add-result`
  use NAME           focus a test or run; later lines may leave it out (`use -` clears)
  clear              clear the screen
  exit, quit         leave (or Ctrl-D on an empty line)
  A command copied from the README with its `trialbook ` prefix runs as it is.

Keys: Tab completes commands, options and names from the store (one match:
at once; several: the menu, Tab again walks it); Ctrl-C clears the line or
cancels a running command (an eval run is recorded as interrupted, and
`eval resume` takes it up); Esc Enter inserts a newline; Up/Down walk history.
NO_COLOR=1 turns colours off."""
PIPED_WRITE = (
    "plain-language writes need a [y/N] confirmation, which piped input cannot give; "
    'pipe the command line itself, or use `trialbook ask "…" --yes`'
)


# --------------------------------------------------------------------------- running command lines


def invoke(app: App, argv: Sequence[str]) -> None:
    """Run one command line through the click group with the session's App; errors propagate."""
    from trialbook.shell.group import cli
    from trialbook.shell.render import color

    cli.main(args=list(argv), prog_name="trialbook", standalone_mode=False, obj=app, color=color())


#: ``trialbook ab list`` or ``$ trialbook ab list`` pasted from the README: the prefix goes
_PREFIX = re.compile(r"^(?:\$\s+)?trialbook(?:\s+|$)")


def without_prefix(text: str) -> str:
    """``text`` without a leading ``trialbook `` (or ``$ trialbook ``), as the README writes commands.

    Only when what follows is a command, a shell word or an option (so a plain request
    that starts with the word "trialbook" is left alone); ``trialbook`` alone is ``help``.
    """
    m = _PREFIX.match(text)
    if not m:
        return text
    rest = text[m.end() :].strip()
    if not rest:
        return "help"
    first = rest.split()[0]
    if first.startswith("-") or first in SHELL_WORDS or Shell.is_command(first):
        return rest
    return text


def shell_spelling(message: str) -> str:
    """A message as the shell spells commands: `ab list`, not `trialbook ab list`."""
    message = re.sub(r"([`'\"])trialbook (?!--db)", r"\1", message)  # --db: a new session
    return re.sub(r"Try '([^']*?) --help'", r"Try `help \1`", message)


def examples_text() -> str:
    """``help examples``: plain requests beside the command each becomes (available commands only)."""
    from trialbook.plain.translate import examples

    lines = ["Plain requests and the command each becomes (names from a sample store):", ""]
    for request, command in examples():
        if command_exists(shlex.split(command)):
            lines.append(f"  {request}")
            lines.append(f"      → {command}")
    return "\n".join(lines)


def _kind_of_focus(name: str, vocab: Vocabulary) -> str | None:
    if name in vocab.tests or name in vocab.archived:
        return "test"
    if name in vocab.runs:
        return "run"
    return None


def with_focus(argv: list[str], focus: str | None, vocab: Vocabulary) -> list[str] | None:
    """``argv`` with the focused test or run put in as its first argument, when click says it is missing."""
    if not focus:
        return None
    try:
        parse_command(argv)
        return None
    except click.MissingParameter as e:
        if not isinstance(e.param, click.Argument):
            return None
    except click.UsageError:
        return None
    path, cmd, _, args = resolve_command(argv)
    arguments = [p for p in cmd.params if isinstance(p, click.Argument)]
    kind = value_kind(path, arguments[0]) if arguments else None
    focus_kind = _kind_of_focus(focus, vocab)
    if focus_kind is None or kind not in (focus_kind, "test-or-run"):
        return None
    at = len(argv) - len(args)
    candidate = [*argv[:at], focus, *argv[at:]]
    try:
        parse_command(candidate)
    except click.UsageError:
        return None
    return candidate


class PagedStdout:
    """Holds a read's output; at the end it goes through a pager if it is taller than the terminal.

    Output that keeps coming after ``grace`` seconds (a long or following command) is
    passed straight through instead, so nothing waits on the pager.
    """

    def __init__(self, real: TextIO, height: int, grace: float = 1.0) -> None:
        self.real = real
        self.height = height
        self.grace = grace
        self.start = time.monotonic()
        self.parts: list[str] = []
        self.through = False
        self.encoding = getattr(real, "encoding", "utf-8") or "utf-8"
        self.errors = getattr(real, "errors", "strict") or "strict"

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError("text only")
        if self.through:
            return self.real.write(s)
        self.parts.append(s)
        if time.monotonic() - self.start > self.grace:
            self._pass_through()
        return len(s)

    def _pass_through(self) -> None:
        self.through = True
        self.real.write("".join(self.parts))
        self.parts.clear()
        self.real.flush()

    def flush(self) -> None:
        if self.through:
            self.real.flush()

    def isatty(self) -> bool:
        return True

    def finish(self, pager: Callable[[str], None]) -> None:
        """Show what was held: through ``pager`` if taller than the terminal, else directly."""
        if self.through:
            return
        text = "".join(self.parts)
        self.parts.clear()
        if text.count("\n") > max(self.height - 2, 1):
            pager(text)
        else:
            self.real.write(text)
            self.real.flush()


def refusal_hints(t: Translation, width: int = 100) -> list[str]:
    """The lines under a refusal: "did you mean" (a command word or names) and a few close examples."""
    from trialbook.shell.group import cli

    lines: list[str] = []
    if t.reason.startswith(NOT_UNDERSTOOD) and t.text.split():
        word = t.text.split()[0].lower()
        commands = [*cli.list_commands(click.Context(cli)), *SHELL_WORDS]
        close = difflib.get_close_matches(word, commands, n=2, cutoff=0.75)
        if close:
            which = " or ".join(f"`{c}`" for c in close)
            lines.append(f"  did you mean the command {which}? (`help {close[0]}`)")
    names = [s for s in t.suggestions if "  →  " not in s]
    if names and not any(n in t.reason for n in names):
        lines.append(f"  did you mean {' or '.join(names[:3])}?")
    examples = [s for s in t.suggestions if "  →  " in s][:3]
    if examples:
        lines.append("  close examples:")
    for s in examples:
        line = f"    {s}"
        lines.append(line if len(line) <= width else line[: max(width - 1, 20)] + "…")
    return lines


class Shell:
    """Runs lines: commands, ``help``, ``use``, and plain requests (confirmed before a write).

    ``confirm(line)`` asks whether to run a write (None: nobody can confirm, so plain
    writes are refused); ``edit(prefill)`` returns the edited line or None (cancelled).
    """

    def __init__(
        self,
        app: App,
        *,
        confirm: Callable[[str], bool] | None = None,
        edit: Callable[[str], str | None] | None = None,
        page: bool = False,
    ) -> None:
        self.app = app
        self.confirm = confirm
        self.edit = edit
        self.page = page
        self.source = "repl" if app.interactive else "stdin"

    # ---------------------------------------------------------------- dispatch
    def handle(self, line: str) -> bool:
        """Run one line; False when it failed (the error is already printed)."""
        text = without_prefix(line.strip())
        if not text or text.startswith("#"):
            return True
        first = text.split()[0]
        try:
            if text == "clear":
                click.clear()
                return True
            if first in HELP_WORDS:
                return self.help(split_line(text)[1:])
            if first == "use":
                return self.use(split_line(text)[1:])
            if first.startswith("-") or self.is_command(first):
                return self.typed(text)
            return self.plain(text)
        except click.ClickException as e:
            self.error(e.format_message())
            return False

    @staticmethod
    def is_command(word: str) -> bool:
        from trialbook.shell.group import cli

        return word in cli.list_commands(click.Context(cli))

    def error(self, message: str) -> None:
        click.secho(f"Error: {shell_spelling(message)}", fg="red", err=True)

    # ---------------------------------------------------------------- shell words
    def help(self, args: list[str]) -> bool:
        if args == ["examples"]:
            click.echo(examples_text())
            return True
        ok = self.run(["--help"] if not args else [*args, "--help"])
        if not args:
            click.echo("")
            click.echo(SHELL_HELP)
        return ok

    def use(self, args: list[str]) -> bool:
        if not args:
            click.echo(
                f"In focus: {self.app.focus}"
                if self.app.focus
                else "Nothing in focus; `use NAME` focuses a test or run."
            )
            return True
        if len(args) > 1:
            self.error("`use` takes one name: `use NAME`")
            return False
        name = args[0]
        vocab = self.app.vocabulary()
        if _kind_of_focus(name, vocab):
            self.app.focus = name
            click.echo(f"Focus: {name}. Requests and commands may now leave it out.")
            return True
        if name in ("-", "none", "off"):
            self.app.focus = None
            click.echo("Focus cleared.")
            return True
        from trialbook.plain.request import suggest

        close = suggest(name, names_for("test-or-run", vocab))
        hint = f"; did you mean {' or '.join(close)}?" if close else "; see `ab list`"
        self.error(f"there is no test or run named {name!r}{hint}")
        return False

    # ---------------------------------------------------------------- typed commands
    def typed(
        self, text: str, *, input_text: str | None = None, parser_tier: str = "command"
    ) -> bool:
        argv = split_line(text)
        command = text
        if self.app.focus:
            expanded = with_focus(argv, self.app.focus, self.app.vocabulary())
            if expanded is not None:
                argv, command = expanded, shlex.join(expanded)
                click.secho(f"→ {command}", fg="cyan")
        self.app.set_command(
            command, tier=self.source, input_text=input_text or text, parser_tier=parser_tier
        )
        return self.run(argv)

    # ---------------------------------------------------------------- plain requests
    def plain(self, text: str) -> bool:
        app = self.app
        t = interpret(text, app.vocabulary(), app.focus)
        if t.status == "refused":
            self.refusal(t)
            return False
        if t.status == "incomplete":
            return self.complete(t)
        click.secho(f"→ {t.line}", fg="cyan")
        if t.writes:
            if self.confirm is None:
                self.error(f"this writes: → {t.line}; {PIPED_WRITE}")
                return False
            app.pending = t.line
            try:
                yes = self.confirm(t.line)
            finally:
                app.pending = None
            if not yes:
                click.echo("Not run; nothing recorded.")
                return True
        app.set_command(t.line, tier=self.source, input_text=text, parser_tier=t.tier)
        return self.run(list(t.argv))

    def refusal(self, t: Translation) -> None:
        self.error(t.reason)
        for line in refusal_hints(t, shutil.get_terminal_size().columns):
            click.echo(line, err=True)

    def complete(self, t: Translation) -> bool:
        """An incomplete request: say what is missing and open the line pre-filled for editing."""
        allowed = f" (one of: {', '.join(t.suggestions[:8])})" if t.suggestions else ""
        needs = ", ".join(t.missing)
        if self.edit is None:
            self.error(
                f"{t.reason} — needs {needs}{allowed}; complete the command: {t.prefill.rstrip()} …"
            )
            return False
        click.secho(
            f"{t.reason} — needs {needs}{allowed}. Finish the line and press Enter (Ctrl-C cancels):",
            fg="yellow",
        )
        edited = self.edit(t.prefill)
        if edited is None or not edited.strip():
            click.echo("Cancelled; nothing run.")
            return True
        words = edited.split()
        if not (words[0].startswith("-") or self.is_command(words[0])):
            self.error("that is not a command line; nothing was run")
            return False
        return self.typed(edited.strip(), input_text=t.text, parser_tier=f"{t.tier}+edited")

    # ---------------------------------------------------------------- running
    def run(self, argv: list[str]) -> bool:
        """Run ``argv``; errors become one red line; Ctrl-C cancels it and says so."""
        from trialbook.shell.group import user_errors

        held: PagedStdout | None = None
        real = sys.stdout
        if self.page and real.isatty() and not needs_confirmation(argv):
            held = PagedStdout(real, shutil.get_terminal_size().lines)
            sys.stdout = held  # type: ignore[assignment]
        try:
            invoke(self.app, argv)
            return True
        except click.exceptions.Exit as e:
            return e.exit_code == 0
        except SystemExit as e:  # a command that exits itself (eval run on Ctrl-C: 130)
            return e.code in (0, None)
        except click.exceptions.NoArgsIsHelpError as e:  # a group alone (`ab`): its help
            click.echo(e.format_message())
            return True
        except click.ClickException as e:
            self.error(e.format_message())
            if isinstance(e, click.UsageError) and e.ctx is not None:
                path = e.ctx.command_path.removeprefix("trialbook").strip()
                click.echo(f"Try `help {path}`." if path else "Try `help`.", err=True)
            return False
        except click.Abort as e:
            if isinstance(e.__context__, KeyboardInterrupt):
                click.secho("Cancelled (Ctrl-C).", fg="red", err=True)
            else:
                click.secho("Aborted.", fg="red", err=True)
            return False
        except KeyboardInterrupt:
            click.secho("Cancelled (Ctrl-C).", fg="red", err=True)
            return False
        except Exception as e:
            if isinstance(e, user_errors()):
                self.error(str(e))
            else:
                self.error(f"internal error: {type(e).__name__}: {e}")
            return False
        finally:
            if held is not None:
                sys.stdout = real
                held.finish(lambda s: click.echo_via_pager(s, color=True))


def run_line(app: App, line: str) -> bool:
    """Run one line as piped input would (no confirmation possible); False when it failed."""
    return Shell(app).handle(line)


def run_lines(app: App, lines: Iterable[str]) -> int:
    """Run piped lines in order; stop at the first error with exit status 1."""
    shell = Shell(app)
    for line in lines:
        if line.strip() in EXIT_WORDS:
            return 0
        if not shell.handle(line):
            return 1
    return 0


# --------------------------------------------------------------------------- the terminal


def _completer(app: App) -> Any:
    """Fuzzy, threaded completion of commands, options and store names."""
    from prompt_toolkit.completion import Completer, Completion, FuzzyCompleter, ThreadedCompleter
    from prompt_toolkit.document import Document

    lock = threading.Lock()
    cache: dict[str, Any] = {}

    def tree() -> dict[str, Any]:
        with lock:
            if "tree" not in cache:
                from trialbook.shell.group import cli

                cache["tree"] = command_tree(cli)
            return cache["tree"]

    class Candidates(Completer):
        """Every candidate for the word at the cursor (the fuzzy layer filters them)."""

        def get_completions(self, document: Document, complete_event: Any) -> Iterator[Completion]:
            for candidate in completions(
                tree(), document.text_before_cursor, app.vocabulary(), app.focus
            ):
                yield Completion(candidate, start_position=0)

    fuzzy = FuzzyCompleter(Candidates(), WORD=True)

    def options(document: Document) -> Iterator[Completion] | None:
        """An option being typed (``--var``, ``--``): prefix matches of the command's options.

        The fuzzy layer hands its completer the line without the word at the cursor, so
        it cannot tell an option from an argument; options are completed here instead.
        """
        text = document.text_before_cursor
        word = "" if not text or text[-1].isspace() else text.split()[-1]
        if not word.startswith("-") or without_prefix(text).split()[0].startswith("-"):
            return None
        found = completions(tree(), without_prefix(text), app.vocabulary(), app.focus)
        return iter([Completion(c, start_position=-len(word)) for c in found])

    class ShellCompleter(Completer):
        """Plain requests complete store names only from two typed characters on."""

        def get_completions(self, document: Document, complete_event: Any) -> Iterator[Completion]:
            text = document.text_before_cursor
            words = text.split()
            word = "" if not text or text[-1].isspace() else words[-1]
            plain = (
                bool(words)
                and (len(words) > 1 or text[-1].isspace())
                and words[0] not in (*tree(), *SHELL_WORDS)
            )
            if plain and len(word) < 2:
                return
            typed = options(document)
            if typed is not None:
                yield from typed
                return
            prefixed = without_prefix(text)
            if prefixed != text and prefixed != "help":  # `trialbook ab su` completes as `ab su`
                cut = len(text) - len(text.lstrip()) + (len(text.lstrip()) - len(prefixed))
                inner = Document(text[cut:], len(text) - cut)
                yield from fuzzy.get_completions(inner, complete_event)
                return
            yield from fuzzy.get_completions(document, complete_event)

    return ThreadedCompleter(ShellCompleter())


def _key_bindings() -> Any:
    from prompt_toolkit.key_binding import KeyBindings

    kb = KeyBindings()

    @kb.add("enter")
    def _submit(event: Any) -> None:
        event.current_buffer.validate_and_handle()

    @kb.add("escape", "enter")
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    @kb.add("tab")
    def _complete(event: Any) -> None:
        """One match: put it in at once (and a space); several: open or walk the menu."""
        complete(event.current_buffer)

    return kb


def complete(buffer: Any) -> None:
    """What Tab does to ``buffer``: a single completion is applied in one press.

    The candidates are computed now, from the text as it is (the menu shown while
    typing may be a keystroke behind), so Enter right after runs the completed line.
    """
    from prompt_toolkit.completion import CompleteEvent

    if buffer.completer is None:
        return
    found = list(
        buffer.completer.get_completions(buffer.document, CompleteEvent(completion_requested=True))
    )
    unique = {(c.text, c.start_position) for c in found}
    if len(unique) == 1:
        if buffer.complete_state:
            buffer.cancel_completion()
        buffer.apply_completion(found[0])
        if not buffer.document.text_after_cursor[:1].isspace():
            buffer.insert_text(" ")
        return
    if buffer.complete_state:
        buffer.complete_next()
    elif found:
        buffer.start_completion(insert_common_part=True)


def _sessions(app: App, input: Any = None, output: Any = None) -> tuple[Any, Any]:
    """The command-line session (history, completion) and the yes/no session."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory

    history: History
    try:
        path = history_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        history = FileHistory(str(path))
    except OSError:
        history = InMemoryHistory()
    toolbar = lambda: toolbar_text(app)  # noqa: E731 - prompt_toolkit calls it on each redraw
    main: PromptSession[str] = PromptSession(
        PROMPT,
        history=history,
        completer=_completer(app),
        complete_while_typing=True,
        auto_suggest=AutoSuggestFromHistory(),
        bottom_toolbar=toolbar,
        multiline=True,
        prompt_continuation=lambda width, line, wrap: CONTINUATION[:width].rjust(width),
        key_bindings=_key_bindings(),
        input=input,
        output=output,
        color_depth=_color_depth(),
    )
    yes_no: PromptSession[str] = PromptSession(
        bottom_toolbar=toolbar, input=input, output=output, color_depth=_color_depth()
    )
    return main, yes_no


def _color_depth() -> Any:
    """One colour (none) when ``NO_COLOR`` is set, else prompt_toolkit's own choice."""
    from prompt_toolkit.output import ColorDepth

    from trialbook.shell.render import color

    return ColorDepth.DEPTH_1_BIT if color() is False else None


def warm_up(app: App) -> None:
    """Load what the first plain request and completion need (parser, commands, names, ledger code)."""
    try:
        import trialbook.ledger  # noqa: F401 - imported for its side effect: loaded before first use
        import trialbook.plain.translate  # noqa: F401
        from trialbook.projections import default_projections
        from trialbook.shell.group import cli

        default_projections()
        command_tree(cli)
        app.vocabulary()
    except Exception:  # pragma: no cover - warming is best effort; the real use reports errors
        pass


def _warm_up_after_first_draw(session: Any, app: App) -> None:
    """Start :func:`warm_up` in a background thread once the first prompt is on screen."""
    started = threading.Event()

    def after_render(_: Any) -> None:
        if not started.is_set():
            started.set()
            threading.Thread(
                target=warm_up, args=(app,), name="trialbook-warm-up", daemon=True
            ).start()

    session.app.after_render += after_render


def repl(app: App, input: Any = None, output: Any = None) -> int:
    """Read and run lines until exit; returns the exit status."""
    main, yes_no = _sessions(app, input=input, output=output)

    def confirm(line: str) -> bool:
        try:
            answer = yes_no.prompt("Run it? [y/N] ")
        except (EOFError, KeyboardInterrupt):
            click.echo("")
            return False
        return answer.strip().lower() in ("y", "yes")

    def edit(prefill: str) -> str | None:
        try:
            return str(main.prompt(default=prefill))
        except (EOFError, KeyboardInterrupt):
            return None

    shell = Shell(app, confirm=confirm, edit=edit, page=output is None)
    _warm_up_after_first_draw(main, app)
    with _colors():
        click.echo(BANNER)
        return _loop(main, shell)


def _colors() -> click.Context:
    """A click context for the shell's own lines, with ``NO_COLOR`` honoured (see :func:`render.color`)."""
    from trialbook.shell.group import cli
    from trialbook.shell.render import color

    return click.Context(cli, color=color())


def _loop(main: Any, shell: Shell) -> int:
    while True:
        try:
            line = main.prompt()
        except KeyboardInterrupt:
            continue  # Ctrl-C clears the line, never exits
        except EOFError:
            return 0
        if line.strip() in EXIT_WORDS:
            return 0
        try:
            shell.handle(line)
        except KeyboardInterrupt:  # between the parts of one line (e.g. while translating)
            click.secho("Cancelled (Ctrl-C).", fg="red", err=True)


def run_repl(app: App) -> None:
    """Start the shell on a terminal, or run piped lines when stdin is not one."""
    if not sys.stdin.isatty():
        app.interactive = False  # events record tier "stdin"
        with _colors():
            sys.exit(run_lines(app, sys.stdin))
    sys.exit(repl(app))


__all__ = [
    "App",
    "Shell",
    "examples_text",
    "invoke",
    "repl",
    "run_line",
    "run_lines",
    "run_repl",
]
