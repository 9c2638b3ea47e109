"""Verifying the event log, and its portable form (the JSONL of ``events export``).

Raw rows are tuples in the column order of ``store.sqlite.COLUMNS``
(position, event_id, stream_id, version, type, schema_version, data, metadata,
recorded_at, prev_hash, hash). The hash chain covers the stored text, so
checking it needs no JSON parsing: each row's envelope text is rebuilt from its
columns (by SQLite itself when verifying a file, by :func:`envelope_of_row` for
imported lines) and hashed with its ``prev_hash``.

:class:`ChainChecker` is the one implementation of the rules, used by
``events verify`` (a whole file) and by ``SQLiteEventStore.import_envelopes``
(a continuation of a file). It reports, in position order:

- ``missing position``: the log jumps over a position (a row was deleted);
- ``broken link``: a row's ``prev_hash`` is not the hash of the row before it
  (the row before was rewritten and re-hashed, or this one was);
- ``changed content``: a row's hash does not match its columns (edited in place);
- ``version gap`` / ``duplicate version``: a stream's versions do not run 1, 2, 3….

:func:`schema_problems` checks what the rows cannot show: that the append-only
triggers and the unique indexes of the ``events`` table are still in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any

from domain.canonical import GENESIS_HASH, canonical_json
from store.errors import StoreError

#: stop collecting after this many problems (the first one is what matters)
MAX_PROBLEMS = 20

EXPORT_KEYS = (
    "data",
    "event_id",
    "hash",
    "metadata",
    "position",
    "prev_hash",
    "recorded_at",
    "schema_version",
    "stream_id",
    "type",
    "version",
)


class ChainError(StoreError):
    """Envelopes do not form a valid hash chain, or do not continue this log's chain."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the log, at the first position it shows."""

    position: int
    kind: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position, "kind": self.kind, "message": self.message}


@dataclass
class Report:
    """What a verification found. ``ok`` is false if there is any problem."""

    events: int = 0
    head_position: int = 0
    head_hash: str = GENESIS_HASH
    streams: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head_position": self.head_position,
            "head_hash": self.head_hash,
            "streams": self.streams,
            "problems": [p.to_dict() for p in self.problems],
        }


def envelope_of_row(row: Sequence[Any]) -> str:
    """The canonical envelope text of a raw row (what its hash covers); see ``domain.canonical.envelope_json``."""
    e = encode_basestring
    return (
        f'{{"data":{row[6]},"event_id":{e(row[1])},"metadata":{row[7]},'
        f'"position":{int(row[0])},"prev_hash":{e(row[9])},"recorded_at":{e(row[8])},'
        f'"schema_version":{int(row[5])},"stream_id":{e(row[2])},"type":{e(row[4])},'
        f'"version":{int(row[3])}}}'
    )


def checked_row(row: Sequence[Any]) -> tuple[Any, ...]:
    """A raw row as :class:`ChainChecker` takes it: ``(position, stream_id, version, prev_hash, hash, hashed)``.

    ``hashed`` is the UTF-8 of ``prev_hash`` + envelope, the bytes whose SHA-256 the hash must be.
    """
    return (row[0], row[2], row[3], row[9], row[10], (row[9] + envelope_of_row(row)).encode("utf-8"))


