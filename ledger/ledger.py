"""The ledger ties the layers together for one database file.

``execute(command)`` loads the command's stream state (from a snapshot plus
the events after it), calls the pure ``decide``, and appends the events with
the projections folded in the same transaction. Loading, deciding and
appending happen inside one write transaction, so on SQLite a second writer
waits rather than clashes; a backend that reports a clash anyway gets the state
reloaded and the command decided again, a few times, before a clear error.
"""

from __future__ import annotations

import gc
import getpass
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from trialbook.domain.commands import Command
from trialbook.domain.events import Event, load_event
from trialbook.projections import Projector, default_projections
from trialbook.store.backends import open_store
from trialbook.store.base import NewEvent, RecordedEvent
from trialbook.store.errors import ConcurrencyError

#: event ids for the events a command produces: a list, or a function of the decided events
EventIds = Sequence[str | None] | Callable[[Sequence[Event]], Sequence[str | None]]

#: snapshot a stream's state when this many events were appended since the last one …
SNAPSHOT_EVERY = 50
#: … or, for a longer stream, as many as it held at the last snapshot, up to this many: a
#: snapshot serialises the whole state (an eval run's every rollout), so a fixed gap made
#: recording a run quadratic in its size; a growing gap keeps it linear, and a cold load
#: replays at most this many events beyond the snapshot
SNAPSHOT_MAX_GAP = 5_000


def snapshot_due(version: int, snapshot_version: int, *, grows: bool = False) -> bool:
    """Whether a stream at ``version``, last snapshotted at ``snapshot_version``, needs one now.

    ``grows``: the state grows with the stream (an eval run holds every rollout), so each
    snapshot costs as much as the stream so far; then the gap keeps doubling past
    ``SNAPSHOT_MAX_GAP`` (all snapshots together serialise about twice the stream, and a
    cold load replays at most half of it, about what reading such a snapshot costs).
    """
    cap = snapshot_version if grows else min(snapshot_version, SNAPSHOT_MAX_GAP)
    return version - snapshot_version >= max(SNAPSHOT_EVERY, cap)


MAX_ATTEMPTS = 5


def tool_version() -> str:
    """The installed trialbook's version, as ``importlib.metadata.version("trialbook")`` gives it.

    Every write records it, and ``importlib.metadata`` costs ~15 ms of imports (email,
    zipfile, csv …) to a process that records one result: the metadata file of the
    first ``trialbook`` distribution on ``sys.path`` is read directly instead, and
    ``importlib.metadata`` asked only when there is none (a zipped install, say).
    """
    global _TOOL_VERSION
    if _TOOL_VERSION is None:
        _TOOL_VERSION = _version_on_path() or _version_from_metadata()
    return _TOOL_VERSION


_TOOL_VERSION: str | None = None


def _version_on_path() -> str | None:
    """The ``Version:`` of the first ``trialbook-*.dist-info`` or ``trialbook[-*].egg-info``
    directory on ``sys.path``, searched in ``importlib.metadata``'s order; None if none."""
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in sorted(names):
            low = name.lower()
            if low.endswith(".dist-info"):
                meta = "METADATA"
            elif low.endswith(".egg-info"):
                meta = "PKG-INFO"
            else:
                continue
            if low.rpartition(".")[0].partition("-")[0] != "trialbook":
                continue
            try:
                with open(os.path.join(entry or ".", name, meta), encoding="utf-8") as f:
                    for line in f:
                        if line.startswith("Version:"):
                            return line.partition(":")[2].strip()
                        if not line.strip():  # the headers end at the first blank line
                            break
            except OSError:
                continue
    return None


def _version_from_metadata() -> str:
    from importlib import metadata as importlib_metadata

    try:
        return importlib_metadata.version("trialbook")
    except importlib_metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0+unknown"


def host_name() -> str:
    """The machine's name, as ``socket.gethostname()`` gives it: on POSIX that is the node
    name ``uname`` reports, read without importing ``socket`` (~5 ms of a start, with
    ``selectors`` and ``select``); elsewhere ``socket`` asks."""
    uname = getattr(os, "uname", None)
    if uname is not None:
        return str(uname().nodename)
    import socket  # pragma: no cover - Windows

    return socket.gethostname()  # pragma: no cover


