"""The PostgreSQL backend's write paths, beside raw psycopg writing the same rows in the same run.

1. Single appends: ``Ledger.execute`` of one result (the full path: validation,
   decision, canonical JSON, hash chain, the append lock, the insert into
   PostgreSQL and the replica, the projections, the two commits) against raw
   psycopg inserting the same event rows (read back from the timed run) one
   per transaction into an equally keyed table without triggers.
2. Batched import: ``ab import`` of N results (one ``Ledger.execute``: the
   results validated, decided, chained, folded, sent with COPY), and
   ``events import`` of an exported log, (a) into the log alone
   (``PostgresEventStore.import_envelopes``: parse each line, check the chain,
   COPY) and (b) through the ledger's store (also the replica and its read
   models); each against raw psycopg COPY (and ``executemany``) of the same
   rows into the equally keyed table.
3. Aggregate throughput of 1, 4 and 8 writer processes, each appending one
   result per ``Ledger.execute`` for a fixed time, all on one machine (one
   shared replica) and, for comparison, each with its own replica (as on
   separate machines).

Each run makes its own databases and drops them.

    python bench/postgres.py [--single N] [--import N] [--seconds S] [--rounds R] [--server URL]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from bench.common import sample_result  # noqa: E402
from trialbook.domain import ab  # noqa: E402
from trialbook.domain.commands import build  # noqa: E402
from trialbook.ledger import Ledger  # noqa: E402

RAW_DDL = """
CREATE TABLE raw_events (
    position bigint PRIMARY KEY, event_id text COLLATE "C" NOT NULL UNIQUE,
    stream_id text COLLATE "C" NOT NULL, version bigint NOT NULL, type text NOT NULL,
    schema_version integer NOT NULL, data text NOT NULL, metadata text NOT NULL,
    recorded_at text NOT NULL, prev_hash text NOT NULL, hash text NOT NULL,
    UNIQUE (stream_id, version));
