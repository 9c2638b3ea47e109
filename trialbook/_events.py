"""``tb.events``: read the log in position order, follow it as it grows, verify it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from trialbook._models import Event, VerifyReport

if TYPE_CHECKING:
    from trialbook._client import Trialbook
    from trialbook.store.base import RecordedEvent

#: events read per query; the handle's lock is released between batches
BATCH = 1_000


def to_event(e: RecordedEvent) -> Event:
    """The public :class:`Event` of a stored envelope (its fields read by name; ``data`` and
    ``metadata`` parsed)."""
    return Event.model_validate(e, from_attributes=True)


class Events:
    """The event log of one database, read-only: everything else appends to it."""

    def __init__(self, tb: Trialbook) -> None:
        self._tb = tb

    def _batch(
        self, after: int, until: int | None, stream: str | None, types: Sequence[str] | None
    ) -> list[Event]:
        with self._tb._use() as ledger:
            rows = []
            for e in ledger.store.read_all(
                after, until_position=until, stream_id=stream, types=types, batch_size=BATCH
            ):
                rows.append(to_event(e))
                if len(rows) == BATCH:
                    break
            return rows

    def read(
        self,
        after: int = 0,
        *,
        until: int | None = None,
        stream: str | None = None,
        types: Sequence[str] | None = None,
    ) -> Iterator[Event]:
        """The recorded events after position ``after`` (up to ``until``), in position order.

        ``stream`` keeps one stream (``"ab:checkout-flow"``), ``types`` some event
        types (``["ResultAdded"]``). Reads in batches, so other threads can write
        while you iterate; events committed meanwhile are included when they
        come after the last one read.
        """
        last = after
        while True:
            rows = self._batch(last, until, stream, types)
            yield from rows
            if len(rows) < BATCH:
                return
            last = rows[-1].position

    def follow(
        self,
        after: int = 0,
        *,
        stream: str | None = None,
        types: Sequence[str] | None = None,
        poll: float = 0.2,
        timeout: float | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[Event]:
        """A catch-up subscription: every event after ``after``, then each new one as it commits.

        Delivers each event once, in position order, whatever process wrote it;
        positions are gap-free and assigned at commit, so nothing committed late
        is skipped. To resume after a restart, pass the position of the last event
        you handled. Ends when ``timeout`` seconds pass with no new event, or when
        ``stop`` is set; otherwise it waits for ever (polling every ``poll`` seconds).
        """
        last = after
        idle_since = time.monotonic()
        while stop is None or not stop.is_set():
            rows = self._batch(last, None, None, None)
            for e in rows:
                last = e.position
                if (stream is None or e.stream_id == stream) and (not types or e.type in types):
                    yield e
            if rows:
                idle_since = time.monotonic()
                if len(rows) == BATCH:
                    continue
            elif timeout is not None and time.monotonic() - idle_since >= timeout:
                return
            if stop is not None:
                stop.wait(poll)
            else:
                time.sleep(poll)

    def get(self, key: int | str) -> Event:
        """The event at a position, or with an event id; ``NotFound`` if there is none."""
        from trialbook.domain.errors import NotFound

        with self._tb._use() as ledger:
            e = ledger.store.get(key)
        if e is None:
            raise NotFound(f"no event at {key!r}; see `trialbook events log`")
        return to_event(e)

    def verify(self) -> VerifyReport:
        """Check the hash chain, every stream's versions and the append-only guards
        (what ``trialbook events verify`` checks); reads only."""
        with self._tb._use() as ledger:
            report = ledger.verify()  # the file, or the log on the PostgreSQL server
        return VerifyReport(**report.to_dict())
