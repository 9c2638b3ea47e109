"""Verifying the event log, and its portable form (the JSONL of ``events export``).

Raw rows are tuples in the column order of ``store.sqlite.COLUMNS``
(position, event_id, stream_id, version, type, schema_version, data, metadata,
recorded_at, prev_hash, hash). The hash chain covers the stored text, so
checking it needs no JSON parsing: each row's envelope text is rebuilt from its
columns (one bytes format when no string field needs JSON escaping, else
:func:`envelope_of_row`) and hashed with its ``prev_hash``.

:class:`ChainChecker` is the one implementation of the rules, used by
``events verify`` (a whole file) and by ``SQLiteEventStore.import_envelopes``
(a continuation of a file); ``events verify`` reads rows in the order of
:data:`ENVELOPE_ROWS_SQL` and takes each batch with nothing to report in one
step (:meth:`ChainChecker.feed_envelope_rows`), a batch that does not pass row
by row. It reports, in position order:

- ``missing position``: the log jumps over a position (a row was deleted);
- ``broken link``: a row's ``prev_hash`` is not the hash of the row before it
  (the row before was rewritten and re-hashed, or this one was);
- ``changed content``: a row's hash does not match its columns (edited in place);
- ``version gap`` / ``duplicate version``: a stream's versions do not run 1, 2, 3….

:func:`schema_problems` checks what the rows cannot show: that the append-only
triggers and the unique indexes of the ``events`` table are still in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trialbook.domain.canonical import GENESIS_HASH, canonical_json
from trialbook.store.errors import NotATrialbookDatabase
from trialbook.store.migrations import APPLICATION_ID

if TYPE_CHECKING:
    import subprocess

#: stop collecting after this many problems (the first one is what matters)
MAX_PROBLEMS = 20
#: below this many events a file is verified in one process (starting workers costs more)
PARALLEL_MIN_EVENTS = 100_000
MAX_WORKERS = 4

#: marks a line of ``events export --upcast`` (data as it reads today, no hashes)
UPCAST_KEY = "stored_schema_version"
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


#: the envelope of a raw row whose text columns are bytes, for fields that need no JSON escaping
ENVELOPE_BYTES = (
    b'{"data":%s,"event_id":"%s","metadata":%s,"position":%d,"prev_hash":"%s","recorded_at":"%s",'
    b'"schema_version":%d,"stream_id":"%s","type":"%s","version":%d}'
)
#: bytes that JSON escapes inside a string (``encode_basestring`` with ``ensure_ascii=False``)
_NEEDS_ESCAPING = re.compile(rb'[\x00-\x1f"\\]').search
_HEX_HASH = re.compile(rb"[0-9a-f]{64}")

#: the log's rows, oldest first; read with ``text_factory = bytes`` (see :func:`read_raw_rows`)
RAW_ROWS_SQL = (
    "SELECT position, event_id, stream_id, version, type, schema_version, data, metadata, "
    "recorded_at, prev_hash, hash FROM events WHERE position > ? ORDER BY position"
)


#: the log's rows as :meth:`ChainChecker.feed_envelope_rows` takes them (read with
#: ``text_factory = bytes``): the values :data:`ENVELOPE_ROW` formats, in its order, then ``hash``
ENVELOPE_ROWS_SQL = (
    "SELECT prev_hash, data, event_id, metadata, position, prev_hash, recorded_at, schema_version, "
    "stream_id, type, version, hash FROM events WHERE position > ? AND position <= ? "
    "ORDER BY position"
)
#: ``prev_hash`` + envelope of such a row (its trailing ``hash`` formats as nothing): exactly what
#: the writer hashed when no string field needs escaping, as in the fast path of :meth:`ChainChecker.feed`
ENVELOPE_ROW = b"%s" + ENVELOPE_BYTES + b"%.0s"
#: an envelope row in the raw order (``store.sqlite.COLUMNS``)
_RAW_OF_ENVELOPE_ROW = itemgetter(4, 2, 8, 10, 9, 7, 1, 3, 6, 0, 11)
_PREV, _EVENT_ID, _POSITION, _RECORDED_AT, _STREAM, _TYPE, _VERSION, _HASH = (
    itemgetter(i) for i in (0, 2, 4, 6, 8, 9, 10, 11)
)
#: what ``_NEEDS_ESCAPING`` looks for, as a ``bytes.translate`` deletion set
_ESCAPED = bytes(range(0x20)) + b'"\\'
_HEXDIGEST = type(hashlib.sha256()).hexdigest  # the unbound method: faster in map than methodcaller
#: a position no log reaches (the largest SQLite integer)
_NO_END = 2**63 - 1
#: rows per batch of ``events verify``: small enough that a batch's rows stay in the CPU cache
#: between the passes of :meth:`ChainChecker._feed_clean` (10,000 a batch was ~15% slower)
VERIFY_BATCH = 500


def raw_bytes_row(row: Sequence[Any]) -> tuple[Any, ...]:
    """A raw row with its text columns as UTF-8 bytes (how :class:`ChainChecker` takes rows)."""
    return tuple(x.encode("utf-8") if isinstance(x, str) else x for x in row)


def hashed_bytes(row: Sequence[Any]) -> bytes | None:
    """``prev_hash`` + canonical envelope of a bytes row, exactly as the writer hashed it; None if it cannot be.

    The slow, general path: text is decoded and escaped as ``envelope_json`` does.
    """
    try:
        text = tuple(x.decode("utf-8") if isinstance(x, bytes) else x for x in row)
        return (text[9] + envelope_of_row(text)).encode("utf-8")
    except (UnicodeError, TypeError, ValueError, OverflowError):  # e.g. an infinite REAL version
        return None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class ChainChecker:
    """Checks rows fed in position order against the hash chain and the stream version rules.

    Rows are raw rows with text columns as bytes (:func:`raw_bytes_row`, or
    :func:`read_raw_rows` from a file). Start it after ``position`` whose hash
    is ``prev_hash`` (0 and the genesis hash for a whole log).
    ``version_before(stream)`` gives a stream's version before the first row
    fed (0 for a whole log); when it returns None the version is unknown, and
    the stream's first version and position are kept in ``firsts`` for the
    caller to check (a part of a log checked on its own). After a problem,
    checking goes on from the row as stored, so later, independent problems are
    found too.
    """

    def __init__(
        self,
        position: int = 0,
        prev_hash: str | bytes = GENESIS_HASH,
        version_before: Callable[[str], int | None] | None = None,
        max_problems: int = MAX_PROBLEMS,
    ) -> None:
        self.position = position
        self.hash = prev_hash.encode("ascii") if isinstance(prev_hash, str) else prev_hash
        # prev_hash is trusted as a link only when it looks like a hash (see feed)
        self._last_good = (
            isinstance(self.hash, bytes) and _HEX_HASH.fullmatch(self.hash) is not None
        )
        self._safe: set[bytes] = set()
        self.count = 0
        self.versions: dict[Any, int] = {}
        #: stream -> (its first version, at position) when its earlier versions were unknown
        self.firsts: dict[Any, tuple[Any, int]] = {}
        #: streams of ``firsts`` whose first row was reported for another problem (a
        #: missing position before it, a changed hash …): its version is not judged again
        self.reported_firsts: set[Any] = set()
        self.version_before = version_before or (lambda stream: 0)
        self.problems: list[Problem] = []
        self.max_problems = max_problems

    @property
    def full(self) -> bool:
        """True once ``max_problems`` were found (callers may stop reading)."""
        return len(self.problems) >= self.max_problems

    def feed(self, rows: Iterable[Sequence[Any]]) -> None:
        """Check raw rows (text columns as bytes) following those fed before.

        The hot path of ``events verify``: the envelope is formatted as bytes
        without escaping, which is exact when no field needs escaping; stream
        ids, types and timestamps repeat, so each distinct value is checked once,
        and ``prev_hash`` is safe when it equals the previous row's verified hash.
        Any other row takes the general path (:func:`hashed_bytes`).
        """
        sha256 = hashlib.sha256
        needs_escaping = _NEEDS_ESCAPING
        envelope = ENVELOPE_BYTES
        versions = self.versions
        safe = self._safe
        expected = self.position + 1
        last_hash = self.hash
        last_good = self._last_good
        count = 0
        try:
            for row in rows:
                count += 1
                pos, eid, sid, ver, typ, sv, data, meta, at, prev, h = row
                try:
                    if (
                        needs_escaping(eid) is None
                        and (sid in safe or self._is_safe(sid))
                        and (typ in safe or self._is_safe(typ))
                        and (at in safe or self._is_safe(at, remember=False))
                        and prev == last_hash
                        and last_good
                    ):
                        hashed: bytes | None = prev + envelope % (
                            data,
                            eid,
                            meta,
                            pos,
                            prev,
                            at,
                            sv,
                            sid,
                            typ,
                            ver,
                        )
                    else:
                        hashed = hashed_bytes(row)
                    good = hashed is not None and sha256(hashed).hexdigest().encode() == h
                except (
                    TypeError,
                    ValueError,
                    OverflowError,
                ):  # a value of another type (another tool)
                    good = False
                before = versions.get(sid)
                if before is None:
                    before = self.version_before(_text(sid))
                    if before is None:
                        self.firsts[sid] = (ver, pos)
                        before = ver - 1 if isinstance(ver, int) else 0
                if pos != expected or prev != last_hash or not good or ver != before + 1:
                    self._classify(pos, sid, ver, prev, expected, last_hash, good, before)
                    if self.firsts.get(sid, (None, None))[1] == pos:
                        self.reported_firsts.add(sid)
                # a version that is not a number (text, written by another tool) was reported
                # above; the stream's later rows are judged from where it should be
                versions[sid] = ver if isinstance(ver, int | float) else before + 1  # type: ignore[assignment]
                expected = pos + 1
                last_hash = h
                last_good = good
        finally:
            self.position = expected - 1
            self.hash = last_hash
            self._last_good = last_good
            self.count += count

    def feed_envelope_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        """Check rows read with :data:`ENVELOPE_ROWS_SQL`, following those fed before (``events verify``).

        A batch with nothing to report is taken in one step (:meth:`_feed_clean`);
        any other batch goes row by row through :meth:`feed`, so the problems,
        their messages and the state left are the same as feeding raw rows.
        """
        if not self._feed_clean(rows):
            self.feed(map(_RAW_OF_ENVELOPE_ROW, rows))

    def _feed_clean(self, rows: Sequence[Sequence[Any]]) -> bool:
        """Take a batch of envelope rows if :meth:`feed` would find no problem in it; else change nothing.

        The conditions are those under which every row takes the fast path of
        :meth:`feed` and passes all its checks: the batch links to the last
        hash, which was verified (so each ``prev_hash`` is a verified hex digest,
        safe to splice), no string field needs escaping, every hash matches the
        formatted envelope, positions run on and stream versions continue. All
        but the versions are checked with C-level passes over the whole batch
        (``map``, list comparisons, ``bytes.translate``). The state left is the
        one :meth:`feed` would leave; ``version_before`` is asked about new
        streams in the same order, and again by :meth:`feed` if the batch does
        not pass.
        """
        n = len(rows)
        if not n:
            return True
        if not self._last_good:
            return False
        try:
            hashes = list(map(_HASH, rows))
            prevs = list(map(_PREV, rows))
            if prevs[0] != self.hash or prevs[1:] != hashes[:-1]:
                return False
            positions = list(map(_POSITION, rows))
            if positions != list(range(self.position + 1, self.position + 1 + n)):
                return False
            for column in (_EVENT_ID, _STREAM, _TYPE, _RECORDED_AT):
                text = b"".join(map(column, rows))  # TypeError unless all are bytes
                if len(text.translate(None, _ESCAPED)) != len(text):
                    return False
            lasts, firsts = self._stream_versions(rows, positions)
            if lasts is None:
                return False
            hashed = map(ENVELOPE_ROW.__mod__, rows)
            if list(map(str.encode, map(_HEXDIGEST, map(hashlib.sha256, hashed)))) != hashes:
                return False
        except (TypeError, ValueError, OverflowError):  # values of other types: the row by row path
            return False
        self.versions.update(lasts)
        self.firsts.update(firsts)
        expected = positions[-1] + 1  # as feed computes it, for positions of any numeric type
        self.position = expected - 1
        self.hash = hashes[-1]
        self.count += n
        return True

    def _stream_versions(
        self, rows: Sequence[Sequence[Any]], positions: list[Any]
    ) -> tuple[dict[Any, Any] | None, dict[Any, tuple[Any, int]]]:
        """The versions :meth:`feed` would leave for the batch's streams and the firsts it would add.

        ``None`` for the versions if a stream's versions do not continue (the
        rule and the lookups are those of :meth:`feed`). A batch of one stream
        (the usual case: a command appends to one stream) is compared with a
        ``range`` at once.
        """
        lasts: dict[Any, Any] = {}
        firsts: dict[Any, tuple[Any, int]] = {}
        streams = list(map(_STREAM, rows))
        versions = list(map(_VERSION, rows))
        stream = streams[0]
        if streams.count(stream) == len(streams):
            before = self.versions.get(stream)
            if before is None:
                before = self.version_before(_text(stream))
                if before is None:
                    first = versions[0]
                    firsts[stream] = (first, positions[0])
                    before = first - 1 if isinstance(first, int) else 0
            if versions != list(range(before + 1, before + 1 + len(versions))):
                return None, firsts
            return {stream: versions[-1]}, firsts
        new, old = lasts.get, self.versions.get
        for stream, version, position in zip(streams, versions, positions, strict=True):
            before = new(stream)
            if before is None:
                before = old(stream)
                if before is None:
                    before = self.version_before(_text(stream))
                    if before is None:
                        firsts[stream] = (version, position)
                        before = version - 1 if isinstance(version, int) else 0
            if version != before + 1:
                return None, firsts
            lasts[stream] = version
        return lasts, firsts

    def _is_safe(self, value: Any, remember: bool = True) -> bool:
        if not isinstance(value, bytes) or _NEEDS_ESCAPING(value) is not None:
            return False
        if remember or len(self._safe) < 1000:
            self._safe.add(value)
        return True

    def _classify(
        self,
        pos: int,
        sid: Any,
        ver: Any,
        prev: Any,
        expected: int,
        last_hash: bytes,
        good: bool,
        before: int,
    ) -> None:
        if pos != expected:
            if pos > expected:
                one = pos == expected + 1
                span = f"position {expected}" if one else f"positions {expected}-{pos - 1}"
                after = (
                    f"from {expected - 1} to {pos}" if expected > 1 else f"from the start to {pos}"
                )
                self._add(
                    expected,
                    "missing position",
                    f"{span} {'is' if one else 'are'} missing: the log jumps {after} (a row was deleted)",
                )
            else:
                self._add(
                    pos, "out of order", f"position {pos} comes after position {expected - 1}"
                )
            return
        if not good:
            self._add(
                pos,
                "changed content",
                f"the stored hash of position {pos} does not match its content "
                "(the row was edited after it was written)",
            )
            return
        if prev != last_hash:
            where = f"position {pos - 1}" if pos > 1 else "the start of the log"
            self._add(
                pos,
                "broken link",
                f"position {pos} does not follow {where}: its prev_hash {_text(prev)[:12]}... is not "
                f"{_text(last_hash)[:12]}... (the row before was rewritten and re-hashed, or this one was)",
            )
            return
        if len(self.problems) < self.max_problems:
            self.problems.append(_version_problem(pos, _text(sid), ver, before))

    def _add(self, position: int, kind: str, message: str) -> None:
        if len(self.problems) < self.max_problems:
            self.problems.append(Problem(position, kind, message))

    def report(self) -> Report:
        return Report(
            events=self.count,
            head_position=self.position,
            head_hash=_text(self.hash),
            streams=len(self.versions),
            problems=list(self.problems),
        )


def verify_rows(
    batches: Iterable[Sequence[Sequence[Any]]], *, max_problems: int = MAX_PROBLEMS
) -> Report:
    """Verify a whole log given as batches of raw rows (text as bytes) in position order."""
    checker = ChainChecker(max_problems=max_problems)
    for batch in batches:
        checker.feed(batch)
        if checker.full:
            break
    return checker.report()


def read_raw_rows(
    conn: sqlite3.Connection, after: int = 0, until: int | None = None, batch_size: int = 10_000
) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of the log's raw rows after position ``after`` (up to ``until``), text columns as bytes.

    Bytes are what the hash covers, they skip decoding (the larger part of the
    cost of reading), and text that is not valid UTF-8 (written by another
    tool) fails its hash check instead of failing the read. Sets the
    connection's ``text_factory`` while reading: give it a connection of its own.
    """
    if until is None:
        return _byte_batches(conn, RAW_ROWS_SQL, (after,), batch_size)
    sql = RAW_ROWS_SQL.replace("ORDER BY", "AND position <= ? ORDER BY")
    return _byte_batches(conn, sql, (after, until), batch_size)


