"""The interactive shell: the same click group one line at a time, and plain requests.

A line whose first word is a command (or ``help``, ``?``, ``use``, ``exit``,
``quit``) runs through ``shell.cli.cli`` with the session's :class:`App`, so the
REPL and the CLI cannot drift apart. Any other line is a plain request: the
deterministic parser (``shell.plain``) turns it into one command line, which is
checked against the click group (it must parse; its numbers must be written in
the request; its names must exist in the store or be written in it), echoed as
``→ LINE``, and run: reads at once, writes after ``[y/N]`` (default No; EOF is
No). A request missing a required value opens the line pre-filled for editing.
Requests the rules do not understand can go to an optional LLM tier
(``TRIALBOOK_LLM_BASE_URL``), whose output is checked and confirmed the same way.

Bad input prints one red line and the shell goes on; piped input runs lines in
order and exits 1 at the first error (a plain-language write is refused there:
nobody can confirm it). The pure parts (command tree, completion, checks) are
functions tested without a terminal; prompt_toolkit is imported only when a
terminal session starts.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TextIO

import click

from shell.app import App, history_path

if TYPE_CHECKING:
    from shell.plain_types import Translation, Vocabulary

PROMPT = "trialbook> "
CONTINUATION = "...       > "
EXIT_WORDS = {"exit", "quit", ":q"}
HELP_WORDS = {"help", "?"}
SHELL_WORDS = (*sorted(HELP_WORDS), "use", "exit", "quit")
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
  exit, quit         leave (or Ctrl-D on an empty line)

Keys: Tab completes (fuzzy; names from the store); Ctrl-C clears the line or
cancels a running command; Esc Enter inserts a newline; Up/Down walk history."""
#: the start of the rules' reason for a request they could not parse at all
NOT_UNDERSTOOD = "I did not understand"
#: refusals the LLM tier may try (not understood; never unknown names or ambiguity)
LLM_FALLBACK = (NOT_UNDERSTOOD, "I don't understand")
PIPED_WRITE = (
    "plain-language writes need a [y/N] confirmation, which piped input cannot give; "
    'pipe the command line itself, or use `trialbook ask "…" --yes`'
)
#: options a translated command line may never carry
FORBIDDEN_OPTIONS = {"--help", "-h"}
#: commands known to only read (and print to stdout); a translation to any other
#: command, or one that writes a file (``--output``), is confirmed like a write, so a
#: command added later is safe before anyone classifies it
READ_ONLY_COMMANDS: frozenset[tuple[str, ...]] = frozenset(
    {
        ("ab", "list"),
        ("ab", "show"),
        ("ab", "summary"),
        ("ab", "analyze"),
        ("events", "log"),
        ("events", "show"),
        ("events", "verify"),
        ("events", "export"),
        ("eval", "list"),
        ("eval", "show"),
        ("eval", "compare"),
        ("eval", "suite", "list"),
        ("eval", "suite", "show"),
        ("audit",),
        ("audit", "report"),
    }
)
_FILE_OPTIONS = ("-o", "--output")
#: how a value's number may differ from one written in the request: unit conversions only
#: (minutes, hours, milliseconds to seconds; cents and percent; k and million)
UNIT_FACTORS = tuple(Decimal(f) for f in ("1", "60", "3600", "0.001", "0.01", "1000", "1000000"))
_TIME_UNITS = (Decimal(3600), Decimal(60), Decimal(1), Decimal("0.001"))
_NUMBER_RE = re.compile(r"(?<![\w.])-?(?:\d[\d,]*(?:\.\d+)?|\.\d+)|\d+(?:\.\d+)?")
_ZERO_WORDS = re.compile(r"\b(no|none|without|zero|never)\b", re.IGNORECASE)

#: what a value of a parameter names: a store kind ("test", "variant", "suite", "run",
#: "scorer", "stream", "test-or-run"), a fixed tuple of choices, or None (free text)
Kind = str | tuple[str, ...] | None


# --------------------------------------------------------------------------- the command tree


