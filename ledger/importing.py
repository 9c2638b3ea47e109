"""Reading result files for ``ab import``: everything checked before anything is recorded.

Three shapes are read, told apart by their content:

- JSONL, one result per line, with the keys of ``ab add-result``'s options, into a
  test that exists;
- the warm-session framework's ``SessionResult`` objects written one per line (the
  framework this project grew from; its words are mapped, see :data:`SEED_KEYS`);
- that framework's saved tests, ``~/.hermes/ab_tests/<test_id>.json`` as its
  ``save_test`` writes them (``task``, ``cold_results``, ``warm_results``,
  ``summary``), one file or a directory of them. Each creates a test (variants
  ``cold``/``warm``, control ``cold``, metric ``error_rate``, the task's fields on the
  definition) and records its sessions with event ids derived from their session ids,
  so importing a file again records only what is new.

An import is one transaction: a bad line, file or field raises one
:class:`InvalidCommand` naming it, and nothing is recorded.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import uuid
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trialbook.domain.errors import InvalidCommand
from trialbook.ledger.ledger import no_cyclic_gc

if TYPE_CHECKING:
    from trialbook.ledger.ledger import Ledger
    from trialbook.store.base import RecordedEvent

#: JSONL keys accepted besides the result fields themselves
ALIASES = {"error": "error_messages", "errors_list": "error_messages"}

#: the warm-session framework's ``SessionResult`` keys, as result fields. Its ``errors`` is
#: a list of messages (trialbook's ``errors`` is a count): a list there is read as messages
#: and their count. Its ``task_id`` names the task a session ran, which is what a result's
#: ``case_id`` names (sessions of one task are paired across variants by it).
SEED_KEYS = {
    "session_type": "variant",
    "successful_tool_calls": "successful_calls",
    "completion_time_seconds": "completion_time",
    "message_count": "messages",
    "user_corrections": "corrections",
    "task_id": "case_id",
}

#: per-session figures the framework derives from others (``successful_tool_calls /
#: tool_calls`` and its complement): read, never stored; trialbook computes its own
DERIVED_KEYS = ("error_rate", "success_rate")

#: the keys of a saved test file, of its task, and its lists of sessions by variant
TEST_FILE_KEYS = ("task", "cold_results", "warm_results", "summary", "test_id")
TASK_KEYS = (
    "task_id",
    "description",
    "prompt",
    "expected_tools",
    "success_criteria",
    "category",
    "difficulty",
)
SESSION_LISTS = {"cold_results": "cold", "warm_results": "warm"}

#: how a saved test is defined here: warm sessions against cold ones, on the framework's metric
SEED_VARIANTS = ("cold", "warm")
SEED_METRIC = "error_rate"

#: the framework's rule: warm sessions win when their mean error rate is this much lower
SEED_IMPROVEMENT = 0.20

#: event ids of imported tests and sessions are uuid5 names in this namespace
IMPORT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://trialbook.dev/ns/warm-session-import")

NAME_FOR_JSONL = (
    "name the test to import these results into: trialbook ab import NAME {file} "
    "(create it first with `trialbook ab create NAME`)"
)


@contextmanager
def _opening(path: Path) -> Iterator[None]:
    """Turn a missing, directory or unreadable ``path`` met inside the block into a
    one-line InvalidCommand that names it."""
    try:
        yield
    except FileNotFoundError:
        raise InvalidCommand(f"file {path} does not exist; check the path") from None
    except IsADirectoryError:
        raise InvalidCommand(f"{path} is a directory; name a file") from None
    except OSError as e:
        raise InvalidCommand(f"cannot read {path}: {e.strerror}") from None


def read_text(path: Path) -> str:
    """The file's text as UTF-8 ('-' reads stdin); a one-line error otherwise."""
    with _opening(path):
        raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InvalidCommand(
            f"{path} is not UTF-8 text (bad byte at line {line}); save it as UTF-8 and import again"
        ) from None


# --------------------------------------------------------------------------- one result


