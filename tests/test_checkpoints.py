"""The projection checkpoints an append writes: every projection's at the new head.

A single append moves the checkpoint rows with one ``UPDATE`` of the whole table
when every row in it is the projector's own (``Projector.in_transaction``); a
row it does not know (a newer trialbook's projection, say) must stay where it
is, or that projection would be taken as current without having folded the
event. These tests write through two ledgers, with and without such a row, and
compare the table after every command with what setting each row gives.
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trialbook.domain import ab
from trialbook.domain.commands import build
from trialbook.domain.errors import DomainError
from trialbook.ledger import Ledger

try:
    from tests.test_properties import command_sequences
except ImportError:  # pragma: no cover - run from inside tests/
    from test_properties import command_sequences  # type: ignore[no-redef]

#: a checkpoint row of a projection no projector here knows, and where it stays
FOREIGN = ("zz_newer_projection", 3, 1)


def checkpoints(path: Path) -> set[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return set(conn.execute("SELECT name, version, position FROM projection_checkpoints"))
    finally:
        conn.close()


def expected(ledger: Ledger, head: int, foreign: bool) -> set[tuple[Any, ...]]:
    ours = {(p.name, p.version, head) for p in ledger.projector.projections}
    return ours | {FOREIGN} if foreign else ours


def add_foreign_row(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("INSERT INTO projection_checkpoints VALUES (?, ?, ?)", FOREIGN)
    finally:
        conn.close()


@given(command_sequences(), st.data(), st.booleans())
@settings(deadline=None, max_examples=30)
def test_every_append_leaves_each_projection_at_the_head_and_other_rows_untouched(
    commands: list[Any], data: st.DataObject, foreign: bool
) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.db"
        Ledger(path, synchronous="OFF").close()
        if foreign:
            add_foreign_row(path)
        ledgers = [Ledger(path, synchronous="OFF"), Ledger(path, synchronous="OFF")]
        try:
            for c in commands:
                ledger = ledgers[data.draw(st.integers(0, 1), label="writer")]
                with contextlib.suppress(DomainError):
                    ledger.execute(c)
                head = ledger.store.head()[0]
                assert checkpoints(path) == expected(ledger, head, foreign)
        finally:
            for ledger in ledgers:
                ledger.close()


def test_a_row_added_by_another_connection_between_appends_is_not_moved(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    ledger = Ledger(path, synchronous="OFF")
    ledger.execute(build(ab.CreateTest, name="t", variants=("a", "b")))
    for i in range(3):  # single appends on the quick path: the table held only its rows
        ledger.execute(
            build(ab.AddResults, test="t", results=(ab.ResultFields(variant="ab"[i % 2]),))
        )
    add_foreign_row(path)  # (another connection's commit: the projector reads the table again)
    for i in range(3):
        ledger.execute(
            build(ab.AddResults, test="t", results=(ab.ResultFields(variant="ab"[i % 2]),))
        )
    assert checkpoints(path) == expected(ledger, 7, foreign=True)
    ledger.close()
