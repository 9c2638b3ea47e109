"""The backend-neutral half of an append: canonical text, idempotency and the hash chain.

Every backend appends the same way: serialise the batch (:func:`prepare`),
return the original records if the batch was appended before
(:func:`already_recorded`), check the stream's version, then number and chain
the rows after the log's head (:func:`chain_rows`). Only reading the head and
inserting the rows differ, so the same events get the same text and hashes on
SQLite and PostgreSQL, and a log moves between them byte for byte.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from trialbook.domain.canonical import canonical_json, chain_hash, envelope_json, new_event_id
from trialbook.store.base import NewEvent, RecordedEvent
from trialbook.store.errors import ConcurrencyError, IdempotencyConflict

#: an event to append with its id, data JSON and metadata JSON
Prepared = tuple[NewEvent, str, str, str]
#: a raw row in the column order of ``store.sqlite.COLUMNS``
Row = tuple[Any, ...]


def utc_now() -> str:
    """The current UTC time as fixed-width ISO 8601 with microseconds (sorts as text).

    The text ``datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")`` gives,
    with the date and time of day formatted once a second (``strftime`` was ~5 % of
    a single append's Python).
    """
    global _second
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    if seconds != _second[0]:
        _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{_second[1]}.{micros:06d}Z"


#: the last second ``utc_now`` formatted, and its text
_second: tuple[int, str] = (-1, "")


#: the repr of the metadata ``prepare`` serialised last, and its canonical JSON
_last_meta: tuple[str, str] = ("", "")


def prepare(events: Sequence[NewEvent]) -> list[Prepared]:
    """Each event with its id (a new UUIDv7 unless supplied) and canonical data and metadata."""
    global _last_meta
    # a batch usually shares one metadata dict: serialise it once
    metas: dict[int, str] = {}
    prepared = []
    for e in events:
        meta = metas.get(id(e.metadata))
        if meta is None:
            # and a process's appends usually carry the same metadata (actor, tool version,
            # process, command line): repr tells values apart as JSON does (1, 1.0, True,
            # '1' all differ) at half the cost of serialising them again
            key = repr(e.metadata)
            if _last_meta[0] == key:
                meta = _last_meta[1]
            else:
                meta = canonical_json(e.metadata)
                _last_meta = (key, meta)
            metas[id(e.metadata)] = meta
        prepared.append((e, e.event_id or new_event_id(), canonical_json(e.data), meta))
    return prepared


def already_recorded(
    prepared: Sequence[Prepared], stream_id: str, found: Mapping[str, RecordedEvent]
) -> list[RecordedEvent] | None:
    """The original records if this batch was appended before; None if none of it was.

    ``found`` maps the batch's event ids that the log holds to their records.
    Raises ``IdempotencyConflict`` for a batch recorded in part, or an id
    recorded with other content.
    """
    if not found:
        return None
    out = []
    for e, eid, data_json, _ in prepared:
        old = found.get(eid)
        if old is None:
            raise IdempotencyConflict(
                f"part of this batch is already recorded (event {next(iter(found))}); "
                "a batch is appended whole or not at all"
            )
        if (old.stream_id, old.type, old.schema_version, old.data_json) != (
            stream_id,
            e.type,
            e.schema_version,
            data_json,
        ):
            raise IdempotencyConflict(
                f"event id {eid} is already recorded at position {old.position} with different content"
            )
        out.append(old)
    return out


def check_version(stream_id: str, current: int, expected: int | None) -> None:
    """Raise ``ConcurrencyError`` unless the stream is at ``expected`` (None skips the check)."""
    if expected is not None and current != expected:
        raise ConcurrencyError(
            f"stream {stream_id} is at version {current}, not {expected}: "
            "another writer appended first; reload and try again"
        )


def chain_rows(
    stream_id: str,
    current: int,
    head: tuple[int, str, str],
    prepared: Sequence[Prepared],
) -> list[Row]:
    """The rows of ``prepared`` appended to ``stream_id`` (at version ``current``) after ``head``.

    ``head`` is the log's last ``(position, hash, recorded_at)``. Positions and
    versions run on from it, every row carries one ``recorded_at`` that never
    goes backwards (so "as of T" is a prefix of the log), and each hash covers
    the canonical envelope and the hash before it.
    """
    position, prev_hash, last_at = head
    recorded_at = max(utc_now(), last_at)
    rows: list[Row] = []
    for i, (e, eid, data_json, meta_json) in enumerate(prepared, start=1):
        env = envelope_json(
            position=position + i,
            event_id=eid,
            stream_id=stream_id,
            version=current + i,
            type=e.type,
            schema_version=e.schema_version,
            data_json=data_json,
            metadata_json=meta_json,
            recorded_at=recorded_at,
            prev_hash=prev_hash,
        )
        h = chain_hash(prev_hash, env)
        rows.append(
            (
                position + i,
                eid,
                stream_id,
                current + i,
                e.type,
                e.schema_version,
                data_json,
                meta_json,
                recorded_at,
                prev_hash,
                h,
            )
        )
        prev_hash = h
    return rows


def records(rows: Sequence[Row], prepared: Sequence[Prepared]) -> list[RecordedEvent]:
    """The recorded events of freshly chained rows, carrying the writer's parsed data."""
    out = []
    for row, (new, _, _, _) in zip(rows, prepared, strict=True):
        r = RecordedEvent(*row)
        r._data = new.data
        out.append(r)
    return out
