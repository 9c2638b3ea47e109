"""Eval suites: parsing case files into validated cases, the suite's content hash, and
the suite aggregate (its event, command and state).

Pure: text in, cases out, no file or network I/O (the caller reads the file).

A case is one thing to send to a target::

    {"id": "q1", "input": "What is 2+2?", "expected": "4", "criteria": ["answers 4"],
     "metadata": {"topic": "math"}, "scorers": ["exact"]}

- ``id``: unique within the suite (a string; integer ids are accepted and turned into strings).
- ``input``: a string, or a list of chat messages ``{"role": ..., "content": ...}``.
- ``expected`` (optional): any JSON value, for scorers that compare against it.
- ``criteria`` (optional): plain-language criteria for LLM judges.
- ``metadata`` (optional): free-form JSON object, carried along untouched.
- ``scorers`` (optional): per-case scorer specs (names or objects), interpreted by the scorers.
- ``seed`` (optional): a whole number sent to the target as the rollout's seed, exactly, on
  every epoch (a task app that indexes its dataset by seed gets that item). Without it the
  runner derives one per (case, epoch) from the run's base seed
  (:func:`trialbook.domain.evals.rollout_seed`).

Seed suites (:func:`seed_cases`, :func:`parse_seeds`): a list of seeds, as a synth-ai
eval config or ``--seeds 0-49`` gives it, becomes one case per seed, id ``seed-N``.

Formats:

- JSONL (``.jsonl``, ``.ndjson``): one case object per line; blank lines and lines
  starting with ``#`` or ``//`` are skipped. Errors name the line.
- YAML (``.yaml``, ``.yml``): a list of cases, or a mapping with a ``cases:`` list.
  Errors name the case index (1-based) and its line.
- JSON (``.json``): an array of cases, or an object with a ``cases`` array.
- In memory (:func:`parse_cases`): a list of case mappings. Errors name the case index.

The suite's content hash is :func:`suite_hash`: SHA-256 of the canonical JSON of
the list of cases in :meth:`Case.to_data` form (defaults omitted), so formatting,
key order and the file format do not change it; any change of content does.

Stream ``suite:<name>``: one :class:`SuiteRegistered` per version. Registering
content identical to the latest version is a no-op (``decide`` returns no
events), so ``eval suite add`` is safe to repeat; changed content becomes
version N+1. :mod:`trialbook.domain.evals` re-exports the aggregate's names.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import singledispatch
from pathlib import PurePath
from typing import Any, Literal, get_args

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from trialbook.domain.canonical import canonical_json, content_hash
from trialbook.domain.commands import Command, explain
from trialbook.domain.errors import InvalidCommand, NotFound
from trialbook.domain.events import Event, Value
from trialbook.domain.names import NAME_RE, NAME_RULE

SuiteFormat = Literal["jsonl", "yaml", "json"]
Role = Literal["system", "user", "assistant", "tool", "developer"]
ROLES: tuple[str, ...] = get_args(Role)

MAX_ID_LENGTH = 200
#: a suite's name follows the rule for every name (:mod:`trialbook.domain.names`)
SUITE_NAME_RE = NAME_RE
SUITE_NAME_RULE = NAME_RULE
CASE_FIELDS = ("id", "input", "expected", "criteria", "metadata", "scorers", "seed")
#: seeds are stored in SQLite and JSON as signed 64-bit integers
MAX_SEED = 2**63 - 1
#: at most this many seeds in one seed list (``--seeds 0-49``)
MAX_SEEDS = 100_000
_SUFFIXES: dict[str, SuiteFormat] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
}


class SuiteFileError(InvalidCommand):
    """A suite file cannot be read as cases; the message names the line or case and the fix."""


class Message(Value):
    """One chat message of a case's input."""

    role: Role
    content: str
    name: str | None = None


