"""The SQLite :class:`~runners.eval_session.Recorder`: an eval run written through the ledger.

``handle(command)`` decides and appends through :meth:`Ledger.execute` with the
deterministic ids of :func:`domain.evals.event_ids_for`, so re-appending a batch
of rollouts (or verdicts) already recorded is a no-op; the projections are
folded in the same transaction. Deciding the ids and appending happen inside one
write transaction, so the ids always match the events that are appended.
``put_blob`` stores content-addressed bytes in the store's blobs table;
``run_state`` / ``suite_state`` are the ledger's folded stream states.

The executor's :class:`~runners.executor.BatchWriter` calls ``handle`` from its
writer thread; the store serialises use of its connection with a lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trialbook.domain.commands import Command
from trialbook.domain.evals import (
    EvalRunState,
    FinishRun,
    RegisterSuite,
    SuiteState,
    event_ids_for,
)
from trialbook.domain.events import Event
from trialbook.ledger import Ledger

__all__ = ["LedgerRecorder"]


class LedgerRecorder:
    """A :class:`~runners.eval_session.Recorder` over one :class:`Ledger`."""

    def __init__(self, ledger: Ledger, *, metadata: dict[str, Any] | None = None) -> None:
        self.ledger = ledger
        #: merged into every event's metadata (the shell passes the command text)
        self.metadata = dict(metadata or {})

    def handle(self, command: Command) -> Sequence[Event]:
        """Decide ``command`` on its stream's state and append the events (idempotently).

        Returns the events appended now; ``[]`` when nothing was new.
        """
        decided: list[Event] = []

        def ids(events: Sequence[Event]) -> Sequence[str | None]:
            decided[:] = events  # decided once, inside the append's transaction
            return event_ids_for(command, events)

        with self.ledger.store.transaction():
            before = self.ledger.store.stream_version(command.stream_id())
            recorded = self.ledger.execute(command, metadata=self.metadata or None, event_ids=ids)
        # an idempotent re-append returns the events recorded earlier: nothing new then
        return decided if recorded and recorded[0].version > before else []

    def handle_many(self, commands: Sequence[Command]) -> list[Event]:
        """``handle`` each command in turn, all in one write transaction (all or nothing)."""
        out: list[Event] = []
        with self.ledger.store.transaction():
            for command in commands:
                out.extend(self.handle(command))
        return out

    def put_blob(self, content: bytes) -> str:
        """Store ``content`` under its SHA-256 (once) and return the hash."""
        return self.ledger.store.put_blob(content)

    def get_blob(self, digest: str) -> bytes | None:
        return self.ledger.store.get_blob(digest)

    def run_state(self, run_id: str) -> EvalRunState:
        """The run's state folded from the log (an unknown run gives the initial state)."""
        state, _, _ = self.ledger.load(FinishRun(run_id=run_id))
        assert isinstance(state, EvalRunState)
        return state

    def suite_state(self, name: str) -> SuiteState:
        """Every version of suite ``name`` (no ``versions`` for an unknown suite)."""
        probe = RegisterSuite.model_construct(name=name, cases=())
        state, _, _ = self.ledger.load(probe)
        assert isinstance(state, SuiteState)
        return state if state.exists else SuiteState(name=name)