#: the rows of the log as :class:`ChainChecker` takes them, the hashed text built by SQLite:
#: ``json_quote`` escapes exactly as ``json.encoder.encode_basestring`` (tests check it), and
#: the text is read as a blob, so a column that is not UTF-8 is a mismatch, not a decoding error
CHECKED_ROWS_SQL = (
    "SELECT position, stream_id, version, prev_hash, hash, CAST(prev_hash || '{\"data\":' || data "
    "|| ',\"event_id\":' || json_quote(event_id) || ',\"metadata\":' || metadata "
    "|| ',\"position\":' || position || ',\"prev_hash\":' || json_quote(prev_hash) "
    "|| ',\"recorded_at\":' || json_quote(recorded_at) || ',\"schema_version\":' || schema_version "
    "|| ',\"stream_id\":' || json_quote(stream_id) || ',\"type\":' || json_quote(type) "
    "|| ',\"version\":' || version || '}' AS BLOB) FROM events WHERE position > ? ORDER BY position"
)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class ChainChecker:
    """Checks rows fed in position order against the hash chain and the stream version rules.

    Rows come as :func:`checked_row` makes them (or :data:`CHECKED_ROWS_SQL`
    reads them). Start it after ``position`` whose hash is ``prev_hash`` (0 and
    the genesis hash for a whole log). ``version_before(stream)`` gives a
    stream's version before the first row fed (0 for a whole log). After a
    problem, checking goes on from the row as stored, so later, independent
    problems are found too.
    """

    def __init__(
        self,
        position: int = 0,
        prev_hash: str = GENESIS_HASH,
        version_before: Callable[[str], int] | None = None,
        max_problems: int = MAX_PROBLEMS,
    ) -> None:
        self.position = position
        self.hash = prev_hash
        self.count = 0
        self.versions: dict[Any, int] = {}
        self.version_before = version_before or (lambda stream: 0)
        self.problems: list[Problem] = []
        self.max_problems = max_problems

    @property
    def full(self) -> bool:
        """True once ``max_problems`` were found (callers may stop reading)."""
        return len(self.problems) >= self.max_problems

    def feed(self, rows: Iterable[Sequence[Any]]) -> None:
        """Check ``rows`` following those fed before (the loop is the hot path of ``events verify``)."""
        sha256 = hashlib.sha256
        versions = self.versions
        expected = self.position + 1
        last_hash = self.hash
        count = 0
        try:
            for pos, sid, ver, prev, h, hashed in rows:
                count += 1
                before = versions.get(sid)
                if before is None:
                    before = self.version_before(sid)
                try:
                    good = sha256(hashed).hexdigest() == h
                except TypeError:  # a NULL or a value of another type (written by another tool)
                    good = False
                if pos != expected or prev != last_hash or not good or ver != before + 1:
                    self._classify(pos, sid, ver, prev, expected, last_hash, good, before)
                versions[sid] = ver
                expected = pos + 1
                last_hash = h
        finally:
            self.position = expected - 1
            self.hash = last_hash
            self.count += count

    def _classify(
        self, pos: int, sid: Any, ver: Any, prev: Any, expected: int, last_hash: str, good: bool, before: int
    ) -> None:
        if pos != expected:
            if pos > expected:
                one = pos == expected + 1
                span = f"position {expected}" if one else f"positions {expected}-{pos - 1}"
                after = f"from {expected - 1} to {pos}" if expected > 1 else f"from the start to {pos}"
                self._add(expected, "missing position",
                          f"{span} {'is' if one else 'are'} missing: the log jumps {after} (a row was deleted)")
            else:
                self._add(pos, "out of order", f"position {pos} comes after position {expected - 1}")
            return
        if not good:
            self._add(pos, "changed content",
                      f"the stored hash of position {pos} does not match its content "
                      "(the row was edited after it was written)")
            return
        if prev != last_hash:
            where = f"position {pos - 1}" if pos > 1 else "the start of the log"
            self._add(pos, "broken link",
                      f"position {pos} does not follow {where}: its prev_hash {_text(prev)[:12]}... is not "
                      f"{_text(last_hash)[:12]}... (the row before was rewritten and re-hashed, or this one was)")
            return
        stream = _text(sid)
        if isinstance(ver, int) and ver <= before:
            self._add(pos, "duplicate version",
                      f"stream {stream} has version {ver} again at position {pos} (it was at version {before})")
        else:
            self._add(pos, "version gap", f"stream {stream} jumps from version {before} to {ver} at position {pos}")

    def _add(self, position: int, kind: str, message: str) -> None:
        if len(self.problems) < self.max_problems:
            self.problems.append(Problem(position, kind, message))

    def report(self) -> Report:
        return Report(
            events=self.count, head_position=self.position, head_hash=_text(self.hash),
            streams=len(self.versions), problems=list(self.problems),
        )