def result_fields(obj: Any, where: str) -> tuple[Any, tuple[str, ...]]:
    """One decoded JSON value as ``ResultFields``, and the derived keys it held (not kept).

    Reads trialbook's keys and the warm-session framework's (:data:`SEED_KEYS`); a key
    given twice under two names with two values, or a bad value, raises naming ``where``
    and the key as the file spells it.
    """
    from pydantic import ValidationError

    from trialbook.domain.ab import ResultFields
    from trialbook.domain.commands import explain

    if not isinstance(obj, dict):
        raise InvalidCommand(f'{where}: expected a JSON object like {{"variant": "warm", ...}}')
    if _PLAIN_KEYS.issuperset(obj):  # trialbook's own keys only: nothing to map (most lines)
        try:
            return ResultFields.model_validate(obj), ()
        except ValidationError:
            pass  # the mapping below words the error
    fields: dict[str, Any] = {}
    spelled: dict[str, str] = {}  # result field -> the key the file gave it under
    derived: list[str] = []
    seed_errors: list[Any] | None = None
    for key, value in obj.items():
        if key in DERIVED_KEYS:
            derived.append(key)
            continue
        if key == "errors" and isinstance(value, list):
            seed_errors, target = value, "error_messages"
        else:
            target = SEED_KEYS.get(key) or ALIASES.get(key) or key
        if target in fields:
            if fields[target] != value:
                raise InvalidCommand(
                    f"{where}: {spelled[target]} and {key} name the same value but differ "
                    f"({fields[target]!r} and {value!r}); give one"
                )
            continue
        fields[target], spelled[target] = value, key
    seed = bool(derived) or seed_errors is not None or any(k in SEED_KEYS for k in obj)
    if isinstance(fields.get("error_messages"), str):
        fields["error_messages"] = [fields["error_messages"]]
    if seed_errors is not None and "errors" not in fields:
        fields["errors"] = len(seed_errors)  # an empty list is a known zero, not a missing count
    if seed and fields.get("notes") == "":
        del fields["notes"]  # the framework's default: no notes
    if seed and "variant" not in fields:
        raise InvalidCommand(f"{where}: session_type is missing; give the variant (cold or warm)")
    try:
        return ResultFields.model_validate(fields), tuple(derived)
    except ValidationError as e:
        message = explain(e, plain=True)
        target = message.partition(":")[0].partition(".")[0]  # "error_messages.0: …"
        if target in spelled and (spelled[target] in SEED_KEYS or spelled[target] == "errors"):
            message = spelled[target] + message[len(target) :]  # the framework's word for it
        raise InvalidCommand(f"{where}: {message}") from None


#: keys a JSONL line may give that ``result_fields`` takes as they are (no framework word,
#: alias or derived figure; ``errors`` and ``error_messages`` can be read two ways)
_PLAIN_KEYS = frozenset(
    {
        "variant",
        "session_id",
        "success",
        "tool_calls",
        "successful_calls",
        "completion_time",
        "start_time",
        "end_time",
        "messages",
        "corrections",
        "tokens",
        "cost",
        "score",
        "case_id",
        "metrics",
        "notes",
        "transcript_blob",
        "dimensions",
    }
)


def parse_result_line(obj: Any, where: str) -> Any:
    """Validate one decoded JSON value as result fields, naming ``where`` in errors."""
    return result_fields(obj, where)[0]


# --------------------------------------------------------------------------- what a file holds


@dataclass(frozen=True)
class Batch:
    """What one file asks to record in one test, checked and ready to decide."""

    #: the test it goes to, and the file (for messages)
    test: str
    source: str
    #: the ``CreateTest`` a saved test file defines (None for JSONL: the test must exist)
    create: Any | None
    results: tuple[Any, ...]
    #: where each result came from ("line 7", "cold_results[2]")
    sources: tuple[str, ...]
    #: the results' event ids, derived from their session ids (saved test files only)
    event_ids: tuple[str, ...] | None = None
    #: sessions that held the framework's derived figures (not stored), and whether a
    #: ``summary`` block was read (not stored either)
    derived: int = 0
    summary: bool = False
    #: the framework's test id, when the test's name had to differ from it
    test_id: str | None = None
    #: the transcripts its JSONL lines carried, stored with the results (their hashes are in them)
    blobs: tuple[bytes, ...] = ()
    #: a JSONL file read as it is imported, :data:`CHUNK` results at a time (memory stays
    #: flat for any size); ``results`` is then empty and ``derived`` counted on the way
    chunks: Generator[Chunk, None, None] | None = None


