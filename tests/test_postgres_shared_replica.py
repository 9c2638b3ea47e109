"""Writers sharing one replica file keep their caches of what the others' appends did not touch.

Two ledgers in one process open the same PostgreSQL URL, so they share the
replica (as processes on one machine do), each with its own connection. Between
two appends of one, the other appends and folds: the first then keeps its
statistics of other tests (``ReplicatedEventStore._changed_elsewhere``) and
reads back only what moved. Whatever the interleaving, the read models equal a
rebuild from the log.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import pytest

from trialbook.domain import ab
from trialbook.domain.commands import build
from trialbook.ledger import Ledger

pytestmark = pytest.mark.postgres


def ab_tables(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    tables = ["ab_tests", "ab_variants", "ab_results", "ab_cases", "projection_checkpoints"]
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall() for t in tables}


def add(ledger: Ledger, test: str, i: int) -> None:
    result = ab.ResultFields(
        variant="ab"[i % 2],
        success=i % 3 != 0,
        tool_calls=i % 7,
        tokens=100 + i,
        cost=0.01 * i,
        case_id=f"case-{i // 2}",
        session_id=f"{test}-{i}",
    )
    ledger.execute(build(ab.AddResults, test=test, results=(result,)))


def reads(statements: list[str], table: str) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT") and table in s]


@contextlib.contextmanager
def sharing(pg_url: str, *, combining: bool) -> Iterator[tuple[Ledger, Ledger]]:
    """Two ledgers sharing a replica, appending on the lock path (the default) or handing
    appends over (``TRIALBOOK_PG_COMBINE=1``)."""
    with Ledger(pg_url) as first, Ledger(pg_url) as second:
        assert first.path == second.path  # one replica file, two connections
        for ledger in (first, second):
            ledger.store.remote.combining = combining
        for name in ("t1", "t2", "hot"):
            first.execute(build(ab.CreateTest, name=name, variants=("a", "b")))
        yield first, second


def test_a_writer_keeps_its_statistics_when_another_appends_to_another_test(pg_url: str) -> None:
    with sharing(pg_url, combining=False) as (first, second):
        keeps_what_the_other_did_not_touch(first, second)


def keeps_what_the_other_did_not_touch(first: Ledger, second: Ledger) -> None:
    add(first, "t1", 0)
    add(first, "t1", 1)  # both variants folded: their statistics are kept by ``first``
    add(second, "t2", 0)  # another connection commits to the shared file
    seen: list[str] = []
    first.store.conn.set_trace_callback(seen.append)
    add(first, "t1", 2)
    first.store.conn.set_trace_callback(None)
    # t1's statistics and layout are not read back; the checkpoints once, to check that the
    # other connection folded every projection up to the new head
    assert not reads(seen, "ab_variants") and not reads(seen, "ab_tests")
    assert len(reads(seen, "projection_checkpoints")) == 1

    # the other appends to the same test: its statistics are read back, not assumed
    add(second, "t1", 4)
    seen.clear()
    first.store.conn.set_trace_callback(seen.append)
    add(first, "t1", 5)
    first.store.conn.set_trace_callback(None)
    assert reads(seen, "ab_variants")

    incremental = ab_tables(first.conn)
    first.rebuild_projections()
    assert ab_tables(first.conn) == incremental
    counts = dict(first.conn.execute("SELECT variant, results FROM ab_variants WHERE test = 't1'"))
    assert counts == {"a": 3, "b": 2}


@pytest.mark.parametrize("combining", [False, True], ids=["lock", "hand-over"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_interleaved_writers_sharing_a_replica_fold_what_a_rebuild_folds(
    pg_url: str, seed: int, combining: bool
) -> None:
    with sharing(pg_url, combining=combining) as two:
        interleave(list(two), random.Random(seed))


def interleave(ledgers: list[Ledger], rng: random.Random) -> None:
    for i in range(60):
        ledger = rng.choice(ledgers)
        add(ledger, rng.choice(["t1", "t2", "hot", "hot"]), i)
    first = ledgers[0]
    incremental = ab_tables(first.conn)
    first.rebuild_projections()
    assert ab_tables(first.conn) == incremental
    totals = dict(first.conn.execute("SELECT test, sum(results) FROM ab_variants GROUP BY test"))
    assert sum(totals.values()) == 60
