"""Named, ordered schema migrations of the PostgreSQL event log, applied when it is opened.

Everything lives in one schema, ``trialbook``, so the database may hold other
tables. The log keeps SQLite's columns, keys and canonical text; what
PostgreSQL adds is enforced by the server itself, whatever client writes:

- ``events`` refuses UPDATE, DELETE and TRUNCATE (a statement trigger);
- ``log_head`` is one row, the last position and hash. A statement trigger on
  every INSERT into ``events`` (COPY included) locks it, checks that the new
  positions continue it without a gap and that the first new row links to its
  hash, and moves it on. The row lock is held until commit, so positions are
  assigned in commit order and a reader following the log never skips a late
  commit. ``log_head`` itself refuses any change but that one;
- writers take ``pg_advisory_xact_lock(APPEND_LOCK)`` before reading the head,
  so they queue instead of failing on the trigger's checks. The lock needs no
  privilege: a role with only SELECT and INSERT can append (see
  docs/postgres.md, "Roles").

A migration runs once per database, in one transaction with its record in
``trialbook.migrations``, under an advisory lock so two clients opening a new
database at once do not both create it. Never edit a released migration: add
a new one.
"""

from __future__ import annotations

from trialbook.domain.canonical import GENESIS_HASH

SCHEMA = "trialbook"
#: advisory lock keys (per database): writers of the log, and migrations
APPEND_LOCK = 0x54424B31_0000_0001
MIGRATE_LOCK = 0x54424B31_0000_0002

