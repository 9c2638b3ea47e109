"""The backend-neutral half of an append: canonical text, idempotency and the hash chain.

Every backend appends the same way: serialise the batch (:func:`prepare`),
return the original records if the batch was appended before
(:func:`already_recorded`), check the stream's version, then number and chain
the rows after the log's head (:func:`chain_rows`). Only reading the head and
inserting the rows differ, so the same events get the same text and hashes on
SQLite and PostgreSQL, and a log moves between them byte for byte.
"""

from __future__ import annotations

import operator
import re
import time
from collections.abc import Mapping, Sequence
from hashlib import sha256
from json.encoder import encode_basestring
from typing import Any

from trialbook.domain.canonical import canonical_json, new_event_ids, plain_json
from trialbook.store.base import NewEvent, RecordedEvent
from trialbook.store.errors import ConcurrencyError, IdempotencyConflict

#: the event id a client supplied for an event to append (None: a new one is made)
EVENT_ID = operator.attrgetter("event_id")
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


#: a copy of the metadata ``prepare`` serialised last, and its canonical JSON
_last_meta: tuple[dict[str, Any] | None, str] = (None, "")
#: JSON's scalars, as ``canonical_json`` writes them: equal values of one of these types
#: serialise to the same text (floats do not: 0.0 and -0.0 are equal)
_SCALAR_TYPES = frozenset({str, int, bool, type(None)})


def _same_json(meta: Mapping[str, Any], last: Mapping[str, Any]) -> bool:
    """Whether ``meta`` serialises to the canonical JSON ``last`` did: True only when both are
    dicts with the same text keys and equal values of the same scalar types, or dicts of them
    one level down (what a ledger's metadata holds); False when unsure (then serialise).

    Values of one type compare as JSON writes them (``1``, ``1.0``, ``True`` and ``'1'``
    all differ), at a fraction of the cost of ``repr``.
    """
    if len(meta) != len(last):
        return False
    scalars = _SCALAR_TYPES
    for key, value in meta.items():
        if type(key) is not str:
            return False
        other = last.get(key, _last_meta)  # (a default that is never a value)
        kind = type(value)
        if kind is not type(other):
            return False
        if kind is dict:
            if len(value) != len(other):
                return False
            for k, v in value.items():
                o = other.get(k, _last_meta)
                if type(k) is not str or type(v) is not type(o) or type(v) not in scalars or v != o:
                    return False
        elif kind not in scalars or value != other:
            return False
    return True


def prepare(events: Sequence[NewEvent]) -> list[Prepared]:
    """Each event with its id (a new UUIDv7 unless supplied) and canonical data and metadata."""
    global _last_meta
    # a batch usually shares one metadata dict: serialise it once
    metas: dict[int, str] = {}
    prepared = []
    fresh = iter(new_event_ids(sum(map(operator.not_, map(EVENT_ID, events)))))
    for e in events:
        meta = metas.get(id(e.metadata))
        if meta is None:
            # and a process's appends usually carry the same metadata (actor, tool version,
            # process, command line): compared with a copy of the last (see _same_json)
            last = _last_meta[0]
            if last is not None and _same_json(e.metadata, last):
                meta = _last_meta[1]
            else:
                meta = canonical_json(e.metadata)
                _last_meta = (
                    {k: dict(v) if type(v) is dict else v for k, v in e.metadata.items()},
                    meta,
                )
            metas[id(e.metadata)] = meta
        data = plain_json(e.data) if e.plain_data else canonical_json(e.data)
        prepared.append((e, e.event_id or next(fresh), data, meta))
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
    # envelope_json's text, with the parts every row of the batch shares quoted once (a
    # test checks the two agree, and `events verify` recomputes every hash from it)
    quote = encode_basestring
    stream = quote(stream_id)
    at = quote(recorded_at)
    types: dict[tuple[str, int], str] = {}
    rows: list[Row] = []
    version = current
    # ids and hashes with nothing to escape (UUIDs, hex digests; every hash after the first is
    # one) are quoted as they are: the same text as quote() gives, without a call per event
    plain = (
        len(prepared) > 1
        and _ESCAPED.search("".join([prev_hash, *[p[1] for p in prepared]])) is None
    )
    for e, eid, data_json, meta_json in prepared:
        position += 1
        version += 1
        kind = types.get((e.type, e.schema_version))
        if kind is None:
            kind = f"{int(e.schema_version)},{_STREAM_KEY}{stream},{_TYPE_KEY}{quote(e.type)}"
            types[(e.type, e.schema_version)] = kind
        quoted_id = f'"{eid}"' if plain else quote(eid)
        quoted_prev = f'"{prev_hash}"' if plain else quote(prev_hash)
        # the hash covers prev_hash + envelope: the one text built at once
        linked = (
            f'{prev_hash}{{"data":{data_json},"event_id":{quoted_id},"metadata":{meta_json},'
            f'"position":{position},"prev_hash":{quoted_prev},"recorded_at":{at},'
            f'"schema_version":{kind},"version":{version}}}'
        )
        h = sha256(linked.encode()).hexdigest()
        rows.append(
            (
                position,
                eid,
                stream_id,
                version,
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


#: what ``encode_basestring`` escapes in a text (json's C escaper, ensure_ascii off)
_ESCAPED = re.compile(r'[\x00-\x1f"\\]')
_STREAM_KEY = '"stream_id":'
_TYPE_KEY = '"type":'


def records(rows: Sequence[Row], prepared: Sequence[Prepared]) -> list[RecordedEvent]:
    """The recorded events of freshly chained rows, carrying the writer's parsed data."""
    return [
        RecordedEvent(*row, new.data)  # type: ignore[misc]
        for row, (new, _, _, _) in zip(rows, prepared, strict=True)
    ]
