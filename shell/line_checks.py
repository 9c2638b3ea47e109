"""Checking a command line before it runs: the one standard for the rules and the LLM tier.

:func:`check` holds a translated request to it: the line must name a command of
this version and parse with click; every number in it must be written in the
request (units applied, never arithmetic between two); every name must exist in the
store or be written in the request. A command not known to only read is confirmed
like a write. These are pure functions, tested without a terminal.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import click

from trialbook.domain.errors import DomainError
from trialbook.shell.command_kinds import READ_ONLY_COMMANDS
from trialbook.shell.command_tree import is_number, names_for, store_names, takes_value, value_kind

if TYPE_CHECKING:
    from trialbook.plain.types import Translation, Vocabulary

#: options a translated command line may never carry
FORBIDDEN_OPTIONS = {"--help", "-h"}
_FILE_OPTIONS = ("-o", "--output")
#: how a value's number may differ from one written in the request: unit conversions only
#: (minutes, hours, milliseconds to seconds; cents and percent; k and million)
UNIT_FACTORS = tuple(Decimal(f) for f in ("1", "60", "3600", "0.001", "0.01", "1000", "1000000"))
_TIME_UNITS = (Decimal(3600), Decimal(60), Decimal(1), Decimal("0.001"))
_NUMBER_RE = re.compile(r"(?<![\w.])-?(?:\d[\d,]*(?:\.\d+)?|\.\d+)|\d+(?:\.\d+)?")
_ZERO_WORDS = re.compile(r"\b(no|none|without|zero|never)\b", re.IGNORECASE)
#: the unit suffixes the parser writes after a number (its normalisations, the forms of
#: domain/units.py), each with the ways a request may have said it: "5 points" is ``5pp``
_UNIT_SAID: dict[str, tuple[str, ...]] = {
    "pp": ("pp", "p.p.", "pt", "pts", "point", "points"),
    "%": ("%", "percent", "per cent"),
    "ms": ("ms", "msec", "millisecond"),
    "s": ("s", "sec", "second"),
    "min": ("m", "min", "minute"),
    "h": ("h", "hr", "hour"),
    "k": ("k", "thousand"),
}
_UNIT_AFTER_NUMBER = re.compile(r"(?<=\d)(pp|%|ms|min|s|h|k)(?![a-z])")
#: a metric's quantile the parser writes (``completion_time:p95``)
_QUANTILE_SUFFIX = re.compile(r":(p\d{1,2}(?:\.\d+)?)$")
#: words that say "all of them", which ``--limit 0`` means
_ALL_WORDS = re.compile(r"\b(every|all|everything)\b", re.IGNORECASE)


class NotACommand(click.UsageError):
    """A translation named a command this version of trialbook does not have."""


def resolve_command(
    argv: Sequence[str],
) -> tuple[tuple[str, ...], click.Command, click.Context, list[str]]:
    """The command ``argv`` names: its path, the click command, its parent context, its own args.

    Each group parses its part of the line itself, exactly as when the line runs (a
    group may, for instance, supply a default subcommand: ``audit NAME``).
    """
    from trialbook.shell.group import cli

    group: click.Group = cli
    ctx: click.Context | None = None
    name = "trialbook"
    args = list(argv)
    path: list[str] = []
    while True:
        try:
            ctx = group.make_context(name, args, parent=ctx)
        except click.UsageError as e:
            # one line (a group that prints its help when called bare gives the whole text)
            first = next((x for x in e.format_message().splitlines() if x.strip()), "")
            if first.startswith("Usage:"):
                first = f"it needs its arguments ({first.removeprefix('Usage:').strip()})"
            raise NotACommand(first) from None
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
    from trialbook.plain.types import command_path, is_write

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


def mentioned_numbers(text: str) -> set[Decimal]:
    """Every number written in ``text``: digits, number words, units applied or not."""
    from trialbook.plain.lex import tokenize

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
        if a.startswith("-") and len(a) > 1 and not is_number(a):
            name, eq, value = a.partition("=")
            opt = opts.get(name)
            if opt is None:
                raise click.NoSuchOption(name)
            if not takes_value(opt):
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


def _catalogue() -> frozenset[str]:
    from trialbook.domain.metrics import METRICS

    return frozenset(METRICS)


def _quantile_said(q: str, low: str) -> bool:
    """Whether the request said quantile ``pNN`` ("p95", "95th percentile", "median" for p50)."""
    n = q[1:]
    if re.search(rf"\b{re.escape(q)}\b", low) or re.search(
        rf"\b{re.escape(n)}(?:th)? percentile", low
    ):
        return True
    return n == "50" and re.search(r"\bmedian\b", low) is not None


def _unit_said(unit: str, low: str) -> bool:
    """Whether the request said ``unit`` in one of its forms, right after a number."""
    forms = "|".join(re.escape(f) for f in _UNIT_SAID[unit])
    return re.search(rf"\d\s*(?:{forms})", low) is not None


def _text_value_problem(
    value: str, low: str, pieces: set[str], mentions: set[Decimal]
) -> str | None:
    """Why a text value (a margin, a guardrail, a list of stages) is not grounded in the request.

    The parser's own normalisations are grounded in what was typed: a unit it wrote
    after a number (``5pp`` from "5 points", ``2min``) must have been said in one of
    its forms; a list (``5,25,100``) is checked item by item; every other word of the
    value must be in the request or a name in the store.
    """
    items = value.split(",")
    grouped = len(items) > 1 and all(re.fullmatch(r"\d{3}", i) for i in items[1:])
    if grouped and _text_value_problem(value.replace(",", ""), low, pieces, mentions) is None:
        return None  # "1,200" written as one grouped number
    for item in items:
        letters = item.lower()
        if [
            w
            for w in re.findall(r"[a-z]+", _UNIT_AFTER_NUMBER.sub(" ", letters))
            if w not in pieces
        ]:
            return f"{value!r} is neither in your request nor a name in the store"
        for m in _NUMBER_RE.finditer(item):
            try:
                number = Decimal(m.group(0).replace(",", ""))
            except InvalidOperation:  # pragma: no cover - the regex only passes numerals
                continue
            if not grounded(abs(number), mentions):
                return f"{m.group(0)} is not a number in your request"
        for m in _UNIT_AFTER_NUMBER.finditer(letters):
            if not _unit_said(m.group(1), low):
                return f"{m.group(0)!r} in {value!r} is not a unit of your request"
    return None


def _creates_test(path: Sequence[str], pairs: Sequence[tuple[click.Parameter, str]]) -> bool:
    """``ab import NAME saved.json`` creates test NAME (the warm-session framework's saved test)."""
    return tuple(path) == ("ab", "import") and any(
        v.lower().endswith(".json") for p, v in pairs if p.name == "file"
    )


def _imports_dir(path: Sequence[str], pairs: Sequence[tuple[click.Parameter, str]]) -> bool:
    """``ab import DIR`` (one argument): every saved test in DIR, each under its own id."""
    return tuple(path) == ("ab", "import") and not any(p.name == "file" for p, _ in pairs)


def _named_test(
    path: Sequence[str],
    pairs: Sequence[tuple[click.Parameter, str]],
    vocab: Vocabulary,
    focus: str | None,
) -> str | None:
    """The test a command line names (or the canary, whose arms its ``--variant`` takes), else
    the focus when it is a test."""
    for param, value in pairs:
        if value_kind(path, param) == "test":
            return value
        if value_kind(path, param) == "canary" and value in vocab.canary_arms:
            return value
    return focus if focus and vocab.variants_of(focus) else None


def ungrounded(t: Translation, vocab: Vocabulary, focus: str | None = None) -> str | None:
    """Why ``t``'s command line uses a number or a name that is neither in the request nor the store.

    Every number of a value must be a number written in the request (units applied);
    a value naming a test, run or suite must exist, a variant must belong to the test;
    other text must be a name in the store or written in the request.
    """
    from trialbook.plain.lex import name_parts
    from trialbook.plain.request import suggest

    path, cmd, _, args = resolve_command(t.argv)
    text = t.text
    low = text.lower()
    mentions = mentioned_numbers(text)
    pairs = _param_values(cmd, args)
    names = {*store_names(vocab), *vocab.scorers}
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
            if kind == "test" and _creates_test(path, pairs) and value.lower() in low:
                continue
            if kind == "test" and _imports_dir(path, pairs) and value.lower() in low:
                continue  # `ab import DIR`: the one argument is the directory, not a NAME
            if value not in pool:
                close = suggest(value, pool)
                hint = f"; did you mean {' or '.join(close)}?" if close else ""
                return f"there is no {what.replace('-or-', ' or ')} named {value!r}{hint}"
            continue
        if isinstance(param.type, (click.types.IntParamType, click.types.FloatParamType)):
            if param.name == "limit" and value == "0" and _ALL_WORDS.search(text):
                continue  # "every single result": --limit 0 shows them all
            if not (is_number(value) and grounded(Decimal(value.replace(",", "")), mentions)):
                return f"{value} (for {param.opts[0] if isinstance(param, click.Option) else what}) is not a number in your request"
            continue
        if value in names or (len(value) > 0 and value.lower() in low):
            continue
        q = _QUANTILE_SUFFIX.search(value)
        if q and _quantile_said(q.group(1), low):
            value = value[: q.start()]  # "median cost": cost:p50, "p95 completion time"
            if isinstance(kind, tuple) and value in kind:
                continue  # a catalogue metric ("is it faster at p95?")
        if param.name == "by" and value.startswith("metadata."):
            value = value[len("metadata.") :]  # "broken down by lang": a case metadata key
        if (
            param.name in ("guardrail", "guardrails", "cap", "caps")
            and value.partition(":")[0] in _catalogue()
        ):
            # a catalogue metric, read from its words ("latency" is completion_time) as --metric
            # is; what follows it (the limit, a quantile) must still be typed
            value = value.partition(":")[2]
        if (param.name or "").startswith("target") and ";api_key_env=" in value:
            # the spec's own key word ("… with key env X"): the target and the variable typed
            spec, _, var = value.partition(";api_key_env=")
            if var.lower() in low:
                value = spec  # the variable typed; the spec is checked as any other below
                if spec.lower() in low:
                    continue
        if (param.name or "").startswith("fail_under"):
            value = value.replace(":mean=", "=")  # the gate's own word ("average" says it too)
        if param.name == "covariate" and value.startswith(("test:", "case:")):
            value = value[5:]  # the spec's own kind word ("onboarding's tokens": test:…)
        problem = _text_value_problem(value, low, pieces, mentions)
        if problem:
            return problem
    return None


def check(t: Translation, vocab: Vocabulary, focus: str | None = None) -> Translation:
    """Hold a translation (rules or LLM) to the same standard before anything runs.

    A ``command`` must name a command of this version, parse with click, and use
    only grounded numbers and existing names; one click finds a required value
    missing from becomes ``incomplete`` (pre-filled). Example suggestions for
    commands this version lacks are dropped.
    """
    from trialbook.plain.types import Translation, incomplete, refused

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
        return with_tier(
            refused(t.text, f"that became `{t.line}`, but {e.format_message()}"), t.tier
        )
    try:
        problem = ungrounded(t, vocab, focus)
    except click.UsageError as e:
        problem = e.format_message()
    if not problem and path[0] == "ask":
        problem = "a request cannot become another request"
    if problem:
        return with_tier(refused(t.text, f"not run: `{t.line}`: {problem}"), t.tier)
    if needs_confirmation(t.argv) != t.writes:
        from dataclasses import replace

        t = replace(t, writes=not t.writes)
    if t.status == "incomplete":
        return t
    try:
        _, _, params = parse_command(t.argv)
        _domain_check(path, params)
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
        return with_tier(incomplete(t.text, t.argv, [missing], f"which {needed}?", allowed), t.tier)
    except (click.UsageError, DomainError) as e:
        why = e.format_message() if isinstance(e, click.UsageError) else str(e)
        return with_tier(
            refused(t.text, f"that became `{t.line}`, which trialbook refuses: {why}"), t.tier
        )
    return t


def _domain_check(path: tuple[str, ...], params: dict[str, Any]) -> None:
    """Hold a line that creates a test to the domain's own rules, as ``ab create`` would
    (a metric, a guardrail, a cap or a control it refuses), without recording anything:
    the shell never offers a write the command would then refuse."""
    if path == ("ab", "create"):
        from trialbook._ab import create_command
        from trialbook.shell.commands.ab import create_arguments

        fields = dict(params)
        create_command(fields.pop("name"), **create_arguments(fields))


def with_tier(t: Translation, tier: str) -> Translation:
    from dataclasses import replace

    return replace(t, tier=tier)


__all__ = [
    "NotACommand",
    "check",
    "command_exists",
    "grounded",
    "mentioned_numbers",
    "needs_confirmation",
    "parse_command",
    "resolve_command",
    "with_tier",
]
