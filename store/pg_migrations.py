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
    (
        "pg005_server_chain",
        """
-- The hash chain computed by the server, the same text and hashes as store.rows.chain_rows
-- (a property test compares them): the envelope's canonical JSON is spliced from the
-- canonical data and metadata the client sent and the other fields quoted by to_json (which
-- escapes exactly what Python's json.encoder.encode_basestring does: quote, backslash and
-- the control characters), hashed with sha256 over its UTF-8 bytes after the previous hash.
CREATE FUNCTION trialbook.chain_events(
    p_stream text, p_version bigint, p_position bigint, p_hash text, p_at text,
    p_ids text[], p_types text[], p_schemas integer[], p_data text[], p_metadata text[])
RETURNS SETOF trialbook.events
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    r trialbook.events;
    stream_json text := to_json(p_stream)::text;
    at_json text := to_json(p_at)::text;
    envelope text;
BEGIN
    r.stream_id := p_stream;
    r.recorded_at := p_at;
    r.hash := p_hash;
    FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
        r.position := p_position + i;
        r.version := p_version + i;
        r.event_id := p_ids[i];
        r.type := p_types[i];
        r.schema_version := p_schemas[i];
        r.data := p_data[i];
        r.metadata := p_metadata[i];
        r.prev_hash := r.hash;
        envelope := '{"data":' || r.data || ',"event_id":' || to_json(r.event_id)::text
            || ',"metadata":' || r.metadata || ',"position":' || r.position
            || ',"prev_hash":' || to_json(r.prev_hash)::text || ',"recorded_at":' || at_json
            || ',"schema_version":' || r.schema_version || ',"stream_id":' || stream_json
            || ',"type":' || to_json(r.type)::text || ',"version":' || r.version || '}';
        r.hash := encode(sha256(convert_to(r.prev_hash || envelope, 'UTF8')), 'hex');
        RETURN NEXT r;
    END LOOP;
END
$$;

-- The server's clock as store.rows.utc_now writes it (fixed-width ISO 8601, UTC, microseconds)
CREATE FUNCTION trialbook.utc_now() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- For the append lock's holder, in its transaction: its own batch if it gives one (p_stream
-- …), then every pending batch of a live writer (as take_pending(lock_key, own)), deleted,
-- is checked (its stream still at the version it decided on, none of its ids in the log or
-- in an earlier batch of this drain), chained after the head by chain_events with the
-- server's clock (never before the head's recorded_at) and inserted, all in one INSERT.
-- Refused batches are dropped: their writers find them gone without their events and decide
-- again. ``appended``: the events appended; ``mine``: the rows of the caller's own batch
-- (NULL if it was refused).
CREATE FUNCTION trialbook.drain_pending(
    lock_key bigint, own bigint, p_stream text DEFAULT NULL, p_expected bigint DEFAULT NULL,
    p_ids text[] DEFAULT NULL, p_types text[] DEFAULT NULL, p_schemas integer[] DEFAULT NULL,
    p_data text[] DEFAULT NULL, p_metadata text[] DEFAULT NULL,
    OUT appended integer, OUT mine trialbook.events[])
LANGUAGE plpgsql AS $$
DECLARE
    b record;
    head_position bigint;
    head_hash text;
    at_text text;
    at_version bigint;
    k integer;
    streams text[] := '{}';
    versions bigint[] := '{}';
    ids text[] := '{}';
    chained trialbook.events[] := '{}';
    tail trialbook.events;
BEGIN
    IF NOT pg_try_advisory_xact_lock(lock_key) THEN
        RAISE EXCEPTION 'trialbook drain_pending needs the append lock';
    END IF;
    SELECT h.position, h.hash, greatest(trialbook.utc_now(), h.recorded_at)
        INTO head_position, head_hash, at_text FROM trialbook.log_head h;
    appended := 0;
    FOR b IN
        WITH d AS (DELETE FROM trialbook.pending RETURNING *)
        SELECT 0 AS ord, NULL::text AS batch, p_stream AS stream_id,
            p_expected AS expected_version, p_ids AS event_ids, p_types AS types,
            p_schemas AS schema_versions, p_data AS data, p_metadata AS metadata
            WHERE p_ids IS NOT NULL
        UNION ALL
        SELECT 1, d.batch, d.stream_id, d.expected_version, d.event_ids, d.types,
            d.schema_versions, d.data, d.metadata FROM d
        -- the owner's lock is held (by another session: a shared try fails at once)
        WHERE d.owner IS NULL OR d.owner = own OR NOT pg_try_advisory_xact_lock_shared(d.owner)
        ORDER BY 1, 2
    LOOP
        k := array_position(streams, b.stream_id);
        IF k IS NULL THEN
            SELECT coalesce(max(e.version), 0) INTO at_version FROM trialbook.events e
                WHERE e.stream_id = b.stream_id;
        ELSE
            at_version := versions[k];
        END IF;
        CONTINUE WHEN (b.expected_version IS NOT NULL AND b.expected_version <> at_version)
            OR b.event_ids && ids
            OR EXISTS (SELECT 1 FROM trialbook.events e WHERE e.event_id = ANY (b.event_ids));
        chained := chained || ARRAY(
            SELECT c FROM trialbook.chain_events(b.stream_id, at_version, head_position, head_hash,
                at_text, b.event_ids, b.types, b.schema_versions, b.data, b.metadata) c);
        IF b.ord = 0 THEN
            mine := chained;
        END IF;
        tail := chained[array_upper(chained, 1)];
        head_position := tail.position;
        head_hash := tail.hash;
        IF k IS NULL THEN
            streams := streams || b.stream_id;
            versions := versions || tail.version;
        ELSE
            versions[k] := tail.version;
        END IF;
        ids := ids || b.event_ids;
    END LOOP;
    IF cardinality(chained) = 0 THEN
        RETURN;
    END IF;
    BEGIN
        INSERT INTO trialbook.events SELECT * FROM unnest(chained);
    EXCEPTION WHEN unique_violation THEN
        -- not expected (checked above): the batches are dropped, rows inserted before stay
        mine := NULL;
        RETURN;
    END;
    appended := cardinality(chained);
END
$$;

-- A writer's append handed over in one CALL (store.postgres.PostgresEventStore.combine):
-- if the append lock is free, this session appends its batch and every pending one
-- (drain_pending) and commits them, one flush for all; if it is taken, the batch is
-- committed into pending (unlogged: no flush), the session waits for the holder's commit (a
-- shared lock, granted to every waiter at once) and looks; if its batch is still pending (handed over after the holder
-- drained) it waits for the lock itself and drains. ``outcome``: 'appended' (this batch's events are in the log as
-- sent, their positions, versions, recorded_at, prev_hash and hash in the arrays),
-- 'refused' (dropped: none of its ids is in the log), 'found' (some of its ids are in the
-- log with other content or metadata: the caller reads those rows). ``drained``: how many
-- events this session's drain appended (NULL if it waited for another holder's commit).
CREATE PROCEDURE trialbook.hand_over(
    p_batch text, p_stream text, p_expected bigint, p_ids text[], p_types text[],
    p_schemas integer[], p_data text[], p_metadata text[], p_owner bigint, p_lock bigint,
    INOUT outcome text DEFAULT NULL, INOUT positions bigint[] DEFAULT NULL,
    INOUT versions bigint[] DEFAULT NULL, INOUT recorded_ats text[] DEFAULT NULL,
    INOUT prev_hashes text[] DEFAULT NULL, INOUT hashes text[] DEFAULT NULL,
    INOUT drained integer DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    found_rows integer;
    same boolean;
    waited boolean := false;
    mine trialbook.events[];
BEGIN
    IF pg_try_advisory_xact_lock(p_lock) THEN
        -- the lock is free: this batch first, then whatever is pending, in one commit
        SELECT d.appended, d.mine INTO drained, mine FROM trialbook.drain_pending(p_lock,
            p_owner, p_stream, p_expected, p_ids, p_types, p_schemas, p_data, p_metadata) d;
        IF mine IS NOT NULL THEN
            outcome := 'appended';
            SELECT array_agg(m.position ORDER BY m.position),
                array_agg(m.version ORDER BY m.position),
                array_agg(m.recorded_at ORDER BY m.position),
                array_agg(m.prev_hash ORDER BY m.position), array_agg(m.hash ORDER BY m.position)
                INTO positions, versions, recorded_ats, prev_hashes, hashes FROM unnest(mine) m;
            COMMIT;  -- the flush
            RETURN;
        END IF;
    ELSE
        INSERT INTO trialbook.pending (batch, stream_id, expected_version, event_ids, types,
            schema_versions, data, metadata, owner)
            VALUES (p_batch, p_stream, p_expected, p_ids, p_types, p_schemas, p_data,
                p_metadata, p_owner);
        COMMIT;
    END IF;
    LOOP
        IF drained IS NOT NULL THEN
            NULL;  -- drained holding the lock (this batch refused): the outcome below
        ELSIF waited THEN
            -- handed over after the holder drained: wait for the lock itself (in the queue,
            -- so waiters taking turns in shared mode cannot keep it from everyone) and drain
            PERFORM pg_advisory_xact_lock(p_lock);
            drained := (trialbook.drain_pending(p_lock, p_owner)).appended;
        ELSIF pg_try_advisory_xact_lock(p_lock) THEN
            drained := (trialbook.drain_pending(p_lock, p_owner)).appended;
        ELSE
            PERFORM pg_advisory_xact_lock_shared(p_lock);  -- until the holder has committed
            IF EXISTS (SELECT 1 FROM trialbook.pending p WHERE p.batch = p_batch) THEN
                COMMIT;
                waited := true;
                CONTINUE;
            END IF;
        END IF;
        SELECT count(e.position),
            coalesce(bool_and(e.stream_id = p_stream AND e.type = t.type
                AND e.schema_version = t.schema_version AND e.data = t.data
                AND e.metadata = t.metadata), false),
            array_agg(e.position ORDER BY t.k), array_agg(e.version ORDER BY t.k),
            array_agg(e.recorded_at ORDER BY t.k), array_agg(e.prev_hash ORDER BY t.k),
            array_agg(e.hash ORDER BY t.k)
            INTO found_rows, same, positions, versions, recorded_ats, prev_hashes, hashes
            FROM unnest(p_ids, p_types, p_schemas, p_data, p_metadata)
                WITH ORDINALITY AS t(id, type, schema_version, data, metadata, k)
            JOIN trialbook.events e ON e.event_id = t.id;
        IF found_rows = 0 THEN
            outcome := 'refused';
        ELSIF found_rows = cardinality(p_ids) AND same THEN
            outcome := 'appended';
        ELSE
            outcome := 'found';
        END IF;
        COMMIT;  -- the drain's flush, or the end of the wait
        RETURN;
    END LOOP;
END
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
