"""``trialbook.open()`` and the :class:`Trialbook` handle every other call hangs off."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from trialbook.ledger.paths import resolve_db

if TYPE_CHECKING:
    from trialbook._ab import ABTests
    from trialbook._canary import Canaries, Canary
    from trialbook._evals import Evals
    from trialbook._events import Events
    from trialbook._reports import Reports
    from trialbook.ledger import Ledger


class Trialbook:
    """One trialbook database, opened for use from code.

    Every method is safe to call from several threads at once (calls on one
    handle run one at a time, each in its own transaction), and several
    processes may use the same file at once through the API and the CLI: each
    write is one SQLite transaction, durable (``synchronous=FULL``) when the
    call returns. Close it when done (or use it as a context manager).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, synchronous: str = "FULL"):
        from trialbook.ledger import Ledger

        #: a ``postgresql://`` URL when one was given (or is $TRIALBOOK_DB); ``path`` is then its local replica
        self.url, self.path = resolve_db(path)
        if path is None and not os.environ.get("TRIALBOOK_DB"):
            self.path.parent.mkdir(parents=True, exist_ok=True)  # the default location is ours
        ledger = Ledger(self.url or self.path, synchronous=synchronous)
        ledger.metadata["tier"] = "api"
        self._attach(ledger, record_calls=True)

    def _attach(self, ledger: Ledger, *, record_calls: bool) -> None:
        self._lock = threading.RLock()
        self._ledger: Ledger | None = ledger
        #: record which API call appended each event (``metadata.call``)
        self._record_calls = record_calls
        self._ab: ABTests | None = None
        self._events: Events | None = None
        self._evals: Evals | None = None

    @classmethod
    def _around(cls, ledger: Ledger) -> Trialbook:
        """A handle on a ledger someone else opened and closes (the CLI's, whose events
        record the command line instead of the API call)."""
        tb = cls.__new__(cls)
        tb.path, tb.url = ledger.path, getattr(ledger.store, "url", None)
        tb._attach(ledger, record_calls=False)
        return tb

    # ------------------------------------------------------------------ the parts

    @property
    def ab(self) -> ABTests:
        """A/B tests: create, record results, analyse, conclude (:class:`trialbook.ABTests`)."""
        if self._ab is None:
            from trialbook._ab import ABTests

            self._ab = ABTests(self)
        return self._ab

    @property
    def events(self) -> Events:
        """The log itself: read, follow, verify (:class:`trialbook.Events`)."""
        if self._events is None:
            from trialbook._events import Events

            self._events = Events(self)
        return self._events

    @property
    def evals(self) -> Evals:
        """Suites and eval runs (:class:`trialbook.Evals`)."""
        if self._evals is None:
            from trialbook._evals import Evals

            self._evals = Evals(self)
        return self._evals

    @property
    def canaries(self) -> Canaries:
        """Canary rollouts: plan them and list them (:class:`trialbook.Canaries`)."""
        found = self.__dict__.get("_canaries")
        if found is None:
            from trialbook._canary import Canaries

            found = self.__dict__["_canaries"] = Canaries(self)
        return found

    @property
    def report(self) -> Reports:
        """Decision reports: ``tb.report("ab", name)``, ``tb.report.eval(run, baseline=…)`` (:class:`trialbook.Reports`)."""
        found = self.__dict__.get("_reports")
        if found is None:
            from trialbook._reports import Reports

            found = self.__dict__["_reports"] = Reports(self)
        return found

    def canary(self, name: str) -> Canary:
        """The handle of canary ``name`` (:class:`trialbook.Canary`): assign, record, decide.

        One handle per name and database handle, kept: calling ``tb.canary(name)``
        per request costs a dictionary lookup. ``NotFound`` if there is no such canary.
        """
        handles = self.__dict__.setdefault("_canary_handles", {})
        handle = handles.get(name)
        if handle is None:
            from trialbook._canary import Canary

            handle = handles[name] = Canary(self, name)
        return handle

    def export_dataset(
        self,
        source: str,
        *,
        format: str = "jsonl",  # noqa: A002 - the CLI option's name
        output: str | os.PathLike[str] | None = None,
        min_score: float | None = None,
        passed_only: bool = False,
        scorer: str | None = None,
        split: str | None = None,
        seed: int | None = None,
        function_name: str | None = None,
    ) -> dict[str, Any]:
        """The recorded sessions of an eval run, A/B test or canary as dataset records
        (``trialbook export dataset``; see docs/datasets.md). Reads only.

        ``format``: ``openai-chat``, ``tensorzero`` or ``jsonl``. ``split``
        (``"train=0.9,val=0.1"``) assigns whole cases by a hash of ``seed`` and the
        case id. Returns ``{source, format, records: [{split, record, provenance,
        scores}], files, skipped}``; with ``output``, also writes the records there
        (one file per split). Raises ``NotFound`` or ``InvalidCommand`` with the
        CLI's one-line messages, having written nothing.
        """
        from trialbook.ledger.datasets import export_dataset

        with self._use() as ledger:
            return export_dataset(
                ledger, source, format=format, output=output, min_score=min_score,
                passed_only=passed_only, scorer=scorer, split=split, seed=seed,
                function_name=function_name,
            )  # fmt: skip

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _use(self, call: str | None = None) -> Iterator[Ledger]:
        """The ledger, held for one call; ``call`` (``"ab.add_result"``) is recorded in the
        metadata of what the call appends."""
        with self._lock:
            ledger = self._ledger
            if ledger is None:
                from trialbook.store.errors import StoreUnavailable

                raise StoreUnavailable(
                    f"{self.path} was closed; open it again with trialbook.open()"
                )
            recorded = call is not None and self._record_calls
            if recorded:
                ledger.metadata["call"] = f"trialbook.{call}"
            try:
                yield ledger
            finally:
                if recorded:
                    ledger.metadata.pop("call", None)

    @property
    def position(self) -> int:
        """The position of the last event in the log (0 when it is empty)."""
        with self._use() as ledger:
            return int(ledger.store.head()[0])

    def close(self) -> None:
        """Close the database (idempotent). Calls after it raise ``StoreUnavailable``."""
        with self._lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None

    def __enter__(self) -> Trialbook:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<trialbook.Trialbook {str(self.path)!r}>"


def open(path: str | os.PathLike[str] | None = None, *, synchronous: str = "FULL") -> Trialbook:  # noqa: A001
    """Open (creating if needed) the trialbook database at ``path`` (a file, or a ``postgresql://`` URL).

    With no path: ``$TRIALBOOK_DB`` if set, else the default file in the XDG data
    directory (``~/.local/share/trialbook/trialbook.db``), as the CLI does.
    ``synchronous`` is SQLite's setting: ``FULL`` (the default) makes every
    acknowledged write survive a power cut; ``NORMAL`` survives a crash of the
    process only. Raises :class:`trialbook.StoreError` subclasses with the
    CLI's one-line messages (a directory that does not exist, a file that is
    not a trialbook database, …).
    """
    return Trialbook(path, synchronous=synchronous)
