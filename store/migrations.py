"""Named, ordered schema migrations of the SQLite event log, applied when a file is opened.

A migration runs once per file, inside one transaction with its record in
``_trialbook_migrations``, so a new file and an old one end up alike. Never
edit a released migration: add a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite_utils

Migration = Callable[["sqlite_utils.Database"], None]
MIGRATIONS: list[tuple[str, Migration]] = []

#: ``PRAGMA application_id`` of trialbook files ("TBK1")
APPLICATION_ID = 0x54424B31
#: the newest migration's name: a file that has it needs no migrating (keep it equal to the last one)
LATEST = "m004_events_insert_guard"


def migration(name: str) -> Callable[[Migration], Migration]:
    """Register a migration under ``name``; they run in registration order."""

    def register(fn: Migration) -> Migration:
        MIGRATIONS.append((name, fn))
        return fn

    return register


@migration("m001_events")
def m001_events(db: Any) -> None:
    db["events"].create(  # type: ignore[union-attr]
        {
            "position": int,
            "event_id": str,
            "stream_id": str,
            "version": int,
            "type": str,
            "schema_version": int,
            "data": str,
            "metadata": str,
            "recorded_at": str,
            "prev_hash": str,
            "hash": str,
        },
        pk="position",
        not_null={
            "event_id",
            "stream_id",
            "version",
            "type",
            "schema_version",
            "data",
            "metadata",
            "recorded_at",
            "prev_hash",
            "hash",
        },
    )
    db["events"].create_index(["event_id"], unique=True, index_name="events_event_id")  # type: ignore[union-attr]
    db["events"].create_index(  # type: ignore[union-attr]
        ["stream_id", "version"], unique=True, index_name="events_stream_version"
    )
    # The log is append-only: refuse UPDATE and DELETE at the engine level.
    db.execute(
        "CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events "
        "BEGIN SELECT RAISE(ABORT, 'trialbook events are append-only: updates are refused'); END"
    )
    db.execute(
        "CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events "
        "BEGIN SELECT RAISE(ABORT, 'trialbook events are append-only: deletes are refused'); END"
    )


@migration("m002_snapshots")
def m002_snapshots(db: Any) -> None:
    # A cache of aggregate state; disposable, rebuilt from the log when missing.
    db["snapshots"].create(  # type: ignore[union-attr]
        {"stream_id": str, "version": int, "state_version": int, "state": str},
        pk="stream_id",
    )


@migration("m003_blobs")
def m003_blobs(db: Any) -> None:
    # Large outputs and traces, stored once and referenced from events by hash.
    db["blobs"].create(  # type: ignore[union-attr]
        {"hash": str, "size": int, "content_type": str, "content": bytes},
        pk="hash",
    )
    db.execute(
        "CREATE TRIGGER blobs_append_only_update BEFORE UPDATE ON blobs "
        "BEGIN SELECT RAISE(ABORT, 'trialbook blobs are immutable: updates are refused'); END"
    )
    db.execute(
        "CREATE TRIGGER blobs_append_only_delete BEFORE DELETE ON blobs "
        "BEGIN SELECT RAISE(ABORT, 'trialbook blobs are immutable: deletes are refused'); END"
    )


@migration("m004_events_insert_guard")
def m004_events_insert_guard(db: Any) -> None:
    # INSERT OR REPLACE (and REPLACE INTO) over a taken key deletes the row holding it
    # without firing the delete trigger (unless recursive_triggers is on, which no
    # connection promises), then inserts its own. Refuse any insert whose position,
    # stream version or event id is taken, before the conflict clause gets to act; each
    # check is a lookup in the key's unique index. A plain insert of a taken key fails as
    # before, now with this message: the append path tells a reused event id by "event_id".
    # REPLACE deletes only through a unique index, so the version check applies while
    # events_stream_version exists (a file without it is damaged: `events verify` says so).
    db.execute(
        "CREATE TRIGGER events_append_only_insert BEFORE INSERT ON events BEGIN SELECT CASE "
        "WHEN EXISTS (SELECT 1 FROM events WHERE position = NEW.position) "
        "THEN RAISE(ABORT, 'trialbook events are append-only: an event is already recorded "
        "at this position, and inserts may not replace it') "
        "WHEN EXISTS (SELECT 1 FROM events WHERE stream_id = NEW.stream_id AND version = NEW.version) "
        "AND EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'events_stream_version') "
        "THEN RAISE(ABORT, 'trialbook events are append-only: this stream version is already "
        "recorded, and inserts may not replace it') "
        "WHEN EXISTS (SELECT 1 FROM events WHERE event_id = NEW.event_id) "
        "THEN RAISE(ABORT, 'trialbook events are append-only: this event_id is already "
        "recorded, and inserts may not replace it') "
        "END; END"
    )


assert MIGRATIONS[-1][0] == LATEST, "update LATEST when adding a migration"