"""
COLUMNS = (
    "position, event_id, stream_id, version, type, schema_version, data, metadata, "
    "recorded_at, prev_hash, hash"
)


def url_for(server: str, database: str) -> str:
    base, _, _ = server.rpartition("/")
    return f"{base}/{database}"


class Database:
    """A database of its own for one measurement, dropped on exit."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.name = f"tb_bench_{secrets.token_hex(4)}"
        with psycopg.connect(server, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{self.name}"')
        self.url = url_for(server, self.name)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        with psycopg.connect(self.server, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def rows_of(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as c:
        return c.execute(f"SELECT {COLUMNS} FROM trialbook.events ORDER BY position").fetchall()


def raw_single(url: str, rows: list[tuple[Any, ...]]) -> float:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(RAW_DDL)
        sql = f"INSERT INTO raw_events ({COLUMNS}) VALUES ({', '.join(['%s'] * 11)})"
        started = time.perf_counter()
        for r in rows:
            with c.transaction():
                c.execute(sql, r)
        return len(rows) / (time.perf_counter() - started)


def raw_copy(url: str, rows: list[tuple[Any, ...]]) -> float:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(RAW_DDL)
        started = time.perf_counter()
        with c.transaction(), c.cursor().copy(f"COPY raw_events ({COLUMNS}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
        return len(rows) / (time.perf_counter() - started)


def raw_executemany(url: str, rows: list[tuple[Any, ...]]) -> float:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(RAW_DDL.replace("raw_events", "raw_events_m"))
        sql = f"INSERT INTO raw_events_m ({COLUMNS}) VALUES ({', '.join(['%s'] * 11)})"
        started = time.perf_counter()
        with c.transaction():
            c.cursor().executemany(sql, rows)
        return len(rows) / (time.perf_counter() - started)


def full_single(url: str, n: int) -> float:
    import random

    rng = random.Random(1)
    results = [sample_result(rng, i=i) for i in range(n)]
    with Ledger(url) as ledger:
        ledger.execute(build(ab.CreateTest, name="bench", variants=("cold", "warm")))
        started = time.perf_counter()
        for fields in results:
            ledger.execute(build(ab.AddResults, test="bench", results=(ab.ResultFields(**fields),)))
        return n / (time.perf_counter() - started)


def full_batch(url: str, n: int) -> float:
    """``ab import`` of ``n`` results: one ``Ledger.execute`` appending them all (validation included)."""
    import random

    rng = random.Random(3)
    results = [sample_result(rng, i=i) for i in range(n)]
    with Ledger(url) as ledger:
        ledger.execute(build(ab.CreateTest, name="bench", variants=("cold", "warm")))
        started = time.perf_counter()
        parsed = tuple(ab.ResultFields.model_validate(f) for f in results)
        ledger.execute(build(ab.AddResults, test="bench", results=parsed))
        return n / (time.perf_counter() - started)


def export_lines(n: int, where: Path) -> list[str]:
    """An exported log of one test with ``n`` results, made in a SQLite file (untimed)."""
    import random

    from trialbook.store.verify import export_line

    rng = random.Random(2)
    with Ledger(where, synchronous="OFF") as ledger:
        ledger.execute(build(ab.CreateTest, name="bench", variants=("cold", "warm")))
        batch = 1000
        for start in range(0, n, batch):
            rs = tuple(
                ab.ResultFields(**sample_result(rng, i=i))
                for i in range(start, min(n, start + batch))
            )
            ledger.execute(build(ab.AddResults, test="bench", results=rs))
        cur = ledger.conn.execute(f"SELECT {COLUMNS} FROM events ORDER BY position")
        return [export_line(r) + "\n" for r in cur]


def import_log(url: str, lines: list[str], *, replica: bool) -> float:
    from trialbook.store.postgres import PostgresEventStore
    from trialbook.store.verify import parse_line

    if replica:
        ledger = Ledger(url)
        started = time.perf_counter()
        ledger.store.import_envelopes(
            (parse_line(t) for t in lines),
            in_transaction=lambda c, h: ledger.projector.ensure(c, h),
        )
        seconds = time.perf_counter() - started
        ledger.close()
    else:
        store = PostgresEventStore(url)
        started = time.perf_counter()
        store.import_envelopes(parse_line(t) for t in lines)
        seconds = time.perf_counter() - started
        store.close()
    return len(lines) / seconds


WRITER = textwrap.dedent(
    """
    import sys, time, random, json
    sys.path.insert(0, sys.argv[3])
    from trialbook.domain import ab
    from trialbook.domain.commands import build
    from trialbook.ledger import Ledger
    from bench.common import sample_result
    url, test = sys.argv[1], sys.argv[2]
    rng = random.Random(test)
    ledger = Ledger(url)
    ledger.conn  # caught up before the clock starts
    print("ready", flush=True)
    start, seconds = map(float, sys.stdin.readline().split())
    while time.time() < start:
        time.sleep(0.001)
    n = 0
    while time.time() < start + seconds:
        fields = sample_result(rng, i=n)
        ledger.execute(build(ab.AddResults, test=test, results=(ab.ResultFields(**fields),)))
        n += 1
    ledger.close()
    print(json.dumps({"n": n}), flush=True)
    """
)


def aggregate(server: str, writers: int, seconds: float, *, shared: bool) -> float:
    """Events per second of ``writers`` processes appending for ``seconds``, all started first."""
    root = str(Path(__file__).resolve().parent.parent)
    with Database(server) as db, tempfile.TemporaryDirectory() as tmp:
        with Ledger(db.url) as ledger:
            for w in range(writers):
                ledger.execute(build(ab.CreateTest, name=f"t{w}", variants=("cold", "warm")))
        procs = []
        for w in range(writers):
            cache = Path(tmp) / ("shared" if shared else f"m{w}")
            env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", WRITER, db.url, f"t{w}", root],
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for p in procs:  # every writer started, imported and caught up
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        start = time.time() + 0.5
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(f"{start} {seconds}\n")
            p.stdin.flush()
        total = 0
        for p in procs:
            out, _ = p.communicate()
            total += json.loads(out)["n"]
        return total / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--single", type=int, default=1000)
    parser.add_argument("--import", dest="n_import", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3, help="medians of this many rounds")
    parser.add_argument(
        "--server",
        default=os.environ.get("TRIALBOOK_TEST_PG", "postgresql://127.0.0.1:5432/postgres"),
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated parts to skip: single,batch,import,aggregate"
    )
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    out: dict[str, Any] = {}
    cache = tempfile.mkdtemp()
    os.environ["XDG_CACHE_HOME"] = cache

    if "single" not in skip:
        fulls, raws = [], []
        for _ in range(args.rounds):  # alternating, each round on a new database
            with Database(args.server) as db:
                fulls.append(full_single(db.url, args.single))
                raws.append(raw_single(db.url, rows_of(db.url)[1:]))
        full, raw = statistics.median(fulls), statistics.median(raws)
        out["single"] = {"trialbook": round(full), "raw": round(raw), "ratio": round(full / raw, 2)}
        print(
            f"single appends (median of {args.rounds}): trialbook {full:,.0f}/s, raw psycopg "
            f"{raw:,.0f}/s, ratio {full / raw:.2f} (rounds: "
            + ", ".join(f"{f / r:.2f}" for f, r in zip(fulls, raws, strict=True))
            + ")"
        )

    if "batch" not in skip:
        with Database(args.server) as db:
            full = full_batch(db.url, args.n_import)
            rows = rows_of(db.url)[1:]
            copy = raw_copy(db.url, rows)
            many = raw_executemany(db.url, rows)
        best = max(copy, many)
        out["batch"] = {
            "results": args.n_import,
            "trialbook": round(full),
            "raw_copy": round(copy),
            "raw_executemany": round(many),
            "ratio": round(full / best, 2),
        }
        print(
            f"batched import (ab import of {args.n_import:,} results): trialbook {full:,.0f}/s; "
            f"raw COPY {copy:,.0f}/s, raw executemany {many:,.0f}/s; ratio {full / best:.2f}"
        )

    if "import" not in skip:
        with tempfile.TemporaryDirectory() as tmp:
            lines = export_lines(args.n_import, Path(tmp) / "source.db")
        parts = {}
        for name, replica in (("log", False), ("replica", True)):
            with Database(args.server) as db:
                parts[name] = import_log(db.url, lines, replica=replica)
                if name == "log":
                    rows = rows_of(db.url)
                    copy = raw_copy(db.url, rows)
                    many = raw_executemany(db.url, rows)
        best = max(copy, many)
        out["import"] = {
            "events": len(lines),
            "log_only": round(parts["log"]),
            "with_replica": round(parts["replica"]),
            "raw_copy": round(copy),
            "raw_executemany": round(many),
            "ratio_log_only": round(parts["log"] / best, 2),
            "ratio_with_replica": round(parts["replica"] / best, 2),
        }
        print(
            f"import of {len(lines):,} events: log only {parts['log']:,.0f}/s, with the replica "
            f"{parts['replica']:,.0f}/s; raw COPY {copy:,.0f}/s, raw executemany {many:,.0f}/s; "
            f"ratios {parts['log'] / best:.2f} / {parts['replica'] / best:.2f} of the faster raw"
        )

    if "aggregate" not in skip:
        out["aggregate"] = {}
        for shared in (True, False):
            label = "shared replica" if shared else "one replica each"
            rates = {}
            for writers in (1, 4, 8):
                rates[writers] = statistics.median(
                    aggregate(args.server, writers, args.seconds, shared=shared)
                    for _ in range(args.rounds)
                )
            out["aggregate"][label] = {str(k): round(v) for k, v in rates.items()}
            print(
                f"aggregate, {label}: "
                + ", ".join(
                    f"{w} writer{'s' if w > 1 else ''} {r:,.0f}/s" for w, r in rates.items()
                )
                + f"; 8 / 1 = {rates[8] / rates[1]:.2f}"
            )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
