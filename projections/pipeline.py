"""Run SQL statements in a background thread on a second connection, committing each one.

A point-in-time replay spends its time in two places: SQLite extracting result
rows from the log with ``json_extract`` (C code, which releases the GIL for a
whole ``INSERT … SELECT``), and Python folding those rows into statistics. Run
one after the other, they use one core. :class:`Background` runs the
extraction statements on its own connection in a thread, each in its own
transaction, and hands the caller the row count of each as it commits, so the
caller folds the committed rows on the other core while the next chunk is
extracted. Both connections open the same database file in WAL mode: a reader
sees every committed chunk and never blocks the writer.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from trialbook.projections.base import Statement


class Background:
    """``statements`` executed in order by a background thread; iterate for each one's row count.

    ``uri`` is the database as a ``file:`` URI (opened with URIs on).

    The thread starts at once. Iterating yields the number of rows each
    statement changed, as soon as it committed; an error in the thread is
    raised by the iteration. :meth:`close` (also on leaving a ``with`` block)
    interrupts the statement in progress, skips the rest and waits for the
    thread, so a caller that stops early (an error, Ctrl-C, a declined fold)
    leaves nothing running.
    """

    def __init__(
        self, uri: str, statements: Sequence[Statement], *, setup: Sequence[Statement] = ()
    ) -> None:
        self._done: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._finished = False
        # opened here and closed by close(), after the thread has ended, so
        # interrupt() can never meet a closed connection
        self._conn = sqlite3.connect(uri, isolation_level=None, check_same_thread=False, uri=True)
        try:
            for sql, params in setup:
                self._conn.execute(sql, params)
        except BaseException:
            self._conn.close()
            raise
        self._thread = threading.Thread(
            target=self._work, args=(list(statements),), name="trialbook-extract", daemon=True
        )
        self._thread.start()

    def _work(self, statements: list[Statement]) -> None:
        try:
            for sql, params in statements:
                if self._stop.is_set():
                    break
                self._done.put(("committed", self._conn.execute(sql, params).rowcount))
        except BaseException as exc:  # handed to the reader, raised there
            self._done.put(("error", exc))
        else:
            self._done.put(("end", None))

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        if self._finished:
            raise StopIteration
        kind, value = self._done.get()
        if kind == "committed":
            return int(value)
        self._finished = True
        if kind == "error":
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop after (or interrupt) the statement in progress, wait for the thread, close."""
        self._stop.set()
        while self._thread.is_alive():
            # again and again: an interrupt that lands between two statements is lost
            self._conn.interrupt()
            self._thread.join(0.05)
        self._finished = True
        self._conn.close()

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
