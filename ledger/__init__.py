"""The application service: load state, decide, append with projections, in one place."""

from ledger.ledger import Ledger

__all__ = ["Ledger"]
