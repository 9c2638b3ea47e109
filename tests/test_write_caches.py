"""What a connection caches between appends never outlives the truth.

The append path keeps the log head, stream versions, projection checkpoints
and the A/B statistics in memory between write transactions (see
``SQLiteEventStore.generation``). These tests write the same file through two
ledgers in one process, roll transactions back after the read models were
folded, and import events behind the append path's back, and check that the
log stays gap-free and chained and that the read models equal a rebuild.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trialbook.domain import ab
from trialbook.domain.commands import build
from trialbook.domain.errors import DomainError
from trialbook.ledger import Ledger
from trialbook.projections.ab_queries import moments

try:
    from tests.test_properties import command_sequences, dump
except ImportError:  # pragma: no cover - run from inside tests/
    from test_properties import command_sequences, dump  # type: ignore[no-redef]


class Boom(Exception):
    pass


def fail_after_folding(ledger: Ledger) -> None:
    """Make the next append fold its read models, then fail before it commits."""
    projector = ledger.projector
    real = projector.in_transaction

    def once(conn: Any, recorded: Any, **kw: Any) -> None:
        real(conn, recorded, **kw)
        del projector.in_transaction  # the class's method again
        raise Boom

    projector.in_transaction = once  # type: ignore[method-assign]


def check_log(ledger: Ledger) -> None:
    events = list(ledger.store.read_all())
    assert [e.position for e in events] == list(range(1, len(events) + 1))
    prev = events[0].prev_hash if events else None
    for e in events:
        assert e.prev_hash == prev and e.hash == e.expected_hash()
        prev = e.hash
    versions: dict[str, int] = {}
    for e in events:
        versions[e.stream_id] = versions.get(e.stream_id, 0) + 1
        assert e.version == versions[e.stream_id]


@given(command_sequences(), st.data())
@settings(deadline=None, max_examples=40)
def test_two_connections_and_rollbacks_leave_read_models_equal_to_a_rebuild(
    commands: list[Any], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.db"
        ledgers = [Ledger(path, synchronous="OFF"), Ledger(path, synchronous="OFF")]
        for c in commands:
            ledger = ledgers[data.draw(st.integers(0, 1), label="writer")]
            if data.draw(st.integers(0, 5), label="fail") == 0:
                fail_after_folding(ledger)
            with contextlib.suppress(DomainError, Boom):
                ledger.execute(c)
            # a command refused before folding leaves the failure armed: disarm it
            vars(ledger.projector).pop("in_transaction", None)
        check_log(ledgers[0])
        # both connections, whichever wrote last, see read models equal to a rebuild
        seen = [dump(led.conn) for led in ledgers]
        ledgers[0].rebuild_projections()
        assert seen[0] == seen[1] == dump(ledgers[0].conn)
        for led in ledgers:
            led.close()


def test_a_rolled_back_append_leaves_nothing_cached(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "r.db", synchronous="OFF")
    ledger.execute(build(ab.CreateTest, name="t", variants=("a", "b")))
    first = ab.ResultFields(variant="a", success=True, completion_time=3.0)
    ledger.execute(build(ab.AddResults, test="t", results=(first,)))
    fail_after_folding(ledger)
    with contextlib.suppress(Boom):
        ledger.execute(build(ab.AddResults, test="t", results=(first,)))
    second = ab.ResultFields(variant="a", success=False, completion_time=5.0)
    ledger.execute(build(ab.AddResults, test="t", results=(second,)))
    check_log(ledger)
    assert ledger.store.head()[0] == 3  # the failed append took no position
    got = moments(ledger.conn, "t")["a"]
    assert (got["completion_time"].n, got["completion_time"].mean) == (2, 4.0)
    assert (got["success"].n, got["success"].mean) == (2, 0.5)
    before = dump(ledger.conn)
    ledger.rebuild_projections()
    assert dump(ledger.conn) == before
    ledger.close()


def test_an_append_after_another_connection_wrote_continues_its_chain(tmp_path: Path) -> None:
    path = tmp_path / "two.db"
    one, two = Ledger(path, synchronous="OFF"), Ledger(path, synchronous="OFF")
    one.execute(build(ab.CreateTest, name="t", variants=("a", "b")))
    for i in range(6):
        writer = (one, two)[i % 2]
        writer.execute(
            build(
                ab.AddResults,
                test="t",
                results=(ab.ResultFields(variant="a", completion_time=float(i)),),
            )
        )
    check_log(one)
    got = moments(one.conn, "t")["a"]["completion_time"]
    assert (got.n, got.mean) == (6, 2.5)
    one.close()
    two.close()


@given(
    st.lists(
        st.tuples(
            st.integers(0, 1),  # writer
            st.sampled_from(["a", "b"]),
            st.sampled_from(["c1", "c2", None]),
            st.floats(0, 50, allow_nan=False),
            st.integers(1, 6),  # results in the append (up to 4 are folded one by one)
            st.integers(0, 4),  # 0: the append is rolled back after folding
        ),
        min_size=1,
        max_size=30,
    )
)
@settings(deadline=None, max_examples=40)
def test_cached_variant_and_case_rows_follow_both_writers_and_rollbacks(
    appends: list[tuple[int, str, str | None, float, int, int]],
) -> None:
    """The statistics and per-case sums a ledger keeps between appends (``ab_variants``,
    ``ab_cases``) are dropped when the other ledger writes or an append rolls back: the
    tables stay byte-identical to a rebuild's, and the sums to the rows' own."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.db"
        ledgers = [Ledger(path, synchronous="OFF"), Ledger(path, synchronous="OFF")]
        ledgers[0].execute(
            build(
                ab.CreateTest,
                name="t",
                variants=("a", "b"),
                metric="completion_time",
                guardrails=(ab.Guardrail(metric="cost", limit=0.1),),
            )
        )
        for writer, variant, case, value, k, fail in appends:
            ledger = ledgers[writer]
            if fail == 0:
                fail_after_folding(ledger)
            results = tuple(
                ab.ResultFields(variant=variant, case_id=case, completion_time=value + i, cost=1.5)
                for i in range(k)
            )
            with contextlib.suppress(Boom):
                ledger.execute(build(ab.AddResults, test="t", results=results))
        seen = [dump(led.conn) for led in ledgers]
        ledgers[0].rebuild_projections()
        assert seen[0] == seen[1] == dump(ledgers[0].conn)
        conn = ledgers[0].conn
        for variant, n, total in conn.execute(
            "SELECT variant, count(*), sum(completion_time) FROM ab_results GROUP BY variant"
        ):
            got = moments(conn, "t")[variant]["completion_time"]
            assert got.n == n and abs(got.mean * n - total) <= 1e-9 * max(1.0, abs(total))
        for led in ledgers:
            led.close()
