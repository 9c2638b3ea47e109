"""Opening a database by what ``--db`` names: a SQLite file, or a PostgreSQL URL.

:func:`open_store` gives the ledger its store: a :class:`SQLiteEventStore`
for a path, a :class:`~trialbook.store.replica.ReplicatedEventStore` (the log
on PostgreSQL, read models in a local replica) for a ``postgresql://`` URL.
Both answer the same calls with the same SQLite read-model tables, so
nothing above the store needs to know which it has. The PostgreSQL modules
(and psycopg) are imported only for a URL.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from trialbook.store.sqlite import SQLiteEventStore
from trialbook.store.urls import is_postgres_url, redact_url

if TYPE_CHECKING:
    from trialbook.projections.base import Projector
    from trialbook.store.verify import Report


def open_store(
    target: str | os.PathLike[str],
    *,
    synchronous: str = "FULL",
    projector: Projector | None = None,
) -> SQLiteEventStore:
    """The store for ``target``; ``projector`` folds what a replica pulls (the ledger's own)."""
    if is_postgres_url(target):
        from trialbook.store.replica import ReplicatedEventStore

        return ReplicatedEventStore(str(target), projector=projector)
    return SQLiteEventStore(target, synchronous=synchronous)


def verify_database(target: str | os.PathLike[str]) -> Report:
    """``events verify`` of ``target``: a file (``verify_file``) or the log on a PostgreSQL server.

    Reads only: neither creates nor migrates anything.
    """
    if is_postgres_url(target):
        from trialbook.store.postgres import PostgresEventStore

        with PostgresEventStore(str(target), migrate=False) as store:
            return store.verify()
    from trialbook.store.verify import verify_file

    return verify_file(target)


def display_name(target: Any) -> str:
    """How messages name ``target``: a path as given, a URL without its password."""
    return redact_url(target) if is_postgres_url(target) else str(target)