def default_actor() -> str:
    """``$TRIALBOOK_ACTOR``, else ``user@host``."""
    actor = os.environ.get("TRIALBOOK_ACTOR")
    if actor:
        return actor
    try:
        user = getpass.getuser()
    except Exception:  # pragma: no cover - no user database in some containers
        user = "unknown"
    return f"{user}@{host_name()}"


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a large piece of work that builds many small
    acyclic objects (an import's fields, events and rows; an export's records): its passes
    over them free nothing and took a third to a half of the time. Reference counting frees
    everything as before; the collector runs again as it was when the work ends.
    (:meth:`Ledger.execute` does the same inline, on its hot path.)"""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Ledger:
    """One trialbook database: its event log, its read models, and command handling."""

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "FULL") -> None:
        self.projector = Projector(default_projections())
        # a file path, or a postgresql:// URL (the log there, read models in a local replica)
        self.store = open_store(path, synchronous=synchronous, projector=self.projector)
        #: the SQLite file read models are queried in (for PostgreSQL, the local replica)
        self.path = Path(self.store.path)
        #: stream id -> (aggregate, version, state, version of its stored snapshot)
        self._states: dict[str, tuple[Any, int, Any, int]] = {}
        #: merged into every event's metadata (the shell sets command text and parser tier);
        #: ``process`` lets readers tell whether the process that started a run still lives
        self.metadata: dict[str, Any] = {
            "actor": default_actor(),
            "tool_version": tool_version(),
            "process": {"host": host_name(), "pid": os.getpid()},
        }
        #: the transaction a command decides and appends in: a backend may decide outside
        #: its write lock and check the stream's version under it (PostgreSQL hands the
        #: append over)
        self._begin: Callable[[], Any] = getattr(
            self.store, "command_transaction", self.store.transaction
        )
        head = self.store.head()[0]
        if not self.projector.is_current(self.store.conn, head):
            with self.store.transaction() as conn:
                self.projector.ensure(conn, self.store.head()[0])

    @property
    def conn(self) -> Any:
        """The connection read models are queried through (caught up with the log first)."""
        self.store.refresh()
        return self.store.conn

    @property
    def name(self) -> str:
        """The database as messages name it: the file, or the PostgreSQL URL without its password."""
        return str(self.store.name)

    def verify(self) -> Any:
        """``events verify`` of this database (a ``store.verify.Report``): reads only."""
        return self.store.verify()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ commands

    def load(self, command: Command) -> tuple[Any, int, int]:
        """``(state, version, snapshot_version)`` of the command's stream.

        State comes from this process's cache, else the stored snapshot, else the
        initial state; then the events appended after it are folded in.
        """
        return self._load(command.aggregate, command.stream_id())

    def _load(self, aggregate: Any, stream_id: str) -> tuple[Any, int, int]:
        cached = self._states.get(stream_id)
        if cached is not None and cached[0] is aggregate:
            _, version, state, snapshot_version = cached
        else:
            state, version = aggregate.initial(), 0
            snap = self.store.load_snapshot(stream_id)
            if snap is not None and snap[1] == aggregate.state_version:
                version, state = snap[0], aggregate.restore(snap[2])
            snapshot_version = version
        if self.store.stream_version(stream_id) == version:
            return state, version, snapshot_version
        for e in self.store.read_stream(stream_id, after_version=version):
            state = aggregate.evolve(state, load_event(e.type, e.schema_version, e.data))
            version = e.version
        return state, version, snapshot_version

    def execute(
        self,
        command: Command,
        *,
        metadata: dict[str, Any] | None = None,
        event_ids: EventIds | None = None,
    ) -> list[RecordedEvent]:
        """Decide and append the events of ``command``; returns what was recorded.

        ``event_ids`` (one per produced event, or a function of the decided events
        giving them) make the append idempotent. Raises ``DomainError`` when the
        command is refused: nothing is appended then.
        """
        # the ledger's own dict when nothing is added (the store only reads it, while the
        # command appends: its canonical text goes into the rows)
        meta = {**self.metadata, **metadata} if metadata else self.metadata
        begin = self._begin
        # a command of many events (an import's batch) allocates objects that all live until
        # it ends: the cyclic collector's passes over them find nothing to free and cost a
        # quarter of a large import, so it waits until the command is done (and then runs as
        # it would have; what it frees is the same)
        collecting = gc.isenabled()
        if collecting:
            gc.disable()
        try:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                try:
                    with begin():
                        return self._execute_once(command, meta, event_ids)
                except BaseException as e:
                    # aggregates may evolve state in place: a failed command leaves no cached
                    # state behind
                    self._states.pop(command.stream_id(), None)
                    if not isinstance(e, ConcurrencyError) or attempt == MAX_ATTEMPTS:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            if collecting:
                gc.enable()

    def _execute_once(
        self, command: Command, meta: dict[str, Any], event_ids: EventIds | None
    ) -> list[RecordedEvent]:
        aggregate = command.aggregate
        stream_id = command.stream_id()
        state, version, snapshot_version = self._load(aggregate, stream_id)
        events = list(aggregate.decide(state, command))
        if not events:
            return []
        ids = event_ids(events) if callable(event_ids) else event_ids
        of = NewEvent.of
        kinds: set[type[Event]] | None = (
            set(map(type, events)) if len(events) > 1 and not ids else None
        )
        if kinds is not None and len(kinds) == 1:
            # a batch of one event type (an import's results): its name and version once
            (kind,) = kinds
            plain_bodies = getattr(aggregate, "plain_bodies", None)
            new = NewEvent.all_of(
                kind.event_type,
                map(kind.to_data, events),
                kind.schema_version,
                meta,
                plain_data=plain_bodies is not None and plain_bodies(command, events),
            )
        elif ids:
            new = [
                of(e.event_type, e.to_data(), e.schema_version, meta, ids[i])
                for i, e in enumerate(events)
            ]
        else:
            new = [of(e.event_type, e.to_data(), e.schema_version, meta, None) for e in events]
        # an aggregate may fold a command's events at once (an import's batch: one state,
        # not one a result); the same state as evolving them one by one
        evolve_all = getattr(aggregate, "evolve_all", None)
        if evolve_all is not None:
            final_state = evolve_all(state, events)
        else:
            final_state = state
            for e in events:
                final_state = aggregate.evolve(final_state, e)
        final_version = version + len(events)
        saved = snapshot_version
        due = snapshot_due(
            final_version, snapshot_version, grows=getattr(aggregate, "snapshot_grows", False)
        ) or (version == 0 and getattr(aggregate, "snapshot_first", False))
        projector, store = self.projector, self.store

        def in_transaction(conn: Any, recorded: Sequence[RecordedEvent]) -> None:
            nonlocal saved
            projector.in_transaction(conn, recorded, generation=store.generation)
            if due:
                store.save_snapshot(
                    stream_id,
                    final_version,
                    aggregate.state_version,
                    aggregate.snapshot(final_state),
                )
                saved = final_version

        recorded = self.store.append(stream_id, version, new, in_transaction=in_transaction)
        if recorded and recorded[-1].version == final_version:
            self._states[stream_id] = (aggregate, final_version, final_state, saved)
        else:  # an idempotent re-append returned earlier events: forget what we assumed
            self._states.pop(stream_id, None)
        return recorded

    # ------------------------------------------------------------------ read models

    def rebuild_projections(self, names: Sequence[str] | None = None) -> dict[str, int]:
        """Drop and rebuild read models (and the snapshot cache) from the log."""
        self._states.clear()
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM snapshots")
            return self.projector.rebuild(conn, names)


def execute_with_blobs(
    ledger: Ledger, command: Command, blobs: Sequence[bytes], **options: Any
) -> list[RecordedEvent]:
    """``ledger.execute(command)`` with ``blobs`` stored in the same write transaction.

    A refused command rolls the blobs back with it; without blobs it is ``execute``.
    """
    if not blobs:
        return ledger.execute(command, **options)
    with ledger.store.transaction():
        for blob in blobs:
            ledger.store.put_blob(blob, "application/json")
        return ledger.execute(command, **options)