class Case(Value):
    """One validated eval case."""

    id: str
    input: str | tuple[Message, ...]
    expected: Any = None
    criteria: tuple[str, ...] = ()
    metadata: dict[str, Any] = Field(default_factory=dict)
    scorers: tuple[str | dict[str, Any], ...] = ()
    #: sent to the target exactly when given (see the module docstring)
    seed: int | None = None

    @field_validator("seed", mode="before")
    @classmethod
    def _seed(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"must be a whole number, not {type(v).__name__}; write e.g. 7")
        if abs(v) > MAX_SEED:
            raise ValueError(f"is too large; a seed is at most {MAX_SEED} in size")
        return v

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise ValueError(f'must be a string, not {type(v).__name__}; write e.g. "id": "q1"')
        v = str(v)
        if not v.strip():
            raise ValueError("is empty; give each case a unique non-empty id")
        if v != v.strip():
            raise ValueError("has leading or trailing spaces; remove them")
        if len(v) > MAX_ID_LENGTH:
            raise ValueError(f"is longer than {MAX_ID_LENGTH} characters; shorten it")
        if any(ord(ch) < 32 for ch in v):
            raise ValueError("contains control characters; remove them")
        return v

    @field_validator("input", mode="before")
    @classmethod
    def _input(cls, v: Any) -> Any:
        if isinstance(v, str):
            if not v.strip():
                raise ValueError("is empty; give the prompt text or a list of chat messages")
            return v
        if isinstance(v, (list, tuple)):
            if not v:
                raise ValueError('is an empty list; give at least one {"role", "content"} message')
            return tuple(_message(m, i) for i, m in enumerate(v, start=1))
        raise ValueError(
            'must be a string or a list of {"role": ..., "content": ...} messages, '
            f"not {type(v).__name__}"
        )

    @field_validator("criteria", mode="before")
    @classmethod
    def _criteria(cls, v: Any) -> Any:
        if isinstance(v, str):
            return (v,)
        return v

    @field_validator("scorers", mode="before")
    @classmethod
    def _scorers(cls, v: Any) -> Any:
        if isinstance(v, (str, dict)):
            return (v,)
        return v

    @model_validator(mode="after")
    def _json_values(self) -> Case:
        for field in ("expected", "metadata"):
            value = getattr(self, field)
            try:
                canonical_json(value)
            except (TypeError, ValueError) as e:
                raise ValueError(
                    f'"{field}" must hold plain JSON values (no NaN or Infinity): {e}'
                ) from None
        return self

    def to_data(self) -> dict[str, Any]:
        """The case as plain JSON, omitting fields left at their defaults (the hashed form)."""
        return self.model_dump(mode="json", exclude_defaults=True)

    @property
    def text(self) -> str:
        """The input as one string: the text itself, or the last user message's content."""
        if isinstance(self.input, str):
            return self.input
        for m in reversed(self.input):
            if m.role == "user":
                return m.content
        return self.input[-1].content

    def messages(self) -> list[dict[str, Any]]:
        """The input as a chat message list (a string input becomes one user message)."""
        if isinstance(self.input, str):
            return [{"role": "user", "content": self.input}]
        return [m.model_dump(exclude_none=True) for m in self.input]


def _message(raw: Any, index: int) -> Message:
    """Validate one chat message, with an error naming its position in the list."""
    where = f"message {index}"
    if isinstance(raw, Message):
        return raw
    if not isinstance(raw, dict):
        raise ValueError(
            f'{where} must be an object {{"role": ..., "content": ...}}, not {type(raw).__name__}'
        )
    roles = ", ".join(ROLES)
    role = raw.get("role")
    if role not in ROLES:
        raise ValueError(f"{where} has role {role!r}; use one of {roles}")
    if not isinstance(raw.get("content"), str):
        raise ValueError(f'{where} needs "content" as a string')
    extra = [k for k in raw if k not in ("role", "content", "name")]
    if extra:
        raise ValueError(
            f"{where} has unknown field {extra[0]!r}; a message has role, content and name"
        )
    return Message.model_validate(raw)