#: results validated and decided per command while a JSONL file streams in: 2,000 took
#: 4-7 % less CPU than 5,000 at 100k and 1M results (the chunk's objects stay in the CPU's
#: caches; 500 and 1,000 were no faster), bench/import_vs_eventsourcing.py
CHUNK = 2_000


@dataclass(frozen=True)
class Chunk:
    """Up to :data:`CHUNK` consecutive results of a JSONL file, checked, and their transcripts."""

    results: tuple[Any, ...]
    #: "line N" of each result (:class:`LineLabels`: made when an error message asks)
    sources: Sequence[str]
    derived: int
    blobs: tuple[bytes, ...] = ()


def read_import(path: Path, test: str | None = None) -> list[Batch]:
    """Every batch of an ``ab import``: a JSONL file, a saved test file, or a directory of those.

    ``test`` names the test for JSONL (required) and for one saved test file (its
    test id otherwise); a directory takes none. Raises naming the file, line and field.
    """
    if str(path) != "-" and path.is_dir():
        if test is not None:
            raise InvalidCommand(
                f"{path} is a directory: each test file in it is imported under its own test "
                f"id; import one file to name its test (trialbook ab import NAME FILE)"
            )
        files = sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())
        if not files:
            raise InvalidCommand(f"{path} holds no test files (*.json) to import")
        batches: dict[str, Batch] = {}
        for f in files:
            obj = _whole_json(read_text(f))
            if not is_test_file(obj):
                raise InvalidCommand(f"{f}: {_not_a_test_file(obj)}")
            batch = test_file_batch(obj, f, None)
            same = batches.get(batch.test)
            if same is not None and (same.create, same.results) != (batch.create, batch.results):
                raise InvalidCommand(
                    f"{f}: test {batch.test!r} is also defined by {same.source}, with other "
                    "content; move one of them out and import it under another name"
                )
            batches.setdefault(batch.test, batch)
        return list(batches.values())
    lines = numbered_lines(path)
    blank: list[str] = []
    first = None
    for number, line in lines:
        if line.strip():
            first = (number, line)
            break
        blank.append(line)
    if first is None:
        raise InvalidCommand(f"{path} has no results; write one JSON object per line")
    head = first[1].strip()
    if head in ("{", "[") or is_test_file(_whole_json(head)):
        # one JSON value, as save_test writes it (pretty-printed, or on one line): read it whole
        text = "\n".join([*blank, first[1], *(line for _, line in lines)])
        return _whole_file(text, path, test)
    if test is None:
        lines.close()
        raise InvalidCommand(NAME_FOR_JSONL.format(file=path))
    chunks = _jsonl_chunks(itertools.chain([first], lines), lines)
    return [Batch(test, str(path), None, (), (), chunks=chunks)]


def _whole_file(text: str, path: Path, test: str | None) -> list[Batch]:
    """A file holding one JSON value (a saved test, or another shape: refused) — or JSONL."""
    obj = _whole_json(text)
    if is_test_file(obj):
        return [test_file_batch(obj, path, test)]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if obj is not None and len(lines) > 1:
        raise InvalidCommand(f"{path}: {_not_a_test_file(obj)}")
    if obj is None and len(lines) > 1 and lines[0] in ("{", "["):
        try:  # one JSON value written over many lines, as save_test writes: say where it breaks
            json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidCommand(
                f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
            ) from None
    blobs: list[bytes] = []
    results, sources, derived = _jsonl(text, path, blobs)
    if test is None:
        raise InvalidCommand(NAME_FOR_JSONL.format(file=path))
    return [Batch(test, str(path), None, results, sources, derived=derived, blobs=tuple(blobs))]


def numbered_lines(path: Path) -> Generator[tuple[int, str], None, None]:
    """The file's lines ('-': stdin) as UTF-8 text with their numbers, read as they are needed.

    Numbered as ``str.splitlines`` numbers the whole text (a BOM at the start is dropped);
    a missing or unreadable file and a byte that is not UTF-8 raise one-line errors, the
    latter naming its line.
    """
    with _opening(path):
        stream = sys.stdin.buffer if str(path) == "-" else path.open("rb")
    return _numbered(stream, path)