def read_envelope_rows(
    conn: sqlite3.Connection,
    after: int = 0,
    until: int | None = None,
    batch_size: int = VERIFY_BATCH,
) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of the log's rows after ``after`` (up to ``until``) as :meth:`ChainChecker.feed_envelope_rows` takes them.

    Read like :func:`read_raw_rows` (text as bytes), in the order of
    :data:`ENVELOPE_ROWS_SQL`. Give it a connection of its own.
    """
    params = (after, _NO_END if until is None else until)
    return _byte_batches(conn, ENVELOPE_ROWS_SQL, params, batch_size)


def _byte_batches(
    conn: sqlite3.Connection, sql: str, params: tuple[Any, ...], batch_size: int
) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of ``sql``'s rows with text read as bytes (``text_factory`` set while reading)."""
    factory = conn.text_factory
    conn.text_factory = bytes
    cur = conn.cursor()
    try:
        cur.execute(sql, params)
        while rows := cur.fetchmany(batch_size):
            yield rows
    finally:
        cur.close()
        conn.text_factory = factory


def open_read_only(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A plain read-only connection to a trialbook file, for verifying it without writing anything."""
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True, isolation_level=None)


def _last_at_or_before(conn: sqlite3.Connection, position: int) -> tuple[int, bytes]:
    factory = conn.text_factory
    conn.text_factory = bytes
    try:
        row = conn.execute(
            "SELECT position, hash FROM events WHERE position <= ? ORDER BY position DESC LIMIT 1",
            (position,),
        ).fetchone()
    finally:
        conn.text_factory = factory
    return (row[0], row[1]) if row else (0, GENESIS_HASH.encode("ascii"))


def verify_range(
    path: str, after: int, until: int, max_problems: int = MAX_PROBLEMS
) -> dict[str, Any]:
    """Check positions ``after`` < p <= ``until`` of a file on their own (one part of a parallel verify).

    The link into the range is checked against the stored hash of the row
    before it (that row's own hash is checked by the range before). Stream
    versions are checked within the range; each stream's first version in it
    is returned in ``firsts`` for :func:`verify_file` to check across ranges.
    """
    conn = open_read_only(path)
    try:
        conn.execute("BEGIN")
        start, start_hash = _last_at_or_before(conn, after)
        checker = ChainChecker(
            start, start_hash, version_before=lambda s: None, max_problems=max_problems
        )
        for batch in read_envelope_rows(conn, after, until):
            checker.feed_envelope_rows(batch)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return {
        "count": checker.count,
        "problems": checker.problems,
        "firsts": {_text(k): (_plain(v), p) for k, (v, p) in checker.firsts.items()},
        "reported_firsts": sorted(_text(k) for k in checker.reported_firsts),
        "lasts": {_text(k): _plain(v) for k, v in checker.versions.items()},
    }


def _plain(value: Any) -> Any:
    return value if isinstance(value, int) else _text(value)


def _start_worker(path: str, after: int, until: int, max_problems: int) -> subprocess.Popen[str]:
    import subprocess

    args = [
        sys.executable,
        "-m",
        "trialbook.store.verify",
        path,
        str(after),
        str(until),
        str(max_problems),
    ]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _part_of(out: str) -> dict[str, Any]:
    part = json.loads(out)
    part["problems"] = [Problem(**p) for p in part["problems"]]
    part["firsts"] = {k: tuple(v) for k, v in part["firsts"].items()}
    return part


def _version_problem(position: int, stream: str, version: Any, before: int) -> Problem:
    if isinstance(version, int) and version <= before:
        return Problem(
            position,
            "duplicate version",
            f"stream {stream} has version {version} again at position {position} "
            f"(it was at version {before})",
        )
    return Problem(
        position,
        "version gap",
        f"stream {stream} jumps from version {before} to {version} at position {position}",
    )


def _workers(events: int) -> int:
    if events < PARALLEL_MIN_EVENTS:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


def verify_file(
    path: str | os.PathLike[str], *, workers: int | None = None, max_problems: int = MAX_PROBLEMS
) -> Report:
    """Verify a trialbook file: its hash chain, stream versions, recorded head and schema guards.

    Reads only, through connections of its own. Positions up to the head at
    the start are checked (rows never change once written, so later appends do
    not disturb it); a large log is split into ranges checked in parallel by
    ``workers`` processes (default: one per CPU, one process below
    :data:`PARALLEL_MIN_EVENTS`). Problems come in position order, the file's
    missing guards (position 0) last.
    """
    path = str(path)
    try:
        conn = open_read_only(path)
    except sqlite3.Error as e:
        raise NotATrialbookDatabase(
            f"cannot open {path} ({e}); pass a trialbook file with --db"
        ) from e
    try:
        conn.execute("BEGIN")
        if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            raise NotATrialbookDatabase(
                f"{path} is not a trialbook database; pass a trialbook file with --db"
            )
        head, head_hash = _last_at_or_before(conn, 2**62)
        heads = recorded_heads(conn)
        guards = schema_problems(conn)
        conn.execute("COMMIT")
    except sqlite3.DatabaseError as e:
        raise NotATrialbookDatabase(
            f"{path} is not a trialbook database ({e}); pass a trialbook file with --db"
        ) from e
    finally:
        conn.close()
    n = max(1, workers if workers is not None else _workers(head))
    bounds = [head * i // n for i in range(n + 1)]
    ranges = [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a] or [(0, 0)]
    # the other ranges run in worker processes (plain subprocesses: nothing is forked or re-imported)
    procs = [_start_worker(path, a, b, max_problems) for a, b in ranges[1:]]
    parts = [verify_range(path, *ranges[0], max_problems)]
    for proc, (a, b) in zip(procs, ranges[1:], strict=True):
        out, _ = proc.communicate()
        parts.append(
            _part_of(out) if proc.returncode == 0 else verify_range(path, a, b, max_problems)
        )
    problems: list[Problem] = []
    last: dict[str, int] = {}
    for part in parts:
        problems.extend(part["problems"])
        reported = set(part["reported_firsts"])
        for stream, (version, position) in part["firsts"].items():
            before = last.get(stream, 0)
            # a row already reported (e.g. the one after a deleted row) gets one problem, as in
            # a single pass; only a clean first row is judged against the range before
            if version != before + 1 and stream not in reported:
                problems.append(_version_problem(position, stream, version, before))
        last.update(part["lasts"])
    problems.sort(key=lambda p: p.position)
    report = Report(
        events=sum(p["count"] for p in parts),
        head_position=head,
        head_hash=_text(head_hash),
        streams=len(last),
        problems=problems[:max_problems],
    )
    cut = truncation_problem(report, heads)
    if cut is not None:
        report.problems.append(cut)
    for text in guards:
        report.problems.append(
            Problem(0, "unguarded file", text + " (the file no longer refuses edits)")
        )
    return report


# --------------------------------------------------------------------------- what rows cannot show

#: trigger name -> the statement it must guard
APPEND_ONLY_TRIGGERS = {
    "events_append_only_update": "BEFORE UPDATE ON EVENTS",
    "events_append_only_delete": "BEFORE DELETE ON EVENTS",
    # m004: INSERT OR REPLACE over a taken key deletes without firing the delete trigger
    "events_append_only_insert": "BEFORE INSERT ON EVENTS",
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
    if UPCAST_KEY in obj:
        raise ValueError("it was exported with --upcast, which is for reading, not importing")
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


if __name__ == "__main__":  # a worker of verify_file: check one range, print it as JSON
    _part = verify_range(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    _part["problems"] = [p.to_dict() for p in _part["problems"]]
    print(json.dumps(_part))