def verify_rows(batches: Iterable[Sequence[Sequence[Any]]], *, max_problems: int = MAX_PROBLEMS) -> Report:
    """Verify a whole log given as batches of checked rows (:func:`checked_row`) in position order."""
    checker = ChainChecker(max_problems=max_problems)
    for batch in batches:
        checker.feed(batch)
        if checker.full:
            break
    return checker.report()


def read_checked_rows(
    conn: sqlite3.Connection, after: int = 0, batch_size: int = 10_000
) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of checked rows of the log after position ``after``, read with :data:`CHECKED_ROWS_SQL`.

    A text column that is not valid UTF-8 (bytes written by another tool) cannot
    be decoded by ``sqlite3``; such a batch is re-read with text as bytes, so the
    row fails its checks instead of the read failing. Call it inside a read
    transaction for one consistent view.
    """
    while True:
        cur = conn.cursor()
        try:
            cur.execute(CHECKED_ROWS_SQL, (after,))
            while rows := cur.fetchmany(batch_size):
                after = rows[-1][0]
                yield rows
            return
        except sqlite3.OperationalError as e:
            if "decode" not in str(e):
                raise
        finally:
            cur.close()
        factory = conn.text_factory
        conn.text_factory = bytes
        try:
            rows = conn.execute(CHECKED_ROWS_SQL + " LIMIT ?", (after, batch_size)).fetchall()
        finally:
            conn.text_factory = factory
        if not rows:  # pragma: no cover - the row that failed to decode was there a moment ago
            return
        after = rows[-1][0]
        yield rows


def verify_connection(conn: sqlite3.Connection, *, max_problems: int = MAX_PROBLEMS) -> Report:
    """Verify the log of a trialbook file: its chain, versions, recorded head and schema guards.

    Reads one consistent snapshot of the file (a read transaction). Problems
    the rows show come first, in position order; then a truncated tail; then
    missing guards (at position 0: they concern the whole file).
    """
    began = not conn.in_transaction
    if began:
        conn.execute("BEGIN")
    try:
        report = verify_rows(read_checked_rows(conn), max_problems=max_problems)
        heads = recorded_heads(conn)
        guards = schema_problems(conn)
    finally:
        if began:
            conn.execute("COMMIT")
    cut = truncation_problem(report, heads)
    if cut is not None:
        report.problems.append(cut)
    for text in guards:
        report.problems.append(Problem(0, "unguarded file", text + " (the file no longer refuses edits)"))
    return report


# --------------------------------------------------------------------------- what rows cannot show

#: trigger name -> the statement it must guard
APPEND_ONLY_TRIGGERS = {
    "events_append_only_update": "BEFORE UPDATE ON EVENTS",
    "events_append_only_delete": "BEFORE DELETE ON EVENTS",
}
UNIQUE_INDEXES = {
    "events_event_id": ["event_id"],
    "events_stream_version": ["stream_id", "version"],
}


def schema_problems(conn: sqlite3.Connection) -> list[str]:
    """What is missing from the ``events`` table's guards: append-only triggers and unique indexes.

    A file whose triggers were dropped could have been edited; the chain check
    tells whether it was, but the file no longer refuses edits.
    """
    out = []
    triggers = {
        name: " ".join((sql or "").upper().split())
        for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
    }
    for name, guard in APPEND_ONLY_TRIGGERS.items():
        sql = triggers.get(name)
        if sql is None:
            out.append(f"the append-only trigger {name} is missing")
        elif guard not in sql or "RAISE(ABORT" not in sql.replace(" ", ""):
            out.append(
                f"the append-only trigger {name} was replaced by one that does not refuse the change"
            )
    for name, columns in UNIQUE_INDEXES.items():
        info = conn.execute(
            "SELECT \"unique\" FROM pragma_index_list('events') WHERE name = ?", (name,)
        ).fetchone()
        cols = [
            r[0]
            for r in conn.execute("SELECT name FROM pragma_index_info(?) ORDER BY seqno", (name,))
        ]
        if info is None or not info[0] or cols != columns:
            out.append(f"the unique index {name} ({', '.join(columns)}) is missing")
    return out


def recorded_heads(conn: sqlite3.Connection) -> dict[str, int]:
    """Positions other tables of the file say the log reached (to catch a truncated tail).

    Projection checkpoints are written in the same transaction as the events
    they fold, so a checkpoint beyond the log's head means rows at the end were
    removed. (A tool that also edits the checkpoints is caught only by comparing
    the head hash with one recorded elsewhere.)
    """
    out: dict[str, int] = {}
    try:
        row = conn.execute(
            "SELECT name, position FROM projection_checkpoints ORDER BY position DESC LIMIT 1"
        ).fetchone()
    except sqlite3.OperationalError:
        row = None
    if row is not None:
        out[f"projection checkpoint {row[0]}"] = int(row[1])
    return out


def truncation_problem(report: Report, heads: dict[str, int]) -> Problem | None:
    """A problem if some table recorded a position beyond the log's head."""
    for what, position in heads.items():
        if position > report.head_position:
            first = report.head_position + 1
            span = f"position {first}" if position == first else f"positions {first}-{position}"
            return Problem(
                first,
                "missing position",
                f"{span} {'is' if position == first else 'are'} missing: the log ends at "
                f"{report.head_position} but the {what} reached {position} "
                "(rows at the end were deleted)",
            )
    return None