def cases_data(cases: Sequence[Case]) -> list[dict[str, Any]]:
    """The cases as plain JSON, in order (what :func:`suite_hash` covers)."""
    return [c.to_data() for c in cases]


def suite_hash(cases: Sequence[Case]) -> str:
    """Contract: hex SHA-256 of ``canonical_json(cases_data(cases))``.

    Equal content gives an equal hash whatever the file format, key order or
    whitespace; reordering cases or changing any value changes it.
    """
    return content_hash(canonical_json(cases_data(cases)))


def detect_format(filename: str) -> SuiteFormat:
    """The suite format implied by a file name's suffix."""
    suffix = PurePath(filename).suffix.lower()
    fmt = _SUFFIXES.get(suffix)
    if fmt is None:
        raise SuiteFileError(
            f"cannot tell the format of {filename!r} from its suffix; "
            "name it .jsonl, .yaml/.yml or .json"
        )
    return fmt


def suite_name_from_filename(filename: str) -> str:
    """A suite name from a file name: ``evals/Math QA.v2.jsonl`` -> ``math-qa.v2``."""
    stem = PurePath(filename).stem.lower()
    name = re.sub(r"[^a-z0-9._-]+", "-", stem).strip("-._")[:64]
    if not name or not SUITE_NAME_RE.match(name):
        raise SuiteFileError(f"cannot make a suite name from {filename!r}; pass one with --name")
    return name


#: checks one parsed case beyond its shape (e.g. that its scorers exist); raises InvalidCommand
CaseCheck = Callable[[Case], None]


def parse_suite(
    text: str,
    *,
    filename: str = "suite.jsonl",
    format: SuiteFormat | None = None,
    check_case: CaseCheck | None = None,
) -> tuple[Case, ...]:
    """Parse suite text as ``format`` (or the format ``filename``'s suffix implies).

    Raises :class:`SuiteFileError` naming the file and the line (JSONL) or case
    index and line (YAML, JSON) of the first problem, and how to fix it.
    ``check_case`` is called on every case as it is read (the shell passes the
    check that its scorers exist); the :class:`InvalidCommand` it raises is
    reported the same way, after the line.
    """
    fmt = format or detect_format(filename)
    if fmt == "jsonl":
        return parse_jsonl(text, filename=filename, check_case=check_case)
    if fmt == "yaml":
        return parse_yaml(text, filename=filename, check_case=check_case)
    return parse_json(text, filename=filename, check_case=check_case)


def parse_jsonl(
    text: str, *, filename: str = "suite.jsonl", check_case: CaseCheck | None = None
) -> tuple[Case, ...]:
    """Parse JSONL: one case object per line (blank and ``#``/``//`` comment lines skipped)."""
    raws: list[tuple[str, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "//")):
            continue
        where = f"{filename} line {lineno}"
        try:
            raw = json.loads(stripped, parse_constant=_refuse_constant)
        except json.JSONDecodeError as e:
            raise SuiteFileError(
                f"{where}: not valid JSON ({e.msg} at column {e.colno}); "
                "each line must be one complete JSON object"
            ) from None
        except ValueError as e:
            raise SuiteFileError(f"{where}: {e}") from None
        raws.append((where, raw))
    return _build_cases(raws, filename, check_case)


def parse_json(
    text: str, *, filename: str = "suite.json", check_case: CaseCheck | None = None
) -> tuple[Case, ...]:
    """Parse a JSON array of cases, or an object with a ``cases`` array."""
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise SuiteFileError(
            f"{filename} line {e.lineno}: not valid JSON ({e.msg} at column {e.colno})"
        ) from None
    except ValueError as e:
        raise SuiteFileError(f"{filename}: {e}") from None
    items = _case_list(doc, filename)
    return _build_cases(
        [(f"{filename} case {i}", raw) for i, raw in enumerate(items, start=1)],
        filename,
        check_case,
    )