def _numbered(stream: Any, path: Path) -> Generator[tuple[int, str], None, None]:
    number = 0
    first = True
    try:
        while True:
            # a block of lines decoded and split at once (a line at a time was a tenth of
            # an import's reading); lines end at b"\n", never inside a UTF-8 sequence, so
            # the block's text is its lines' texts joined, and its splitlines theirs
            raws = stream.readlines(_BLOCK)
            if not raws:
                break
            if first:
                first = False
                if raws[0].startswith(b"\xef\xbb\xbf"):
                    raws[0] = raws[0][3:]
            lines: list[str] | None = None
            if raws[0]:  # (a first line that was only a BOM is one empty line: below)
                with suppress(UnicodeDecodeError):  # read line by line below: names the line
                    lines = b"".join(raws).decode("utf-8").splitlines()
            if lines is not None:
                for line in lines:
                    number += 1
                    yield number, line
                continue
            for raw in raws:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidCommand(
                        f"{path} is not UTF-8 text (bad byte at line {number + 1}); save it as "
                        "UTF-8 and import again"
                    ) from None
                # \r, \x0b, \u2028 … end lines too, as they do for splitlines on the whole text
                for line in text.splitlines() or [""]:
                    number += 1
                    yield number, line
    except OSError as e:
        raise InvalidCommand(f"cannot read {path}: {e.strerror}") from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


#: bytes of lines read and decoded at once
_BLOCK = 1 << 16


def _jsonl_chunks(
    lines: Iterator[tuple[int, str]], source: Generator[tuple[int, str], None, None]
) -> Generator[Chunk, None, None]:
    """The results of JSONL lines, :data:`CHUNK` at a time; the first bad line raises.

    ``source`` (the file's :func:`numbered_lines`) is closed when this is, read or not.
    """
    try:
        yield from _chunked(lines)
    finally:
        source.close()


def _chunked(lines: Iterator[tuple[int, str]]) -> Iterator[Chunk]:
    """:data:`CHUNK` results at a time, each line read the quick way when it can be.

    The quick way (orjson, then :func:`~trialbook.domain.ab.quick_result_fields`) takes
    the plain lines most files hold; a line it does not take is read again the way
    :func:`_results` reads every line (``json``, the framework's words, pydantic), which
    accepts it the same or refuses it with its one-line message. Lines are read in order,
    so the first bad line is the one named (a line that cannot be read, not UTF-8, is
    named after the bad lines before it, as when every line was read and checked in turn).
    """
    from orjson import loads as quick_loads

    from trialbook.domain.ab import PlainResults, quick_results

    while True:
        numbered: list[tuple[int, str]] = []
        objs: list[Any] = []
        unreadable: InvalidCommand | None = None
        try:
            for item in lines:
                line = item[1]
                if not line or line.isspace():
                    continue
                numbered.append(item)  # (number, line), as read
                try:
                    objs.append(quick_loads(line))
                except ValueError:  # orjson's JSONDecodeError; json words the error below
                    objs.append(None)
                if len(numbered) == CHUNK:
                    break
        except InvalidCommand as e:
            unreadable = e
        if not numbered:
            if unreadable is not None:
                raise unreadable
            return
        results = quick_results(objs)
        # every line read the quick way, no float written otherwise by orjson: see PlainResults
        plain = getattr(results, "plain", False)
        sources = LineLabels([number for number, _ in numbered])
        blobs: list[bytes] = []
        derived = 0
        for i, fields in enumerate(results):
            if fields is None:
                plain = False
                # orjson reads some values otherwise (integers beyond 64 bits as floats):
                # decode with json, which this path has always used
                ((where, obj),) = _json_values([numbered[i]], None)
                (results[i],), _, held = _results([(where, obj)], blobs)
                derived += held
        if unreadable is not None:
            raise unreadable
        yield Chunk(
            PlainResults(results) if plain else tuple(results), sources, derived, tuple(blobs)
        )


class LineLabels(Sequence[str]):
    """The labels ("line 7") of results read from these line numbers, each made when it is
    read: only an error message reads one (making them all was ~1 % of an import)."""

    __slots__ = ("numbers",)

    def __init__(self, numbers: list[int]) -> None:
        self.numbers = numbers

    def __len__(self) -> int:
        return len(self.numbers)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [f"line {n}" for n in self.numbers[i]]
        return f"line {self.numbers[i]}"


