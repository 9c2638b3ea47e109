"""Many writers on one PostgreSQL log: nothing lost, nothing duplicated, no gaps, in every crash.

Writers are real processes (and threads in them) on the real server. Some
share a replica file, as processes on one machine do; others each have their
own, as separate machines do.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import trialbook
from trialbook.domain import ab
from trialbook.domain.commands import build
from trialbook.ledger import Ledger
from trialbook.store.postgres import PostgresEventStore
from trialbook.store.replica import ReplicatedEventStore

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ROOT = Path(__file__).parent.parent

THREADED_WRITER = textwrap.dedent(
    """
    import sys, threading
    from trialbook.domain import ab
    from trialbook.domain.commands import build
    from trialbook.ledger import Ledger

    url, proc, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    errors = []

    def work(thread):
        try:
            with Ledger(url) as ledger:
                own = f"own-{proc}-{thread}"
                ledger.execute(build(ab.CreateTest, name=own, variants=("a", "b")))
                for i in range(n):
                    result = ab.ResultFields(variant="ab"[i % 2], tool_calls=i, session_id=f"{proc}-{thread}-{i}")
                    test = "shared" if i % 2 == 0 else own
                    ledger.execute(build(ab.AddResults, test=test, results=(result,)))
        except BaseException as e:
            errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("; ".join(errors) or "done", flush=True)
    """
)


def env_with_cache(cache: Path) -> dict[str, str]:
    return {**os.environ, "XDG_CACHE_HOME": str(cache)}


def spawn(script: str, *args: str, cache: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env_with_cache(cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ab_tables(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    tables = ["ab_tests", "ab_variants", "ab_results", "ab_cases"]
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall() for t in tables}


def test_8_processes_of_4_threads_lose_and_duplicate_nothing(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 10
    with Ledger(pg_url) as ledger:
        ledger.execute(build(ab.CreateTest, name="shared", variants=("a", "b")))
    # processes 0-3 share one replica (one machine); 4-7 have one each (four more machines)
    caches = [tmp_path / "machine-0"] * 4 + [tmp_path / f"machine-{i}" for i in range(1, 5)]
    procs = [spawn(THREADED_WRITER, pg_url, str(p), str(n), cache=caches[p]) for p in range(8)]
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert (p.returncode, out.strip()) == (0, "done"), err[-2000:]

    with PostgresEventStore(pg_url) as log:
        events = list(log.read_all())
        report = log.verify()
    total = 1 + 32 + 32 * n
    assert report.ok, report.problems
    assert [e.position for e in events] == list(range(1, total + 1))
    versions: dict[str, list[int]] = {}
    for e in events:
        versions.setdefault(e.stream_id, []).append(e.version)
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
    sessions = Counter(e.data["session_id"] for e in events if e.type == "ResultAdded")
    expected = {f"{p}-{t}-{i}" for p in range(8) for t in range(4) for i in range(n)}
    assert set(sessions) == expected and set(sessions.values()) == {1}
    assert len(versions["ab:shared"]) == 1 + 32 * n // 2

    # every machine's read models equal a rebuild from the log
    for cache in (tmp_path / "machine-0", tmp_path / "machine-3"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
        with Ledger(pg_url) as ledger:
            incremental = ab_tables(ledger.conn)
            ledger.rebuild_projections()
            assert ab_tables(ledger.conn) == incremental
            shared = dict(
                ledger.conn.execute(
                    "SELECT variant, results FROM ab_variants WHERE test = 'shared'"
                )
            )
            assert shared == {"a": 32 * n // 2, "b": 0}


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from trialbook.store.base import NewEvent
    from trialbook.store.replica import ReplicatedEventStore

    store = ReplicatedEventStore(sys.argv[1])
    stream = sys.argv[2]

    def slowly(conn, recorded):
        time.sleep(0.004)  # inside both transactions: most kills land here

    i = 0
    while True:
        store.append(stream, None, [NewEvent("Tick", {"i": i})], in_transaction=slowly)
        print(i, flush=True)  # acknowledged only after the commits returned
        i += 1
    """
)


def test_kill_9_of_writers_mid_transaction_loses_nothing_acknowledged(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "machine"
    acked: dict[str, list[int]] = {}
    for round_ in range(3):
        streams = [f"crash-{round_}-{w}" for w in range(2)]
        procs = [spawn(KILLED_WRITER, pg_url, s, cache=cache) for s in streams]
        for stream, proc in zip(streams, procs, strict=True):
            assert proc.stdout is not None
            got = acked.setdefault(stream, [])
            for line in proc.stdout:
                got.append(int(line))
                if len(got) >= 15:
                    break
        for proc in procs:
            proc.kill()  # SIGKILL: no cleanup, no rollback from the client
        for stream, proc in zip(streams, procs, strict=True):
            proc.wait()
            # what it acknowledged after we stopped reading is still in the pipe
            rest = proc.stdout.read()  # type: ignore[union-attr]
            acked[stream] += [int(x) for x in rest.split("\n") if x.strip()]
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]
    with PostgresEventStore(pg_url) as log:
        assert log.verify().ok
        for stream, got in acked.items():
            stored = [e.data["i"] for e in log.read_stream(stream)]
            # every acknowledged append is there, once; at most the one being acknowledged beyond
            assert stored[: len(got)] == got and len(stored) - len(got) in (0, 1), stream
        remote = list(log.read_all())
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))  # the killed writers' replica catches up
    with ReplicatedEventStore(pg_url) as replica:
        assert list(replica.read_all()) == remote


APPENDER = textwrap.dedent(
    """
    import sys, time
    from trialbook.store.base import NewEvent
    from trialbook.store.replica import ReplicatedEventStore

    store = ReplicatedEventStore(sys.argv[1])
    for i in range(int(sys.argv[3])):
        store.append(sys.argv[2], None, [NewEvent("Tick", {"i": i})])
        time.sleep(0.002)
    print("done", flush=True)
    """
)


def test_a_follower_sees_every_event_once_in_order_while_8_writers_append(
    pg_url: str, tmp_path: Path
) -> None:
    n = 25
    with trialbook.open(pg_url) as tb:
        procs = [
            spawn(APPENDER, pg_url, f"w{w}", str(n), cache=tmp_path / f"m{w % 3}") for w in range(8)
        ]
        seen = []
        started = time.monotonic()
        for e in tb.events.follow(poll=0.02, timeout=60):
            seen.append((e.position, e.stream_id, e.data["i"]))
            if len(seen) == 8 * n:
                break
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert out.strip() == "done", err[-2000:]
        assert time.monotonic() - started < 60
        # nothing more arrives, and everything arrived in position order, once
        assert list(tb.events.follow(after=seen[-1][0], timeout=0.3)) == []
    assert [s[0] for s in seen] == list(range(1, 8 * n + 1))
    per_writer: dict[str, list[int]] = {}
    for _, stream, i in seen:
        per_writer.setdefault(stream, []).append(i)
    assert per_writer == {f"w{w}": list(range(n)) for w in range(8)}