# --------------------------------------------------------------------------- the export format


def export_line(row: Sequence[Any]) -> str:
    """One exported event: canonical JSON of the whole envelope including its hash (no newline).

    ``data`` and ``metadata`` are spliced in as stored, so the line is exactly
    ``canonical_json`` of the envelope dict and an import rebuilds the same text.
    """
    e = encode_basestring
    return (
        f'{{"data":{row[6]},"event_id":{e(row[1])},"hash":{e(row[10])},"metadata":{row[7]},'
        f'"position":{int(row[0])},"prev_hash":{e(row[9])},"recorded_at":{e(row[8])},'
        f'"schema_version":{int(row[5])},"stream_id":{e(row[2])},"type":{e(row[4])},'
        f'"version":{int(row[3])}}}'
    )


def _need_int(value: Any, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{key} must be a positive integer")
    return value


def _need_text(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value


def parse_line(text: str) -> tuple[Any, ...]:
    """The raw row of one exported line; ``ValueError`` says what is wrong with it."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    missing = [k for k in EXPORT_KEYS if k not in obj]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    extra = sorted(set(obj) - set(EXPORT_KEYS))
    if extra:
        raise ValueError(f"unknown field {extra[0]}")
    for key in ("data", "metadata"):
        if not isinstance(obj[key], dict):
            raise ValueError(f"{key} must be a JSON object")
    try:
        data_json, meta_json = canonical_json(obj["data"]), canonical_json(obj["metadata"])
    except ValueError:
        raise ValueError("data holds NaN or Infinity") from None
    return (
        _need_int(obj["position"], "position"),
        _need_text(obj["event_id"], "event_id"),
        _need_text(obj["stream_id"], "stream_id"),
        _need_int(obj["version"], "version"),
        _need_text(obj["type"], "type"),
        _need_int(obj["schema_version"], "schema_version"),
        data_json,
        meta_json,
        _need_text(obj["recorded_at"], "recorded_at"),
        _need_text(obj["prev_hash"], "prev_hash"),
        _need_text(obj["hash"], "hash"),
    )
