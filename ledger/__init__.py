"""The application service: load state, decide, append with projections, in one place.

- ``ledger.ledger``: :class:`Ledger`, commands in one write transaction;
- ``ledger.analysis``: A/B analyses (now or replayed) and decisions;
- ``ledger.evals``: suites, eval runs, resume, rescore, reports, compare, export
  (the application side of ``eval ...``); ``ledger.eval_compare``: two runs paired;
- ``ledger.importing``: result files read into commands;
- ``ledger.paths``: where the database lives when none is named.

``Ledger`` is imported on first use, so the light modules stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trialbook.ledger.ledger import Ledger

__all__ = ["Ledger"]


def __getattr__(name: str) -> Any:
    if name == "Ledger":
        from trialbook.ledger.ledger import Ledger

        return Ledger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
