"""The values the plain-language parser takes and returns: :class:`Vocabulary`, :class:`Translation`."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Status = Literal["command", "incomplete", "refused"]

#: the commands that append events or change stored state; everything else only reads
WRITE_COMMANDS: frozenset[tuple[str, ...]] = frozenset(
    {
        ("ab", "create"),
        ("ab", "add-result"),
        ("ab", "import"),
        ("ab", "conclude"),
        ("ab", "archive"),
        ("ab", "restore"),
        ("projections", "rebuild"),
        ("eval", "suite", "add"),
        ("eval", "run"),
        ("eval", "resume"),
        ("eval", "rescore"),
        ("eval", "retry-failed"),
        ("events", "import"),
        ("canary", "create"),
        ("canary", "add-result"),
        ("canary", "import"),
        ("canary", "advance"),
        ("canary", "halt"),
        ("canary", "rollback"),
        ("canary", "complete"),
        # `canary watch --auto` records decisions: confirmed like a write, with or without --auto
        ("canary", "watch"),
        # not the log, but confirmed all the same: a demo store is written, a server started,
        # trace files written
        ("demo",),
        ("view",),
        ("eval", "export"),
    }
)


#: commands that are one word, with no subcommand
SINGLE_WORD_COMMANDS = frozenset({"demo", "view"})


def command_path(argv: Iterable[str]) -> tuple[str, ...]:
    """The command words of ``argv`` (``("eval", "suite", "add")``), without arguments."""
    args = list(argv)
    if not args:
        return ()
    if args[0] == "eval" and len(args) > 2 and args[1] == "suite":
        return tuple(args[:3])
    if args[0] in SINGLE_WORD_COMMANDS:
        return (args[0],)
    if args[0] == "audit":
        return ("audit", "report") if len(args) > 1 and args[1] == "report" else ("audit",)
    return tuple(args[:2])


def is_write(argv: Iterable[str]) -> bool:
    """Whether the command line ``argv`` (without the program name) writes: confirm it first.

    ``eval compare --into-ab NAME`` writes too (it creates or feeds the A/B test NAME), and so
    does any command with ``--output``/``-o`` (it writes a file) or ``eval export`` (traces)."""
    args = tuple(argv)
    return command_path(args) in WRITE_COMMANDS or any(
        a in ("--into-ab", "--output", "-o", "--traces")
        or a.startswith(("--into-ab=", "--output="))
        for a in args
    )


def _frozen_map(
    value: Mapping[str, Iterable[str]] | Iterable[str],
) -> Mapping[str, tuple[str, ...]]:
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): tuple(v) for k, v in value.items()})
    return MappingProxyType({str(k): () for k in value})


@dataclass(frozen=True)
class Vocabulary:
    """The names that exist in the store, which are the only names the parser will use.

    ``tests`` maps each active A/B test to its variants; ``archived`` does the same
    for archived tests (a plain list of names is accepted). ``suites``, ``runs`` and
    ``scorers`` are names (run ids or run names). ``canaries`` maps each canary to its
    stages (percentages; a plain list of names is accepted).
    """

    tests: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    archived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    suites: AbstractSet[str] = frozenset()
    runs: AbstractSet[str] = frozenset()
    scorers: AbstractSet[str] = frozenset()
    canaries: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    #: each canary's (control, candidate) variant names, when known: "a candidate result of
    #: router-v2" names the candidate by its role
    canary_arms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "canary_arms", _frozen_map(self.canary_arms))
        object.__setattr__(self, "tests", _frozen_map(self.tests))
        object.__setattr__(self, "archived", _frozen_map(self.archived))
        object.__setattr__(self, "canaries", _frozen_map(self.canaries))  # type: ignore[arg-type]
        for name in ("suites", "runs", "scorers"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))

    def __hash__(self) -> int:
        return hash(
            (
                tuple(sorted(self.tests.items())),
                tuple(sorted(self.archived.items())),
                self.suites,
                self.runs,
                self.scorers,
                tuple(sorted(self.canaries.items())),
                tuple(sorted(self.canary_arms.items())),
            )
        )

    def variants_of(self, test: str) -> tuple[str, ...]:
        """The variants of an active or archived test (empty if unknown)."""
        return self.tests.get(test) or self.archived.get(test) or ()


@dataclass(frozen=True)
class Translation:
    """What a plain request became.

    - ``command``: ``argv`` is one complete command line; ``writes`` says whether it
      must be confirmed.
    - ``incomplete``: a required value was not in the request. ``argv`` holds what
      was understood, ``missing`` what is needed (``"--variant VARIANT"``, ``"NAME"``),
      ``prefill`` the line to put in an editable prompt, ``suggestions`` the allowed values.
    - ``refused``: ambiguous, out of scope or naming something that does not exist;
      ``reason`` is one line, ``suggestions`` are "did you mean" names or example requests.
    """

    status: Status
    text: str
    argv: tuple[str, ...] = ()
    writes: bool = False
    tier: str = "rules"
    missing: tuple[str, ...] = ()
    reason: str = ""
    suggestions: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "command"

    @property
    def line(self) -> str:
        """``argv`` as a shell-quoted command line (what the shell echoes after ``→``)."""
        return shlex.join(self.argv)

    @property
    def prefill(self) -> str:
        """For ``incomplete``: the editable line, ending where the first missing value goes."""
        line = self.line
        if self.missing and self.missing[0].startswith("--"):
            line = f"{line} {self.missing[0].split()[0]}"
        return line + " " if line else ""

    @property
    def command(self) -> tuple[str, ...]:
        """The command words (``("ab", "add-result")``); empty when refused."""
        return command_path(self.argv)


def command(text: str, argv: Iterable[str]) -> Translation:
    args = tuple(argv)
    return Translation("command", text, args, writes=is_write(args))


def incomplete(
    text: str,
    argv: Iterable[str],
    missing: Iterable[str],
    reason: str,
    suggestions: Iterable[str] = (),
) -> Translation:
    args = tuple(argv)
    return Translation(
        "incomplete",
        text,
        args,
        writes=is_write(args),
        missing=tuple(missing),
        reason=reason,
        suggestions=tuple(suggestions),
    )


def refused(text: str, reason: str, suggestions: Iterable[str] = ()) -> Translation:
    return Translation(
        "refused", text, reason=reason, suggestions=tuple(dict.fromkeys(suggestions))
    )