MIGRATIONS: list[tuple[str, str]] = [
    (
        "pg001_events",
        f"""
CREATE TABLE trialbook.events (
    position bigint PRIMARY KEY,
    event_id text COLLATE "C" NOT NULL,
    stream_id text COLLATE "C" NOT NULL,
    version bigint NOT NULL,
    type text NOT NULL,
    schema_version integer NOT NULL,
    data text NOT NULL,
    metadata text NOT NULL,
    recorded_at text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    CONSTRAINT events_event_id UNIQUE (event_id),
    CONSTRAINT events_stream_version UNIQUE (stream_id, version),
    CONSTRAINT events_position_positive CHECK (position > 0)
);

CREATE TABLE trialbook.log_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position bigint NOT NULL,
    hash text NOT NULL,
    recorded_at text NOT NULL
);
INSERT INTO trialbook.log_head (position, hash, recorded_at) VALUES (0, '{GENESIS_HASH}', '');

CREATE FUNCTION trialbook.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'trialbook % are append-only: % is refused', TG_ARGV[0], lower(TG_OP);
END
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON trialbook.events
    FOR EACH STATEMENT EXECUTE FUNCTION trialbook.refuse_change('events');

CREATE FUNCTION trialbook.advance_head() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    head_position bigint;
    head_hash text;
    first_position bigint;
    last_position bigint;
    n bigint;
    link text;
    last_hash text;
    last_at text;
BEGIN
    SELECT count(*), min(position), max(position) INTO n, first_position, last_position
        FROM new_rows;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    SELECT h.position, h.hash INTO head_position, head_hash
        FROM trialbook.log_head h FOR UPDATE;
    IF first_position <> head_position + 1 OR last_position - first_position + 1 <> n THEN
        RAISE EXCEPTION 'trialbook events are gap-free: positions % to % do not continue the log at position %',
            first_position, last_position, head_position;
    END IF;
    SELECT r.prev_hash INTO link FROM new_rows r WHERE r.position = first_position;
    IF link <> head_hash THEN
        RAISE EXCEPTION 'trialbook events are hash-chained: position % does not link to the hash of position %',
            first_position, head_position;
    END IF;
    SELECT r.hash, r.recorded_at INTO last_hash, last_at FROM new_rows r
        WHERE r.position = last_position;
    UPDATE trialbook.log_head SET position = last_position, hash = last_hash, recorded_at = last_at;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_advance_head
    AFTER INSERT ON trialbook.events REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trialbook.advance_head();

CREATE FUNCTION trialbook.guard_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'trialbook log_head moves only when events are appended: % is refused', lower(TG_OP);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER log_head_guard
    BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON trialbook.log_head
    FOR EACH STATEMENT EXECUTE FUNCTION trialbook.guard_head();
""",
    ),
    (
        "pg002_blobs",
        """
CREATE TABLE trialbook.blobs (
    hash text PRIMARY KEY,
    size bigint NOT NULL,
    content_type text NOT NULL,
    content bytea NOT NULL
);
CREATE TRIGGER blobs_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON trialbook.blobs
    FOR EACH STATEMENT EXECUTE FUNCTION trialbook.refuse_change('blobs');
""",
    ),
    (
        "pg003_pending",
        """
-- Batches decided by writers that found the append lock taken, for its holder to append
-- in its own transaction (one commit for several writers: store.postgres.combine).
-- UNLOGGED: nothing here is acknowledged, so nothing here needs to survive a crash.
CREATE UNLOGGED TABLE trialbook.pending (
    batch text COLLATE "C" PRIMARY KEY,
    stream_id text COLLATE "C" NOT NULL,
    expected_version bigint,
    event_ids text[] NOT NULL,
    types text[] NOT NULL,
    schema_versions integer[] NOT NULL,
    data text[] NOT NULL,
    metadata text[] NOT NULL
);

-- If the caller holds (or can take at once) the append lock: first a row with the log's
-- head (batch NULL; position in expected_version, ARRAY[hash, recorded_at] in event_ids),
-- then every pending batch, deleted in the caller's transaction, each with its stream's
-- version in the log and whether any of its ids is there already. Without the lock: no rows.
-- Each statement here takes its own snapshot after the lock is held, so it sees every commit
-- before it.
CREATE FUNCTION trialbook.take_pending(lock_key bigint)
RETURNS TABLE (batch text, stream_id text, expected_version bigint, event_ids text[],
               types text[], schema_versions integer[], data text[], metadata text[],
               current_version bigint, seen boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF NOT pg_try_advisory_xact_lock(lock_key) THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT NULL::text, NULL::text, h.position, ARRAY[h.hash, h.recorded_at],
        NULL::text[], NULL::integer[], NULL::text[], NULL::text[], NULL::bigint, NULL::boolean
        FROM trialbook.log_head h;
    RETURN QUERY WITH d AS (DELETE FROM trialbook.pending RETURNING *)
        SELECT d.batch, d.stream_id, d.expected_version, d.event_ids, d.types,
            d.schema_versions, d.data, d.metadata,
            (SELECT max(e.version) FROM trialbook.events e WHERE e.stream_id = d.stream_id),
            EXISTS (SELECT 1 FROM trialbook.events e WHERE e.event_id = ANY (d.event_ids))
        FROM d ORDER BY d.batch;
END
$$;
""",
    ),
    (
        "pg004_pending_owners",
        """
-- A batch is the decision of a live writer: its connection holds a session advisory lock
-- on ``owner`` while the batch is pending. A batch whose owner's connection is gone (the
-- writer was killed, or lost the server) is dropped when drained, not appended later by
-- whoever holds the lock next: it was never acknowledged, and nobody waits for its outcome.
-- Batches without an owner (written by clients before this migration) are taken as before.
ALTER TABLE trialbook.pending ADD COLUMN owner bigint;

-- take_pending(lock_key, own): as take_pending(lock_key), but a batch whose owner lock is
-- free (its writer's session ended) is deleted without being returned. ``own`` is the
-- caller's owner key: its own session holds that lock, which cannot be probed from itself.
CREATE FUNCTION trialbook.take_pending(lock_key bigint, own bigint)
RETURNS TABLE (batch text, stream_id text, expected_version bigint, event_ids text[],
               types text[], schema_versions integer[], data text[], metadata text[],
               current_version bigint, seen boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF NOT pg_try_advisory_xact_lock(lock_key) THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT NULL::text, NULL::text, h.position, ARRAY[h.hash, h.recorded_at],
        NULL::text[], NULL::integer[], NULL::text[], NULL::text[], NULL::bigint, NULL::boolean
        FROM trialbook.log_head h;
    RETURN QUERY WITH d AS (DELETE FROM trialbook.pending RETURNING *)
        SELECT d.batch, d.stream_id, d.expected_version, d.event_ids, d.types,
            d.schema_versions, d.data, d.metadata,
            (SELECT max(e.version) FROM trialbook.events e WHERE e.stream_id = d.stream_id),
            EXISTS (SELECT 1 FROM trialbook.events e WHERE e.event_id = ANY (d.event_ids))
        FROM d
        -- the owner's lock is held (by another session: a shared try fails at once)
        WHERE d.owner IS NULL OR d.owner = own OR NOT pg_try_advisory_xact_lock_shared(d.owner)
        ORDER BY d.batch;
END
$$;

-- what clients before this migration call: they own no batch
CREATE OR REPLACE FUNCTION trialbook.take_pending(lock_key bigint)
RETURNS TABLE (batch text, stream_id text, expected_version bigint, event_ids text[],
               types text[], schema_versions integer[], data text[], metadata text[],
               current_version bigint, seen boolean)
LANGUAGE sql AS $$
    SELECT * FROM trialbook.take_pending(lock_key, NULL::bigint)
$$;
""",
    ),
]

#: the newest migration's name: a database that has it needs no migrating
LATEST = MIGRATIONS[-1][0]

#: trigger name -> (table, what it must guard) that ``events verify`` checks on the server
GUARD_TRIGGERS = {
    "events_append_only": ("events", ("UPDATE", "DELETE", "TRUNCATE")),
    "events_advance_head": ("events", ("INSERT",)),
    "log_head_guard": ("log_head", ("INSERT", "UPDATE", "DELETE", "TRUNCATE")),
}
UNIQUE_CONSTRAINTS = {
    "events_event_id": ["event_id"],
    "events_stream_version": ["stream_id", "version"],
}