def parse_yaml(
    text: str, *, filename: str = "suite.yaml", check_case: CaseCheck | None = None
) -> tuple[Case, ...]:
    """Parse YAML: a list of cases, or a mapping with a ``cases:`` list."""
    try:
        doc = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SuiteFileError(f"{filename}{line}: not valid YAML ({problem})") from None
    items = _case_list(doc, filename)
    lines = _yaml_item_lines(node)
    raws = []
    for i, raw in enumerate(items, start=1):
        line = f" (line {lines[i - 1]})" if i - 1 < len(lines) else ""
        raws.append((f"{filename} case {i}{line}", raw))
    return _build_cases(raws, filename, check_case)


def parse_cases(items: Any, *, check_case: CaseCheck | None = None) -> tuple[Case, ...]:
    """Validate cases given as a list of mappings (the Python API's in-memory suites).

    Each item is checked as a line of a suite file is; errors name the case by
    its position (``case 2: the case has no "input"; add one``).
    """
    if isinstance(items, (str, bytes, Mapping)) or not hasattr(items, "__iter__"):
        raise SuiteFileError(
            f'a suite is a list of cases ({{"id": …, "input": …}} mappings), not {type(items).__name__}'
        )
    raws = [
        (f"case {i}", dict(raw) if isinstance(raw, Mapping) else raw)
        for i, raw in enumerate(items, start=1)
    ]
    if not raws:
        raise SuiteFileError("the suite has no cases; add at least one case")
    return _build_cases(raws, "", check_case)


SEEDS_HELP = "write seeds as a list or ranges, e.g. 0-49 or 0,3,7 or 0-9,20"


def parse_seeds(value: Any, *, what: str = "seeds") -> tuple[int, ...]:
    """Seeds from ``"0-49"``, ``"0,3,7"``, ``"0-9,20"`` or a list of whole numbers, in the order given.

    Ranges include both ends. Duplicates are an error (each seed is one case);
    so are an empty list and more than :data:`MAX_SEEDS` seeds.
    """
    items: list[Any]
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise SuiteFileError(f"{what}: {type(value).__name__} is not a seed list; {SEEDS_HELP}")
    seeds: list[int] = []
    for item in items:
        if isinstance(item, bool):
            raise SuiteFileError(f"{what}: {item!r} is not a seed; {SEEDS_HELP}")
        if isinstance(item, int):
            seeds.append(item)
            continue
        m = re.fullmatch(r"(-?\d+)(?:\s*-\s*(-?\d+))?", item) if isinstance(item, str) else None
        if m is None:
            raise SuiteFileError(f"{what}: {item!r} is not a seed or a range; {SEEDS_HELP}")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise SuiteFileError(f"{what}: the range {item!r} runs backwards; write {hi}-{lo}")
        if hi - lo >= MAX_SEEDS or len(seeds) + hi - lo >= MAX_SEEDS:
            raise SuiteFileError(f"{what}: more than {MAX_SEEDS} seeds; split the run")
        seeds.extend(range(lo, hi + 1))
    if not seeds:
        raise SuiteFileError(f"{what}: no seeds given; {SEEDS_HELP}")
    if len(seeds) > MAX_SEEDS:
        raise SuiteFileError(f"{what}: more than {MAX_SEEDS} seeds; split the run")
    big = next((s for s in seeds if abs(s) > MAX_SEED), None)
    if big is not None:
        raise SuiteFileError(f"{what}: {big} is too large for a seed")
    seen: set[int] = set()
    for s in seeds:
        if s in seen:
            raise SuiteFileError(f"{what}: seed {s} is given twice; each seed is one case")
        seen.add(s)
    return tuple(seeds)


def seed_case_id(seed: int) -> str:
    """The id of the case that stands for one seed: ``seed-7``."""
    return f"seed-{seed}"