def read_results(path: Path) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    """All results of a JSONL file with their line labels; the first bad line raises."""
    results, sources, _ = _jsonl(read_text(path), path)
    return results, sources


def _jsonl(
    text: str, path: Path, blobs: list[bytes] | None = None
) -> tuple[tuple[Any, ...], tuple[str, ...], int]:
    """The results of a JSONL file; a line's ``transcript`` becomes its hash, the bytes go to ``blobs``."""
    return _results(json_lines(text, path), blobs)


def _results(
    values: Iterable[tuple[str, Any]], blobs: list[bytes] | None
) -> tuple[tuple[Any, ...], tuple[str, ...], int]:
    """Decoded JSONL lines as result fields, their line labels and how many held derived keys."""
    from trialbook.domain.transcripts import stash_transcript

    results, sources, derived = [], [], 0
    for where, obj in values:
        if isinstance(obj, dict) and ("transcript" in obj or "transcript_blob" in obj):
            obj, blob = stash_transcript(obj, f"{where}: transcript")
            if blob is not None and blobs is not None:
                blobs.append(blob)
        fields, seen = result_fields(obj, where)
        results.append(fields)
        sources.append(where)
        derived += bool(seen)
    return tuple(results), tuple(sources), derived


def json_lines(text: str, path: Any) -> Iterator[tuple[str, Any]]:
    """Each non-blank line of the JSONL file ``path`` as ``("line N", value)``.

    Read as it is consumed, so the first bad line (its JSON or, checked by the
    caller, its fields) is the one named. A line that is not JSON, or a file
    with no line at all, raises ``InvalidCommand``.
    """
    return _json_values(enumerate(text.splitlines(), start=1), path)