@dataclass(frozen=True)
class Leaf:
    """What completion and the checks need to know about one command."""

    path: tuple[str, ...]
    options: tuple[str, ...]
    #: option string -> the kind of value it takes (options that take no value are absent)
    values: Mapping[str, Kind] = field(default_factory=dict)
    #: the kinds of the positional arguments, in order
    arguments: tuple[Kind, ...] = ()


def value_kind(path: Sequence[str], param: click.Parameter) -> Kind:
    """What a value of ``param`` of command ``path`` names (for completion and grounding)."""
    if isinstance(param.type, click.Choice):
        return tuple(str(c) for c in param.type.choices)
    name = param.name or ""
    family, leaf = (path[0] if path else ""), (path[-1] if path else "")
    creates = leaf in ("create", "add")
    if isinstance(param, click.Argument):
        if family == "ab" and name in ("name", "test") and not creates:
            return "test"
        if family == "audit" and name in ("name", "test"):
            return "test"
        if family == "eval" and name in ("suite", "suite_name") and not creates:
            return "suite"
        if tuple(path[:2]) == ("eval", "suite") and name == "name" and not creates:
            return "suite"
        if family == "eval" and name in ("run", "run_id", "runs", "baseline", "candidate"):
            return "run"
        if name in ("scorer", "scorers"):
            return "scorer"
        return None
    if name in ("variant", "control", "ship") and not creates:
        return "variant"
    if name in ("scorer", "scorers", "scorer_specs"):
        return "scorer"
    if name == "suite":
        return "suite"
    if name in ("run", "run_id"):
        return "run"
    if name == "stream":
        return "stream"
    if name in ("type", "type_") and family == "events":
        from domain.events import EVENT_TYPES
        from shell.plain_words import EVENT_TYPE_WORDS

        return tuple(sorted({*EVENT_TYPE_WORDS.values(), *EVENT_TYPES}))
    if name == "metric" and leaf != "add-result":
        from domain.metrics import METRICS

        return tuple(METRICS)
    return None


def _takes_value(param: click.Option) -> bool:
    return not (param.is_flag or param.count)


