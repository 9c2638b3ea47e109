"""Two processes appending to the same stream at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from trialbook.domain import ab
from trialbook.domain.commands import build
from trialbook.ledger import Ledger
from trialbook.store.errors import ConcurrencyError
from trialbook.store.sqlite import SQLiteEventStore

WRITER = textwrap.dedent(
    """
    import sys
    from trialbook.domain import ab
    from trialbook.domain.commands import build
    from trialbook.ledger import Ledger
    ledger = Ledger(sys.argv[1])
    variant, n = sys.argv[2], int(sys.argv[3])
    for i in range(n):
        ledger.execute(build(ab.AddResults, test="race", results=(ab.ResultFields(variant=variant, tool_calls=i),)))
    print("done", flush=True)
    """
)


def test_two_writers_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    with Ledger(path) as ledger:
        ledger.execute(build(ab.CreateTest, name="race", variants=("a", "b")))
    n = 60
    root = Path(__file__).parent.parent
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), v, str(n)],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in ("a", "b")
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out == "done\n"
    with SQLiteEventStore(path) as store:
        events = list(store.read_all())
        assert [e.version for e in events] == list(range(1, 2 * n + 2))
        assert [e.position for e in events] == list(range(1, 2 * n + 2))
        prev = events[0].prev_hash
        for e in events:
            assert e.prev_hash == prev and e.hash == e.expected_hash()
            prev = e.hash
        per_variant = {}
        for e in events[1:]:
            per_variant.setdefault(e.data["variant"], []).append(e.data["tool_calls"])
        assert per_variant == {"a": list(range(n)), "b": list(range(n))}
    with Ledger(path) as ledger:
        counts = dict(
            ledger.conn.execute("SELECT variant, results FROM ab_variants WHERE test = 'race'")
        )
        assert counts == {"a": n, "b": n}


def test_the_loser_of_a_race_gets_a_clear_concurrency_error(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    with SQLiteEventStore(path) as one, SQLiteEventStore(path) as two:
        from trialbook.store.base import NewEvent

        assert one.stream_version("s") == two.stream_version("s") == 0
        one.append("s", 0, [NewEvent("T", {"who": 1})])
        try:
            two.append("s", 0, [NewEvent("T", {"who": 2})])
        except ConcurrencyError as e:
            assert "another writer appended first" in str(e)
        else:
            raise AssertionError("the second writer must lose")
        assert [e.data["who"] for e in two.read_all()] == [1]