def seed_cases(seeds: Sequence[int], *, env_name: str | None = None) -> tuple[Case, ...]:
    """One case per seed (id ``seed-N``, ``seed`` N), for targets that pick their task by seed.

    The input names the environment and seed (a case needs one); the target
    receives the seed itself. ``env_name`` goes into each case's metadata.
    """
    metadata = {"env_name": env_name} if env_name else {}
    where = f"{env_name} " if env_name else ""
    return tuple(
        Case(id=seed_case_id(s), input=f"{where}seed {s}", seed=s, metadata=metadata)
        for s in parse_seeds(list(seeds))
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a suite; use a finite number or null")


def _case_list(doc: Any, filename: str) -> list[Any]:
    if isinstance(doc, dict):
        if "cases" not in doc:
            raise SuiteFileError(
                f"{filename}: expected a list of cases or a mapping with a 'cases' list; "
                f"found a mapping with keys {', '.join(map(str, doc)) or '(none)'}"
            )
        doc = doc["cases"]
    if doc is None:
        return []
    if not isinstance(doc, list):
        raise SuiteFileError(f"{filename}: expected a list of cases, found {type(doc).__name__}")
    return doc


def _yaml_item_lines(node: Any) -> list[int]:
    """1-based start lines of the case items in a composed YAML document."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "cases":
                node = value
                break
    if isinstance(node, yaml.SequenceNode):
        return [item.start_mark.line + 1 for item in node.value]
    return []


def _build_cases(
    raws: list[tuple[str, Any]], filename: str, check_case: CaseCheck | None = None
) -> tuple[Case, ...]:
    if not raws:
        raise SuiteFileError(f"{filename}: the suite has no cases; add at least one case")
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for where, raw in raws:
        case = _build_case(raw, where)
        if case.id in seen:
            raise SuiteFileError(
                f"{where}: case id {case.id!r} is already used ({seen[case.id]}); case ids must be unique"
            )
        seen[case.id] = where.removeprefix(f"{filename} ")
        if check_case is not None:
            try:
                check_case(case)
            except InvalidCommand as e:
                raise SuiteFileError(f"{where}: {e}") from None
        cases.append(case)
    return tuple(cases)


def _build_case(raw: Any, where: str) -> Case:
    if not isinstance(raw, dict):
        raise SuiteFileError(
            f'{where}: a case must be an object with "id" and "input", not {type(raw).__name__}'
        )
    unknown = [k for k in raw if k not in CASE_FIELDS]
    if unknown:
        raise SuiteFileError(
            f"{where}: unknown field {str(unknown[0])!r}; a case has {', '.join(CASE_FIELDS)} "
            '(put anything else under "metadata")'
        )
    for required in ("id", "input"):
        if required not in raw:
            raise SuiteFileError(f'{where}: the case has no "{required}"; add one')
    _check_finite(raw, where)
    try:
        return Case.model_validate(raw)
    except ValidationError as e:
        raise SuiteFileError(f"{where}: {explain(e)}") from None


def _check_finite(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise SuiteFileError(f"{where}: {value!r} is not allowed; use a finite number or null")
    if isinstance(value, dict):
        for v in value.values():
            _check_finite(v, where)
    elif isinstance(value, list):
        for v in value:
            _check_finite(v, where)


# --------------------------------------------------------------------------- suite streams


def suite_stream(name: str) -> str:
    """The stream id of the suite called ``name``."""
    return f"suite:{name}"


def check_suite_name(v: str) -> str:
    """``v`` stripped, if it is a valid suite name; ``ValueError`` naming the rule else."""
    v = v.strip()
    if not SUITE_NAME_RE.match(v):
        raise ValueError(f"suite name {v!r} is not valid; {SUITE_NAME_RULE}")
    return v


# --------------------------------------------------------------------------- suite event and command


class SuiteRegistered(Event):
    """A version of a suite was registered; the event holds its full content."""

    name: str
    version: int = Field(ge=1)
    hash: str
    cases: tuple[Case, ...]
    source: str | None = None
    description: str | None = None


class RegisterSuite(Command):
    """Register a suite's cases as its next version (a no-op if identical to the latest)."""

    name: str
    cases: tuple[Case, ...]
    source: str | None = None
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_suite_name(v)

    @field_validator("cases")
    @classmethod
    def _cases(cls, v: tuple[Case, ...]) -> tuple[Case, ...]:
        if not v:
            raise ValueError("a suite needs at least one case")
        seen: set[str] = set()
        for c in v:
            if c.id in seen:
                raise ValueError(f"case id {c.id!r} is used twice; case ids must be unique")
            seen.add(c.id)
        return v

    def stream_id(self) -> str:
        return suite_stream(self.name)


# --------------------------------------------------------------------------- suite state


@dataclass(frozen=True)
class SuiteVersion:
    """One registered version of a suite."""

    version: int
    hash: str
    cases: tuple[Case, ...]
    source: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class SuiteState:
    """Every version of one suite."""

    name: str | None = None
    versions: tuple[SuiteVersion, ...] = ()

    @property
    def exists(self) -> bool:
        return self.name is not None

    @property
    def latest(self) -> SuiteVersion | None:
        return self.versions[-1] if self.versions else None

    def version(self, number: int | None = None) -> SuiteVersion:
        """Version ``number`` (the latest when ``None``), or :class:`NotFound` naming the fix."""
        if not self.versions:
            raise NotFound(
                f"no suite named {self.name!r}; add one with `trialbook eval suite add FILE --name {self.name}`"
            )
        if number is None:
            return self.versions[-1]
        if not 1 <= number <= len(self.versions):
            raise NotFound(
                f"suite {self.name!r} has no version {number}; it has versions 1 to {len(self.versions)}"
            )
        return self.versions[number - 1]


@singledispatch
def evolve_suite(event: Event, state: SuiteState) -> SuiteState:
    """Fold one event into a suite's state."""
    return state


@evolve_suite.register
def _(event: SuiteRegistered, state: SuiteState) -> SuiteState:
    v = SuiteVersion(event.version, event.hash, event.cases, event.source, event.description)
    return SuiteState(name=event.name, versions=(*state.versions, v))


@singledispatch
def decide_suite(command: Command, state: SuiteState) -> Sequence[Event]:
    """The events a suite command produces."""
    raise TypeError(f"no suite handler for {type(command).__name__}")


@decide_suite.register
def _(command: RegisterSuite, state: SuiteState) -> Sequence[Event]:
    digest = suite_hash(command.cases)
    latest = state.latest
    if latest is not None and latest.hash == digest:
        return []  # identical to the latest version: nothing to record
    return [
        SuiteRegistered(
            name=command.name,
            version=(latest.version + 1) if latest else 1,
            hash=digest,
            cases=command.cases,
            source=command.source,
            description=command.description,
        )
    ]


class SuiteAggregate:
    """The suite aggregate, as the ledger sees it."""

    state_version = 1

    def initial(self) -> SuiteState:
        return SuiteState()

    def evolve(self, state: SuiteState, event: Event) -> SuiteState:
        return evolve_suite(event, state)

    def decide(self, state: SuiteState, command: Command) -> Sequence[Event]:
        return decide_suite(command, state)

    def snapshot(self, state: SuiteState) -> dict[str, Any]:
        return {
            "name": state.name,
            "versions": [
                {
                    "version": v.version,
                    "hash": v.hash,
                    "cases": [c.to_data() for c in v.cases],
                    "source": v.source,
                    "description": v.description,
                }
                for v in state.versions
            ],
        }

    def restore(self, data: dict[str, Any]) -> SuiteState:
        return SuiteState(
            name=data["name"],
            versions=tuple(
                SuiteVersion(
                    v["version"],
                    v["hash"],
                    tuple(Case.model_validate(c) for c in v["cases"]),
                    v.get("source"),
                    v.get("description"),
                )
                for v in data["versions"]
            ),
        )


SUITES = SuiteAggregate()
RegisterSuite.aggregate = SUITES
