"""The command tree: what completion and the checks know about the click group.

:func:`command_tree` reads every visible command of ``shell.group.cli`` into a
:class:`Leaf`: its options and what each value names (a test, a variant, a run, a
suite, a scorer, a fixed choice, or free text), so a command added to the CLI is
completed and checked with no extra code. :func:`completions` offers command and
option names from the tree and values from the store; on a plain request, store
names. These are pure functions, tested without a terminal.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from trialbook.plain.types import Vocabulary
    from trialbook.shell.app import App

EXIT_WORDS = {"exit", "quit", ":q"}
HELP_WORDS = {"help", "?"}
SHELL_WORDS = (*sorted(HELP_WORDS), "use", "clear", "exit", "quit")

#: what a value of a parameter names: a store kind ("test", "variant", "suite", "run",
#: "scorer", "stream", "test-or-run", "canary"), a fixed tuple of choices, or None (free text)
Kind = str | tuple[str, ...] | None


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
        if family == "canary" and name == "name" and not creates:
            return "canary"
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
        from trialbook.domain.catalog import all_event_types
        from trialbook.plain.words import EVENT_TYPE_WORDS

        return tuple(sorted({*EVENT_TYPE_WORDS.values(), *all_event_types()}))
    if name == "metric" and leaf != "add-result":
        from trialbook.domain.metrics import METRICS

        return tuple(METRICS)
    return None


def takes_value(param: click.Option) -> bool:
    return not (param.is_flag or param.count)


def is_number(text: str) -> bool:
    try:
        Decimal(text.replace(",", ""))
    except InvalidOperation:
        return False
    return True


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
                if takes_value(p):
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
        elif a.startswith("-") and len(a) > 1 and not is_number(a):
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
        if test and test in vocab.canary_arms and test not in vocab.tests:
            return list(vocab.canary_arms[test])  # a canary's arms: `canary add-result --variant`
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
    if kind == "canary":
        return sorted(vocab.canaries)
    if kind == "stream":
        return [
            *(f"ab:{t}" for t in tests),
            *(f"suite:{s}" for s in sorted(vocab.suites)),
            *(f"eval-run:{r}" for r in sorted(vocab.runs)),
            *(f"canary:{c}" for c in sorted(vocab.canaries)),
        ]
    return []


def store_names(vocab: Vocabulary) -> list[str]:
    names = [*names_for("test-or-run", vocab), *names_for("variant", vocab), *sorted(vocab.suites)]
    names += names_for("canary", vocab)
    return list(dict.fromkeys(names))


def completions(
    tree: Mapping[str, Any], line: str, vocab: Vocabulary | None = None, focus: str | None = None
) -> list[str]:
    """Candidates for the word being typed at the end of ``line`` (prefix-matched).

    Command and option names come from the click group; argument and option values
    from the store (``vocab``): tests after ``ab summary``, the test's variants after
    ``--variant``, runs, suites, scorers, choices; options after ``-`` or once every
    argument is given. On a plain request (a line that does not start with a command)
    the candidates are store names.
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
        return match(store_names(vocab)) if vocab is not None and not first.startswith("-") else []
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
    if len(positional) >= len(leaf.arguments) and not current:
        return match(leaf.options)  # every argument given: what is left to type is options
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


def toolbar_text(app: App, width: int | None = None) -> str:
    """The bottom toolbar: the database, the focus, and a write awaiting confirmation.

    The pending write is shown whole, wrapped to ``width`` columns (default: the
    terminal's) on lines of its own: never cut short, so what ``y`` runs is what
    the toolbar shows.
    """
    import shutil
    import textwrap

    width = width or shutil.get_terminal_size().columns
    parts = [f" db: {app.db_name}"]
    if app.focus:
        parts.append(f"focus: {app.focus}")
    head = "  │  ".join(parts)
    if not app.pending:
        return head
    body = textwrap.wrap(
        f"{app.pending} [y/N]",
        width=max(width - 4, 20),
        initial_indent=" pending write: ",
        subsequent_indent="   ",
        break_long_words=True,
        break_on_hyphens=False,
        drop_whitespace=True,
    )
    return "\n".join([head, *body])


__all__ = [
    "EXIT_WORDS",
    "HELP_WORDS",
    "Kind",
    "Leaf",
    "SHELL_WORDS",
    "command_tree",
    "completions",
    "find_leaf",
    "is_number",
    "names_for",
    "split_line",
    "store_names",
    "takes_value",
    "toolbar_text",
    "value_kind",
]