def command_tree(
    group: click.Group, ctx: click.Context | None = None, path: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``{name: subtree-or-Leaf}`` of every visible command of ``group``."""
    ctx = ctx or click.Context(group, info_name="trialbook")
    tree: dict[str, Any] = {}
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        sub = (*path, name)
        if isinstance(cmd, click.Group):
            tree[name] = command_tree(cmd, click.Context(cmd, info_name=name, parent=ctx), sub)
            continue
        options: list[str] = ["--help"]
        values: dict[str, Kind] = {}
        arguments: list[Kind] = []
        for p in cmd.params:
            if isinstance(p, click.Option):
                options.extend((*p.opts, *p.secondary_opts))
                if _takes_value(p):
                    for opt in p.opts:
                        values[opt] = value_kind(sub, p)
            elif isinstance(p, click.Argument):
                arguments.append(value_kind(sub, p))
        tree[name] = Leaf(sub, tuple(sorted(set(options))), values, tuple(arguments))
    return tree


def find_leaf(tree: Mapping[str, Any], words: Sequence[str]) -> tuple[Any, int]:
    """The node the command words lead to, and how many words named it."""
    node: Any = tree
    i = 0
    while isinstance(node, dict) and i < len(words) and words[i] in node:
        node = node[words[i]]
        i += 1
    return node, i


def _positional(leaf: Leaf, args: Sequence[str]) -> tuple[list[str], str | None]:
    """The positional values among ``args``, and the option still waiting for its value."""
    out: list[str] = []
    waiting: str | None = None
    for a in args:
        if waiting is not None:
            waiting = None
        elif a.startswith("-") and len(a) > 1 and not _is_number(a):
            opt, eq, _ = a.partition("=")
            if opt in leaf.values and not eq:
                waiting = opt
        else:
            out.append(a)
    return out, waiting


def names_for(kind: Kind, vocab: Vocabulary | None, test: str | None = None) -> list[str]:
    """The names a value of ``kind`` can take (choices, or names from the store)."""
    if isinstance(kind, tuple):
        return list(kind)
    if vocab is None or kind is None:
        return []
    tests = [*sorted(vocab.tests), *sorted(vocab.archived)]
    if kind == "test":
        return tests
    if kind == "variant":
        if test:
            return list(vocab.variants_of(test))
        return sorted({v for vs in (*vocab.tests.values(), *vocab.archived.values()) for v in vs})
    if kind == "suite":
        return sorted(vocab.suites)
    if kind == "run":
        return sorted(vocab.runs)
    if kind == "scorer":
        return sorted(vocab.scorers)
    if kind == "test-or-run":
        return [*tests, *sorted(vocab.runs)]
    if kind == "stream":
        return [
            *(f"ab:{t}" for t in tests),
            *(f"suite:{s}" for s in sorted(vocab.suites)),
            *(f"eval-run:{r}" for r in sorted(vocab.runs)),
        ]
    return []


def _store_names(vocab: Vocabulary) -> list[str]:
    names = [*names_for("test-or-run", vocab), *names_for("variant", vocab), *sorted(vocab.suites)]
    return list(dict.fromkeys(names))


def completions(
    tree: Mapping[str, Any], line: str, vocab: Vocabulary | None = None, focus: str | None = None
) -> list[str]:
    """Candidates for the word being typed at the end of ``line`` (prefix-matched).

    Command and option names come from the click group; argument and option values
    from the store (``vocab``): tests after ``ab summary``, the test's variants after
    ``--variant``, runs, suites, scorers, choices. On a plain request (a line that
    does not start with a command) the candidates are store names.
    """
    try:
        words = shlex.split(line)
    except ValueError:  # an open quote: fine in a plain request ("what's …"), not in a command
        words = line.split()
        if not words or words[0] in tree or words[0] in SHELL_WORDS:
            return []
    if line and not line[-1].isspace() and words:
        current, done = words[-1], words[:-1]
    else:
        current, done = "", words

    def match(candidates: Iterable[str]) -> list[str]:
        return sorted({c for c in candidates if c.startswith(current)})

    if not done:
        return match([*tree, *SHELL_WORDS])
    first = done[0]
    if first in HELP_WORDS:
        node, used = find_leaf(tree, done[1:])
        if used != len(done) - 1 or not isinstance(node, dict):
            return []
        return match([*node, *(["examples"] if used == 0 else [])])
    if first == "use":
        return match(names_for("test-or-run", vocab)) if len(done) == 1 else []
    if first in EXIT_WORDS:
        return []
    if first not in tree:
        return match(_store_names(vocab)) if vocab is not None and not first.startswith("-") else []
    node, used = find_leaf(tree, done)
    if isinstance(node, dict):
        return match(node) if used == len(done) else []
    leaf: Leaf = node
    positional, waiting = _positional(leaf, done[used:])
    test = _test_in(leaf, positional, vocab, focus)
    if waiting is not None:
        return match(names_for(leaf.values[waiting], vocab, test))
    if current.startswith("-"):
        return match(leaf.options)
    kind = leaf.arguments[len(positional)] if len(positional) < len(leaf.arguments) else None
    return match(names_for(kind, vocab, test))


def _test_in(
    leaf: Leaf, positional: Sequence[str], vocab: Vocabulary | None, focus: str | None
) -> str | None:
    """The test a command line names (its ``test`` argument), else the focus if it is a test."""
    for kind, value in zip(leaf.arguments, positional, strict=False):
        if kind == "test":
            return value
    if vocab is not None and focus and vocab.variants_of(focus):
        return focus
    return None


def split_line(line: str) -> list[str]:
    """The argv of a typed line; a one-line usage error if the quoting is broken."""
    try:
        return shlex.split(line)
    except ValueError as e:
        raise click.UsageError(f"cannot read that line ({e}); check the quotes") from None


def toolbar_text(app: App) -> str:
    """The bottom toolbar: the database, the focus, a write awaiting confirmation."""
    parts = [f" db: {app.db_path}"]
    if app.focus:
        parts.append(f"focus: {app.focus}")
    if app.pending:
        parts.append(f"pending write: {app.pending} [y/N]")
    return "  │  ".join(parts)


# --------------------------------------------------------------------------- checking a command line


class NotACommand(click.UsageError):
    """A translation named a command this version of trialbook does not have."""


def resolve_command(
    argv: Sequence[str],
) -> tuple[tuple[str, ...], click.Command, click.Context, list[str]]:
    """The command ``argv`` names: its path, the click command, its parent context, its own args.

    Each group parses its part of the line itself, exactly as when the line runs (a
    group may, for instance, supply a default subcommand: ``audit NAME``).
    """
    from shell.cli import cli

    group: click.Group = cli
    ctx: click.Context | None = None
    name = "trialbook"
    args = list(argv)
    path: list[str] = []
    while True:
        try:
            ctx = group.make_context(name, args, parent=ctx)
        except click.UsageError as e:
            raise NotACommand(e.format_message()) from None
        args = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not args or args[0].startswith("-"):
            raise NotACommand(f"`{' '.join(path) or 'trialbook'}` needs a command after it")
        sub = group.get_command(ctx, args[0])
        if sub is None:
            raise NotACommand(
                f"`{' '.join([*path, args[0]])}` is not a command of this version of trialbook"
            )
        name, args = args[0], args[1:]
        path.append(name)
        if not isinstance(sub, click.Group):
            return tuple(path), sub, ctx, args
        group = sub


def command_exists(argv: Sequence[str]) -> bool:
    """Whether the command words of ``argv`` name a command of this version."""
    try:
        resolve_command(argv)
    except NotACommand:
        return False
    return True


def needs_confirmation(argv: Sequence[str]) -> bool:
    """Whether a translated command line must be confirmed: anything but a known read to stdout."""
    from shell.plain_types import command_path, is_write

    if is_write(argv) or command_path(argv) not in READ_ONLY_COMMANDS:
        return True
    return any(a in _FILE_OPTIONS or a.startswith("--output=") for a in argv)


def parse_command(argv: Sequence[str]) -> tuple[tuple[str, ...], click.Command, dict[str, Any]]:
    """Parse ``argv`` exactly as click would run it, without running it.

    Raises ``click.UsageError`` (``MissingParameter``, ``BadParameter``, ``NoSuchOption``,
    :class:`NotACommand`) when click would refuse the line.
    """
    if FORBIDDEN_OPTIONS & {a.partition("=")[0] for a in argv}:
        raise click.UsageError(
            "a translated command may not ask for help, the version or another --db"
        )
    path, cmd, parent, args = resolve_command(argv)
    ctx = cmd.make_context(path[-1], args, parent=parent)
    return path, cmd, dict(ctx.params)


def _is_number(text: str) -> bool:
    try:
        Decimal(text.replace(",", ""))
    except InvalidOperation:
        return False
    return True


def mentioned_numbers(text: str) -> set[Decimal]:
    """Every number written in ``text``: digits, number words, units applied or not."""
    from shell.plain_lex import tokenize

    found: set[Decimal] = set()
    for m in _NUMBER_RE.finditer(text):
        try:
            found.add(Decimal(m.group(0).replace(",", "")))
        except InvalidOperation:  # pragma: no cover - the regex only passes numerals
            continue
    for t in tokenize(text):
        if t.kind in ("num", "money", "frac"):
            found.add(t.value)
            if t.kind == "frac":
                found.add(t.value2)
    if _ZERO_WORDS.search(text):
        found.add(Decimal(0))
    return found


def grounded(value: Decimal, mentions: set[Decimal]) -> bool:
    """``value`` is a number of the request, maybe with a unit applied (never arithmetic between two)."""
    if any(value == m * f or value == -m * f for m in mentions for f in UNIT_FACTORS):
        return True
    # a compound duration written as two numbers: "1 min 30 s", "2m 800ms"
    return any(
        a * big + b * small == value
        for a in mentions
        for b in mentions
        for big in _TIME_UNITS
        for small in _TIME_UNITS
        if big > small
    )


def _param_values(cmd: click.Command, args: Sequence[str]) -> list[tuple[click.Parameter, str]]:
    """(parameter, value as typed) of a command line's arguments, in order."""
    opts: dict[str, click.Option] = {}
    for p in cmd.params:
        if isinstance(p, click.Option):
            for o in (*p.opts, *p.secondary_opts):
                opts[o] = p
    positional = [p for p in cmd.params if isinstance(p, click.Argument)]
    out: list[tuple[click.Parameter, str]] = []
    i = k = 0
    while i < len(args):
        a = args[i]
        if a.startswith("-") and len(a) > 1 and not _is_number(a):
            name, eq, value = a.partition("=")
            opt = opts.get(name)
            if opt is None:
                raise click.NoSuchOption(name)
            if not _takes_value(opt):
                i += 1
                continue
            if eq:
                out.append((opt, value))
                i += 1
            else:
                out.extend((opt, v) for v in args[i + 1 : i + 1 + opt.nargs])
                i += 1 + opt.nargs
            continue
        if k < len(positional):
            out.append((positional[k], a))
            if positional[k].nargs != -1:
                k += 1
        i += 1
    return out


def _named_test(
    path: Sequence[str],
    pairs: Sequence[tuple[click.Parameter, str]],
    vocab: Vocabulary,
    focus: str | None,
) -> str | None:
    """The test a command line names, else the focus when it is a test."""
    for param, value in pairs:
        if value_kind(path, param) == "test":
            return value
    return focus if focus and vocab.variants_of(focus) else None


def ungrounded(t: Translation, vocab: Vocabulary, focus: str | None = None) -> str | None:
    """Why ``t``'s command line uses a number or a name that is neither in the request nor the store.

    Every number of a value must be a number written in the request (units applied);
    a value naming a test, run or suite must exist, a variant must belong to the test;
    other text must be a name in the store or written in the request.
    """
    from shell.plain_lex import name_parts
    from shell.plain_request import suggest

    path, cmd, _, args = resolve_command(t.argv)
    text = t.text
    low = text.lower()
    mentions = mentioned_numbers(text)
    pairs = _param_values(cmd, args)
    names = {*_store_names(vocab), *vocab.scorers}
    if focus:
        names.add(focus)
    pieces = set(re.findall(r"[a-z]+", low)) | {p for n in names for p in name_parts(n)}
    test = _named_test(path, pairs, vocab, focus)
    for param, value in pairs:
        kind = value_kind(path, param)
        what = kind if isinstance(kind, str) else (param.name or "value").replace("_", " ")
        if isinstance(kind, tuple) and value in kind:
            continue
        if kind in ("test", "run", "suite", "test-or-run", "variant", "stream"):
            pool = names_for(kind, vocab, test)
            if value not in pool:
                close = suggest(value, pool)
                hint = f"; did you mean {' or '.join(close)}?" if close else ""
                return f"there is no {what.replace('-or-', ' or ')} named {value!r}{hint}"
            continue
        if isinstance(param.type, (click.types.IntParamType, click.types.FloatParamType)):
            if not (_is_number(value) and grounded(Decimal(value.replace(",", "")), mentions)):
                return f"{value} (for {param.opts[0] if isinstance(param, click.Option) else what}) is not a number in your request"
            continue
        if value in names or (len(value) > 0 and value.lower() in low):
            continue
        unknown = [w for w in re.findall(r"[a-z]+", value.lower()) if w not in pieces]
        if unknown:
            return f"{value!r} is neither in your request nor a name in the store"
        for m in _NUMBER_RE.finditer(value):
            try:
                number = Decimal(m.group(0).replace(",", ""))
            except InvalidOperation:  # pragma: no cover - the regex only passes numerals
                continue
            if not grounded(abs(number), mentions):
                return f"{m.group(0)} is not a number in your request"
    return None


def check(t: Translation, vocab: Vocabulary, focus: str | None = None) -> Translation:
    """Hold a translation (rules or LLM) to the same standard before anything runs.

    A ``command`` must name a command of this version, parse with click, and use
    only grounded numbers and existing names; one click finds a required value
    missing from becomes ``incomplete`` (pre-filled). Example suggestions for
    commands this version lacks are dropped.
    """
    from shell.plain_types import Translation, incomplete, refused

    if t.status == "refused":
        kept = [
            s
            for s in t.suggestions
            if "  →  " not in s or command_exists(shlex.split(s.split("  →  ")[1]))
        ]
        return Translation("refused", t.text, reason=t.reason, suggestions=tuple(kept), tier=t.tier)
    try:
        path, cmd, _, args = resolve_command(t.argv)
    except NotACommand as e:
        return _with_tier(
            refused(t.text, f"that became `{t.line}`, but {e.format_message()}"), t.tier
        )
    try:
        problem = ungrounded(t, vocab, focus)
    except click.UsageError as e:
        problem = e.format_message()
    if not problem and path[0] == "ask":
        problem = "a request cannot become another request"
    if problem:
        return _with_tier(refused(t.text, f"not run: `{t.line}`: {problem}"), t.tier)
    if needs_confirmation(t.argv) != t.writes:
        from dataclasses import replace

        t = replace(t, writes=not t.writes)
    if t.status == "incomplete":
        return t
    try:
        parse_command(t.argv)
    except click.MissingParameter as e:
        param = e.param
        if isinstance(param, click.Option):
            needed = param.opts[0]
            missing = f"{needed} {param.metavar or param.type.name.upper()}"
        else:
            needed = missing = param.human_readable_name if param is not None else "a value"
        kind = value_kind(path, param) if param is not None else None
        test = _named_test(path, _param_values(cmd, args), vocab, focus)
        allowed = names_for(kind, vocab, test)
        return _with_tier(
            incomplete(t.text, t.argv, [missing], f"which {needed}?", allowed), t.tier
        )
    except click.UsageError as e:
        return _with_tier(
            refused(
                t.text, f"that became `{t.line}`, which trialbook refuses: {e.format_message()}"
            ),
            t.tier,
        )
    return t


def _with_tier(t: Translation, tier: str) -> Translation:
    from dataclasses import replace

    return replace(t, tier=tier)


# --------------------------------------------------------------------------- the optional LLM tier


class LLMError(Exception):
    """The LLM translation tier is misconfigured or its endpoint failed."""


@dataclass(frozen=True)
class LLMConfig:
    """An OpenAI-compatible chat endpoint that translates what the rules do not understand."""

    base_url: str
    model: str
    api_key: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LLMConfig | None:
        """The configured endpoint, or None when ``TRIALBOOK_LLM_BASE_URL`` is not set (the default)."""
        env = os.environ if environ is None else environ
        base = env.get("TRIALBOOK_LLM_BASE_URL", "").strip()
        if not base:
            return None
        model = env.get("TRIALBOOK_LLM_MODEL", "").strip()
        if not model:
            raise LLMError("TRIALBOOK_LLM_BASE_URL is set but TRIALBOOK_LLM_MODEL is not")
        key = None
        key_env = env.get("TRIALBOOK_LLM_KEY_ENV", "").strip()
        if key_env:
            key = env.get(key_env)
            if not key:
                raise LLMError(f"TRIALBOOK_LLM_KEY_ENV names {key_env}, which is not set")
        try:
            timeout = float(env.get("TRIALBOOK_LLM_TIMEOUT", "30"))
        except ValueError:
            raise LLMError("TRIALBOOK_LLM_TIMEOUT must be a number of seconds") from None
        return cls(base.rstrip("/"), model, key, timeout)


LLM_RULES = """\
You translate one request into exactly one command line of trialbook, a CLI for A/B tests and
evals of LLM agents. Answer with the command line only (no `trialbook` prefix, no quotes around
it, no explanation), or with NONE when no single command does what is asked.
Never invent: every number in your line must be written in the request, every name must be
listed below or written in the request. If a required value is not in the request, leave it out.
Use the focus when the request names no test or run."""


def _usage(path: Sequence[str], cmd: click.Command) -> str:
    """``ab add-result NAME [--variant TEXT] [--success/--failure] …`` for the LLM's command list."""
    parts = [" ".join(path)]
    for p in cmd.params:
        if isinstance(p, click.Argument):
            parts.append(p.human_readable_name)
        elif isinstance(p, click.Option):
            names = "/".join((*p.opts, *p.secondary_opts))
            parts.append(
                f"[{names}]" if not _takes_value(p) else f"[{p.opts[0]} {p.type.name.upper()}]"
            )
    return " ".join(parts)


def llm_messages(text: str, vocab: Vocabulary, focus: str | None) -> list[dict[str, str]]:
    """The chat messages sent to the LLM tier: the rules, the commands, the store's names."""
    from shell.plain import examples

    lines = [LLM_RULES, "", "Commands:"]
    for argv in _leaf_paths():
        path, cmd, _, _ = resolve_command(argv)
        lines.append("  " + _usage(path, cmd))
    lines.append("")
    lines.append("Names in the store:")
    for name, variants in sorted(vocab.tests.items()):
        lines.append(f"  test {name} (variants: {', '.join(variants)})")
    for name, variants in sorted(vocab.archived.items()):
        lines.append(f"  archived test {name} (variants: {', '.join(variants)})")
    for kind, names in (("suite", vocab.suites), ("run", vocab.runs), ("scorer", vocab.scorers)):
        for name in sorted(names)[:50]:
            lines.append(f"  {kind} {name}")
    lines.append(f"Focus: {focus or 'none'}")
    lines.append("")
    lines.append("Examples (with other names):")
    for request, command in examples():
        if command_exists(shlex.split(command)):
            lines.append(f"  {request}  =>  {command}")
    return [{"role": "system", "content": "\n".join(lines)}, {"role": "user", "content": text}]


def _leaf_paths() -> list[list[str]]:
    from shell.cli import cli

    out: list[list[str]] = []

    def walk(node: Mapping[str, Any]) -> None:
        for v in node.values():
            if isinstance(v, Leaf):
                out.append(list(v.path))
            else:
                walk(v)

    walk(command_tree(cli))
    return out


def llm_line(reply: str) -> str | None:
    """The command line in an LLM reply (code fences, ``$`` and ``trialbook`` stripped); None for NONE."""
    for raw in reply.strip().splitlines():
        line = raw.strip()
        if not line or line.startswith("```"):
            continue
        line = line.strip("`").strip().removeprefix("$ ").strip()
        if line.startswith("trialbook "):
            line = line[len("trialbook ") :]
        return None if line.upper().rstrip(".") == "NONE" else line
    return None


def llm_translate(
    text: str, vocab: Vocabulary, focus: str | None, config: LLMConfig
) -> Translation:
    """Ask the configured endpoint for one command line; the result is unchecked (see :func:`check`)."""
    import httpx

    from shell.plain_types import Translation, is_write, refused

    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    body = {
        "model": config.model,
        "messages": llm_messages(text, vocab, focus),
        "temperature": 0,
        "max_tokens": 200,
    }
    try:
        with httpx.Client(timeout=config.timeout) as client:
            r = client.post(f"{config.base_url}/chat/completions", json=body, headers=headers)
        r.raise_for_status()
        reply = r.json()["choices"][0]["message"]["content"]
    except httpx.HTTPStatusError as e:
        raise LLMError(f"{config.base_url} answered HTTP {e.response.status_code}") from e
    except httpx.HTTPError as e:
        raise LLMError(f"cannot reach {config.base_url} ({type(e).__name__})") from e
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise LLMError(
            f"{config.base_url} did not answer like an OpenAI-compatible chat endpoint"
        ) from e
    if not isinstance(reply, str):
        raise LLMError(f"{config.base_url} did not answer like an OpenAI-compatible chat endpoint")
    line = llm_line(reply)
    if line is None:
        return _with_tier(refused(text, f"{NOT_UNDERSTOOD} that (neither did the LLM tier)"), "llm")
    try:
        argv = tuple(shlex.split(line))
    except ValueError:
        return _with_tier(
            refused(text, f"the LLM tier answered {line!r}, which is not a command line"), "llm"
        )
    if not argv:
        return _with_tier(refused(text, f"{NOT_UNDERSTOOD} that (neither did the LLM tier)"), "llm")
    return Translation("command", text, argv, writes=is_write(argv), tier="llm")


def interpret(
    text: str, vocab: Vocabulary, focus: str | None = None, *, llm: bool = True
) -> Translation:
    """A plain request as one checked command line (or a pre-filled line, or a refusal).

    The rules first; a request they do not understand goes to the LLM tier when one
    is configured (``llm`` and ``TRIALBOOK_LLM_BASE_URL``). Either way the result
    passes :func:`check` before anyone sees it as runnable.
    """
    from shell.plain import translate

    t = translate(text, vocab, focus)
    if llm and t.status == "refused" and t.reason.startswith(LLM_FALLBACK):
        try:
            config = LLMConfig.from_env()
            if config is not None:
                answer = llm_translate(text, vocab, focus, config)
                t = answer if answer.status != "refused" else _keep_examples(answer, t)
        except LLMError as e:
            t = _keep_examples(
                _with_tier(
                    _refusal(text, f"{NOT_UNDERSTOOD} that; the LLM tier failed: {e}"), "llm"
                ),
                t,
            )
    return check(t, vocab, focus)


def _refusal(text: str, reason: str) -> Translation:
    from shell.plain_types import refused

    return refused(text, reason)


def _keep_examples(answer: Translation, rules: Translation) -> Translation:
    from dataclasses import replace

    return replace(answer, suggestions=answer.suggestions or rules.suggestions)


# --------------------------------------------------------------------------- running command lines


def invoke(app: App, argv: Sequence[str]) -> None:
    """Run one command line through the click group with the session's App; errors propagate."""
    from shell.cli import cli

    cli.main(args=list(argv), prog_name="trialbook", standalone_mode=False, obj=app)


def examples_text() -> str:
    """``help examples``: plain requests beside the command each becomes (available commands only)."""
    from shell.plain import examples

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
    from shell.cli import cli

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
        text = line.strip()
        if not text or text.startswith("#"):
            return True
        first = text.split()[0]
        try:
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
        from shell.cli import cli

        return word in cli.list_commands(click.Context(cli))

    def error(self, message: str) -> None:
        click.secho(f"Error: {message}", fg="red", err=True)

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
        from shell.plain_request import suggest

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
        from shell.cli import user_errors

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
        except click.ClickException as e:
            self.error(e.format_message())
            if isinstance(e, click.UsageError) and e.ctx is not None:
                click.echo(
                    f"Try `{e.ctx.command_path.removeprefix('trialbook').strip()} --help`.",
                    err=True,
                )
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
                from shell.cli import cli

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

    return kb


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
    )
    yes_no: PromptSession[str] = PromptSession(bottom_toolbar=toolbar, input=input, output=output)
    return main, yes_no


def warm_up(app: App) -> None:
    """Load what the first plain request and completion need (parser, commands, names, ledger code)."""
    try:
        import ledger  # noqa: F401 - imported for its side effect: loaded before first use
        import shell.plain  # noqa: F401
        from projections import default_projections
        from shell.cli import cli

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
    click.echo(BANNER)
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
        sys.exit(run_lines(app, sys.stdin))
    sys.exit(repl(app))


__all__ = [
    "App",
    "LLMConfig",
    "LLMError",
    "Leaf",
    "Shell",
    "check",
    "command_tree",
    "completions",
    "examples_text",
    "interpret",
    "invoke",
    "repl",
    "run_line",
    "run_lines",
    "run_repl",
    "toolbar_text",
]