def _json_values(lines: Iterable[tuple[int, str]], path: Any) -> Iterator[tuple[str, Any]]:
    """:func:`json_lines` over numbered lines; ``path`` None: no "no results" error (the caller
    saw a line already)."""
    count = 0
    for number, line in lines:
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InvalidCommand(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
        count += 1
        yield where, obj
    if not count and path is not None:
        raise InvalidCommand(f"{path} has no results; write one JSON object per line")


def _whole_json(text: str) -> Any:
    """The text as one JSON value, or None when it is not one (JSONL, or not JSON at all)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def is_test_file(obj: Any) -> bool:
    """Whether a decoded JSON value is a saved warm-session test (it lists cold or warm sessions)."""
    return isinstance(obj, dict) and any(k in obj for k in SESSION_LISTS)


def _not_a_test_file(obj: Any) -> str:
    what = (
        f"a JSON object with keys {', '.join(list(obj)[:6]) or 'none'}"
        if isinstance(obj, dict)
        else f"a JSON {type(obj).__name__.replace('dict', 'object').replace('list', 'array')}"
    )
    return (
        f"{what}, neither a warm-session test file (an object with task, cold_results, "
        "warm_results and summary) nor results in JSONL (one JSON object per line)"
    )


def seed_test_name(test_id: str) -> str:
    """A test name for the framework's test id: lowercase, runs of other characters as '-'.

    ``test_3f2a9c1d`` stays as it is; ``Test 7/B`` becomes ``test-7-b``. Empty when
    nothing is left.
    """
    name = re.sub(r"[^a-z0-9._-]+", "-", test_id.strip().lower())
    return name.lstrip("._-")[:64].rstrip("-")


def session_event_id(test: str, session_id: str) -> str:
    """The event id of session ``session_id`` imported into ``test``: the same on every import."""
    return str(uuid.uuid5(IMPORT_NAMESPACE, f"{test}\x1f{session_id}"))


def test_event_id(test: str) -> str:
    """The event id of the ``TestCreated`` that importing a saved test file as ``test`` records."""
    return str(uuid.uuid5(IMPORT_NAMESPACE, f"{test}\x1fTestCreated"))


def test_file_batch(obj: dict[str, Any], path: Path, test: str | None) -> Batch:
    """The batch of one saved test file (already decoded): its test and its sessions."""
    from trialbook.domain import ab as d
    from trialbook.domain.commands import build

    file = str(path)
    unknown = [k for k in obj if k not in TEST_FILE_KEYS]
    if unknown:
        raise InvalidCommand(
            f"{file}: {unknown[0]!r} is not a key of a warm-session test file "
            f"({', '.join(TEST_FILE_KEYS[:4])})"
        )
    test_id = obj.get("test_id")
    if test_id is not None and not isinstance(test_id, str):
        raise InvalidCommand(f"{file}: test_id: expected text (got {test_id!r})")
    if test_id is None and file != "-":
        test_id = path.stem  # save_test names the file <test_id>.json
    name = test or seed_test_name(test_id or "")
    if not name:
        raise InvalidCommand(
            f"{file}: no test id to name the test by; name it: trialbook ab import NAME {file}"
        )
    task = obj.get("task")
    if not isinstance(task, dict):
        raise InvalidCommand(
            f"{file}: task: expected an object with {', '.join(TASK_KEYS)} (got {task!r})"
        )
    definition: dict[str, Any] = {}
    for key, value in task.items():
        if key not in TASK_KEYS:
            raise InvalidCommand(
                f"{file}: task.{key} is not a field of the framework's task ({', '.join(TASK_KEYS)})"
            )
        if key in ("expected_tools", "success_criteria"):
            value = [value] if key == "success_criteria" and isinstance(value, str) else value
            if not (isinstance(value, list) and all(isinstance(x, str) for x in value)):
                raise InvalidCommand(
                    f"{file}: task.{key}: expected a list of texts (got {value!r})"
                )
            value = tuple(value)
        elif value is not None and not isinstance(value, str):
            raise InvalidCommand(f"{file}: task.{key}: expected text (got {value!r})")
        definition[key] = value
    try:
        create = build(
            d.CreateTest,
            name=name,
            variants=SEED_VARIANTS,
            control=SEED_VARIANTS[0],
            metric=SEED_METRIC,
            **definition,
        )
    except InvalidCommand as e:
        message = str(e)
        message = message[6:] if message.startswith("name: ") else "task." + message
        raise InvalidCommand(f"{file}: {message}") from None
    results, sources, ids, derived = [], [], [], 0
    seen: dict[str, str] = {}
    for key, variant in SESSION_LISTS.items():
        sessions = obj.get(key, [])
        if not isinstance(sessions, list):
            raise InvalidCommand(f"{file}: {key}: expected a list of sessions (got {sessions!r})")
        for i, session in enumerate(sessions):
            where = f"{file}: {key}[{i}]"
            if isinstance(session, dict):
                kind = session.get("session_type", variant)
                if kind != variant:
                    raise InvalidCommand(
                        f"{where}: session_type {kind!r} "
                        + (
                            f"is listed in {key}; a session in {key} is {variant}"
                            if kind in SEED_VARIANTS
                            else "is unknown; a warm-session test has cold and warm sessions"
                        )
                    )
                session = {**session, "session_type": variant}
            fields, held = result_fields(session, where)
            sid = fields.session_id
            if sid is None:
                raise InvalidCommand(
                    f"{where}: session_id is missing; it is what makes importing again safe"
                )
            if sid in seen:
                raise InvalidCommand(f"{where}: session_id {sid!r} is also {seen[sid]}")
            seen[sid] = f"{key}[{i}]"
            results.append(fields)
            sources.append(f"{key}[{i}]")
            ids.append(session_event_id(name, sid))
            derived += bool(held)
    return Batch(
        test=name,
        source=file,
        create=create,
        results=tuple(results),
        sources=tuple(sources),
        event_ids=tuple(ids),
        derived=derived,
        summary="summary" in obj,
        test_id=test_id if test is None and test_id != name else None,
    )


# --------------------------------------------------------------------------- recording


@dataclass
class Outcome:
    """What one batch recorded."""

    batch: Batch
    #: the ``TestCreated`` recorded for it (None: JSONL, or the test existed)
    created: RecordedEvent | None
    #: the results recorded (empty when the import was asked not to keep them)
    results: list[RecordedEvent]
    #: its results an earlier import had recorded (skipped)
    before: int = 0
    #: how many results were recorded, and the positions of the first and the last
    count: int = 0
    first: int | None = None
    last: int | None = None


@dataclass
class Imported:
    """What an import recorded, batch by batch, and notes for the reader."""

    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many events were recorded (tests created and results)."""
        return sum(o.count + (o.created is not None) for o in self.outcomes)

    @property
    def recorded(self) -> list[RecordedEvent]:
        """Every event recorded, in order."""
        return [e for o in self.outcomes for e in ([o.created] if o.created else []) + o.results]


def import_batches(ledger: Ledger, batches: Sequence[Batch], *, keep: bool = True) -> Imported:
    """Record every batch in one transaction: all of them, or (on any error) none.

    A saved test file creates its test, or finds the test an earlier import (or an
    identical ``ab create``) defined; its sessions already recorded are skipped. A
    streamed JSONL batch is decided :data:`CHUNK` results at a time inside the same
    transaction. With ``keep=False`` the recorded events are counted, not kept (memory
    stays flat however large the file).
    """
    from trialbook.domain import ab as d

    out = Imported()
    derived = 0
    streams = [d.stream_for(b.test) for b in batches]
    bulk_mode: list[bool] = []
    with no_cyclic_gc(), _one_transaction(ledger, streams), ExitStack() as bulk:

        def many(results: Sequence[Any]) -> None:
            """Before a large append: the store's bulk mode, once (see ``_BULK``)."""
            if len(results) >= _BULK and not bulk_mode:
                enter = getattr(ledger.store, "appending_in_bulk", None)
                if enter is not None:
                    bulk.enter_context(enter())
                bulk_mode.append(True)

        for b in batches:
            if b.chunks is not None:
                outcome = Outcome(b, None, [])
                with closing(b.chunks):
                    for chunk in b.chunks:
                        for blob in chunk.blobs:
                            ledger.store.put_blob(blob, "application/json")
                        many(chunk.results)
                        recorded = _execute_results(ledger, b, chunk.results, chunk.sources, None)
                        _tally(outcome, recorded, keep)
                        derived += chunk.derived
                out.outcomes.append(outcome)
                continue
            derived += b.derived
            for blob in b.blobs:
                ledger.store.put_blob(blob, "application/json")
            many(b.results)
            if b.create is None:
                recorded = _execute_results(ledger, b, b.results, b.sources, None)
                out.outcomes.append(_tally(Outcome(b, None, []), recorded, keep))
                continue
            created = None
            if _existing_definition(ledger, b) is None:
                (created,) = ledger.execute(b.create, event_ids=[test_event_id(b.test)])
            fresh = _not_yet_recorded(ledger, b)
            recorded = _execute_results(
                ledger,
                b,
                tuple(b.results[i] for i in fresh),
                tuple(b.sources[i] for i in fresh),
                [b.event_ids[i] for i in fresh] if b.event_ids else None,
            )
            outcome = Outcome(b, created, [], len(b.results) - len(fresh))
            out.outcomes.append(_tally(outcome, recorded, keep))
    out.notes = _notes(batches, derived)
    return out


#: results in one append from which an import puts the store in bulk mode (on SQLite the
#: insert guard is left out of the transaction's own inserts, ``appending_in_bulk``): the
#: schema change that costs is paid once, and a file of a few results is recorded as any
#: append is
_BULK = 1_000


def _tally(outcome: Outcome, recorded: list[RecordedEvent], keep: bool) -> Outcome:
    if recorded:
        outcome.count += len(recorded)
        outcome.first = recorded[0].position if outcome.first is None else outcome.first
        outcome.last = recorded[-1].position
        if keep:
            outcome.results.extend(recorded)
    return outcome


@contextmanager
def _one_transaction(ledger: Ledger, streams: Sequence[str]) -> Iterator[None]:
    """One write transaction around several commands; a rollback forgets what they cached."""
    try:
        with ledger.store.transaction():
            yield
    except BaseException:
        for stream in streams:  # the ledger cached the state of appends that were rolled back
            ledger._states.pop(stream, None)
        raise


def _execute_results(
    ledger: Ledger,
    b: Batch,
    results: tuple[Any, ...],
    sources: Sequence[str],
    event_ids: list[str] | None,
) -> list[RecordedEvent]:
    from trialbook.domain import ab as d
    from trialbook.domain.errors import DomainError

    if not results:
        return []
    # the results were validated as they were read: not a second time, one by one, here
    command = d.AddResults.model_construct(test=b.test, results=results, sources=sources)
    try:
        return ledger.execute(command, event_ids=event_ids)
    except DomainError as e:
        if b.create is None:
            raise
        raise type(e)(f"{b.source}: {e}") from None


def _existing_definition(ledger: Ledger, b: Batch) -> dict[str, Any] | None:
    """The stored definition of ``b``'s test, None if there is none; raises if it differs."""
    from trialbook.domain import ab as d

    stream = d.stream_for(b.test)
    first = next(iter(ledger.store.read_stream(stream)), None)
    if first is None:
        return None
    old = first.data
    new = d.decide(b.create, d.ABTestState())[0].to_data()
    if old == new:
        return old
    order = ["variants", "control", "metric", *TASK_KEYS, *sorted(set(old) | set(new))]
    key = next(k for k in order if old.get(k) != new.get(k))
    spelled = f"task.{key}" if key in TASK_KEYS else key
    raise InvalidCommand(
        f"{b.source}: test {b.test!r} already exists with another {spelled} "
        f"({_short(old.get(key))} there, {_short(new.get(key))} in the file); import the file "
        f"under another name: trialbook ab import NAME {b.source}"
    )


def _not_yet_recorded(ledger: Ledger, b: Batch) -> list[int]:
    """Indexes of ``b``'s results whose event ids are not in the log; one recorded with
    other content raises."""
    from trialbook.domain import ab as d
    from trialbook.domain.canonical import canonical_json

    assert b.event_ids is not None
    stream = d.stream_for(b.test)
    fresh = []
    for i, (result, event_id) in enumerate(zip(b.results, b.event_ids, strict=True)):
        old = ledger.store.get(event_id)
        if old is None:
            fresh.append(i)
        elif old.stream_id != stream or old.data_json != canonical_json(
            d.ResultAdded.of(result).to_data()
        ):
            raise InvalidCommand(
                f"{b.source}: {b.sources[i]}: session {result.session_id!r} was imported before "
                f"(event #{old.position}) with other values; import the file under another name: "
                f"trialbook ab import NAME {b.source}"
            )
    return fresh


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _notes(batches: Sequence[Batch], derived: int) -> list[str]:
    notes = [
        f"Note: {b.source}: test id {b.test_id!r} is named {b.test!r} here."
        for b in batches
        if b.test_id
    ]
    if derived:
        notes.append(
            f"Note: error_rate and success_rate of {derived} session{'s' * (derived != 1)} were "
            "not stored: the framework derives them from tool_calls and successful_tool_calls, "
            "and trialbook computes its own from those (metrics error_rate and tool_success_rate)."
        )
    summaries = [b for b in batches if b.summary]
    if summaries:
        names = ", ".join(b.test for b in summaries[:3]) + (", …" if len(summaries) > 3 else "")
        notes.append(
            "Note: the summary block of the file was not stored: `trialbook ab summary "
            f"{summaries[0].test}` computes its counts and averages from the results"
            if len(summaries) == 1
            else f"Note: the summary blocks were not stored: `trialbook ab summary NAME` "
            f"({names}) computes their counts and averages from the results"
        )
        notes[-1] += (
            " (the framework's avg_success_rate is mean_tool_success_rate there: metric "
            "tool_success_rate, the mean of each session's successful / tool calls)."
        )
    return notes


# --------------------------------------------------------------------------- the framework's rule


def seed_recommendation(cold_error_rate: float | None, warm_error_rate: float | None) -> str | None:
    """What the warm-session framework's rule concludes from the two mean error rates.

    ``"warm"`` when warm's mean error rate is at least :data:`SEED_IMPROVEMENT` (20 %)
    below cold's, ``"cold"`` otherwise (no improvement), None without both rates. The
    rule looks at no sample size: it is how the framework decided, not how trialbook does.
    """
    if cold_error_rate is None or warm_error_rate is None:
        return None
    if cold_error_rate > 0 and (cold_error_rate - warm_error_rate) / cold_error_rate >= (
        SEED_IMPROVEMENT - 1e-12
    ):
        return "warm"
    return "cold"
