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
   separate machines); beside raw psycopg writer processes inserting one row
   per transaction with the same append lock (the advisory lock, read and
   move a head row, INSERT, COMMIT: the floor of this design) and without it
   (positions from a sequence), rounds alternating. With one writer it prints
   how long an append holds the lock out of its whole time: writers serialised
   on the lock can reach at most (append time / lock time) × one writer.
   The import part also prints what parsing each line alone costs (the floor
   of an exact import in Python) beside raw COPY.

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


def parse_floor(lines: list[str]) -> dict[str, float]:
    """Lines per second of the least an exact import must do per line in Python, no insert.

    ``parse_line`` (what ``events import`` does): ``json.loads`` and the
    canonical text of data and metadata again; ``loads + one dumps``: the
    cheapest exact check with the standard library (a line is canonical iff
    ``canonical_json`` of what it parses to is the line); the same with the
    C encoder built once (``_prebuilt_canonical_encoder``); ``loads``: parsing
    alone, which no check can skip (the fields must be read).
    """
    from trialbook.domain.canonical import canonical_json
    from trialbook.store.verify import parse_line

    texts = [t.rstrip("\n") for t in lines]

    fast = _prebuilt_canonical_encoder()
    assert all(fast(json.loads(t)) == canonical_json(json.loads(t)) == t for t in texts[:1000])
    fns = {
        "parse_line": lambda ts: [parse_line(t) for t in ts],
        "loads + one dumps": lambda ts: [canonical_json(json.loads(t)) == t for t in ts],
        "loads + one dumps, prebuilt encoder": lambda ts: [fast(json.loads(t)) == t for t in ts],
        "loads": lambda ts: [
            type(json.loads(t)) for t in ts
        ],  # kept alive, the dicts would cost GC
    }
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(5):  # rounds alternate (the machine is shared); the best of each
        for name, fn in fns.items():
            best[name] = min(best[name], _seconds(fn, texts))
    return {name: len(texts) / s for name, s in best.items()}


def _prebuilt_canonical_encoder() -> Any:
    """``canonical_json`` with its C encoder made once: the same text without building a
    ``JSONEncoder`` per call (which is most of ``json.dumps``'s time for small values)."""
    from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]

    def refuse(value: Any) -> Any:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    encode = c_make_encoder(None, refuse, encode_basestring, None, ":", ",", True, False, False)
    return lambda value: "".join(encode(value, 0))


def _seconds(fn: Any, arg: Any) -> float:
    started = time.perf_counter()
    fn(arg)
    return time.perf_counter() - started


WRITER = textwrap.dedent(
    """
    import os, sys, time, random, json
    sys.path.insert(0, sys.argv[3])
    from trialbook.domain import ab
    from trialbook.domain.commands import build
    from trialbook.ledger import Ledger
    from bench.common import sample_result
    url, test = sys.argv[1], sys.argv[2]
    rng = random.Random(test)
    ledger = Ledger(url)
    ledger.conn  # caught up before the clock starts
    # one command built and validated before the clock too: the first builds pydantic's
    # validators and loads its plugins' entry points (~50 ms of CPU once per process, which
    # would count as ~1 ms an append in a 4-second round of 8 writers)
    build(ab.AddResults, test=test, results=(ab.ResultFields(**sample_result(rng, i=-1)),))
    print("ready", flush=True)
    start, seconds = map(float, sys.stdin.readline().split())
    while time.time() < start:
        time.sleep(0.001)
    remote, held, since, commits = ledger.store.remote, [0.0], [0.0], [0]
    begin, end, taken = remote._begin, remote._end, getattr(remote, "_append_taken", None)
    def timed_begin():
        since[0] = time.perf_counter()  # BEGIN + the append lock: held from here ...
        begin()
    def timed_end(commit):
        try:
            end(commit)
        finally:  # ... to the end of COMMIT (PostgreSQL releases it once the commit is flushed)
            held[0] += time.perf_counter() - since[0]
            commits[0] += taken is not None and not remote.combining
    def counted_taken(*args, **kw):  # a holder's commit of its own and the handed-over batches
        commits[0] += 1
        return taken(*args, **kw)
    remote._begin, remote._end = timed_begin, timed_end
    if taken is not None:  # a checkout before the server chained (it counts its commits itself)
        remote._append_taken = counted_taken
    commits0 = getattr(remote, "commits", 0)
    profile = sys.argv[4] if len(sys.argv) > 4 else ""
    if profile:
        import cProfile
        # wall-clock time (waits show in the calls that wait), or CPU time ($BENCH_PROFILE_CPU=1)
        profiler = cProfile.Profile(time.process_time) if os.environ.get("BENCH_PROFILE_CPU") == "1" else cProfile.Profile()
        profiler.enable()
    def server_cpu():  # the writer's PostgreSQL backend (a local server), in seconds
        try:
            with open(f"/proc/{remote.conn.info.backend_pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            return 0.0
    import os
    cpu0, server0 = time.process_time(), server_cpu()
    n = 0
    while time.time() < start + seconds:
        fields = sample_result(rng, i=n)
        ledger.execute(build(ab.AddResults, test=test, results=(ab.ResultFields(**fields),)))
        n += 1
    cpu, server = time.process_time() - cpu0, server_cpu() - server0
    if taken is None:
        commits[0] = remote.commits - commits0
    if profile:
        profiler.disable()
        profiler.dump_stats(profile)
    ledger.close()
    print(json.dumps({"n": n, "held": held[0], "commits": commits[0], "cpu": cpu,
                      "server_cpu": server}), flush=True)
    """
)

#: a raw psycopg writer with trialbook's locking: the advisory lock and the head, one row, COMMIT
RAW_WRITER = textwrap.dedent(
    """
    import sys, time, json, secrets
    import psycopg
    url, stream, locked = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    conn = psycopg.connect(url, autocommit=True)
    print("ready", flush=True)
    start, seconds = map(float, sys.stdin.readline().split())
    while time.time() < start:
        time.sleep(0.001)
    n = held = 0
    data = json.dumps({"variant": "warm", "success": True, "tokens": 1234, "cost": 0.01})
    while time.time() < start + seconds:
        t = time.perf_counter()
        with conn.transaction():
            if locked:
                conn.execute("SELECT pg_advisory_xact_lock(1)")
                head = conn.execute("SELECT position FROM raw_head").fetchone()[0] + 1
                conn.execute("UPDATE raw_head SET position = %s", (head,))
            else:
                head = conn.execute("SELECT nextval('raw_seq')").fetchone()[0]
            conn.execute(
                "INSERT INTO raw_events VALUES (%s, %s, %s, %s, 'ResultAdded', 1, %s, '{}', "
                "'2026-12-03T00:00:00.000000Z', %s, %s)",
                (head, secrets.token_hex(16), stream, n + 1, data, "0" * 64, secrets.token_hex(32)),
            )
        held += time.perf_counter() - t
        n += 1
    print(json.dumps({"n": n, "held": held if locked else 0.0}), flush=True)
    """
)


def run_writers(
    commands: list[tuple[list[str], dict[str, str]]], seconds: float
) -> list[dict[str, Any]]:
    """Start every writer, wait until each is ready, start them together; their reports."""
    procs = [
        subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for argv, env in commands
    ]
    for p in procs:  # every writer started, imported and caught up
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    start = time.time() + 0.5
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(f"{start} {seconds}\n")
        p.stdin.flush()
    return [json.loads(p.communicate()[0]) for p in procs]


def raw_aggregate(server: str, writers: int, seconds: float, *, locked: bool) -> dict[str, float]:
    """Raw psycopg writer processes (one row per transaction), with or without the append lock."""
    with Database(server) as db:
        with psycopg.connect(db.url, autocommit=True) as c:
            c.execute(RAW_DDL)
            c.execute(
                "CREATE TABLE raw_head (position bigint NOT NULL); INSERT INTO raw_head VALUES (0)"
            )
            c.execute("CREATE SEQUENCE raw_seq")
        reports = run_writers(
            [
                (
                    [sys.executable, "-c", RAW_WRITER, db.url, f"s{w}", "1" if locked else "0"],
                    dict(os.environ),
                )
                for w in range(writers)
            ],
            seconds,
        )
    n = sum(r["n"] for r in reports)
    return {"rate": n / seconds, "held_ms": 1000 * sum(r["held"] for r in reports) / max(n, 1)}


#: every writer of the aggregate part appends to one test's stream (``--hot``)
HOT = False


def aggregate(
    server: str,
    writers: int,
    seconds: float,
    *,
    shared: bool,
    combine: bool = False,
    profile: str = "",
    base: str = "",
) -> dict[str, float]:
    """Events per second of ``writers`` processes appending for ``seconds``, all started first,
    and the mean time an append held the append lock (ms). ``base``: the writers run the
    checkout of this virtual environment (``DIR/.venv``) instead of this one."""
    root = base or str(Path(__file__).resolve().parent.parent)
    python = str(Path(base, ".venv", "bin", "python")) if base else sys.executable
    with Database(server) as db, tempfile.TemporaryDirectory() as tmp:
        with Ledger(db.url) as ledger:
            for w in range(writers):
                ledger.execute(build(ab.CreateTest, name=f"t{w}", variants=("cold", "warm")))
        reports = run_writers(
            [
                (
                    [
                        python,
                        "-c",
                        WRITER,
                        db.url,
                        "t0" if HOT else f"t{w}",
                        root,
                        *([f"{profile}/{writers}w-{w}.prof"] if profile else []),
                    ],
                    {
                        **os.environ,
                        "XDG_CACHE_HOME": str(Path(tmp) / ("shared" if shared else f"m{w}")),
                        "TRIALBOOK_PG_COMBINE": "1" if combine else "0",
                    },
                )
                for w in range(writers)
            ],
            seconds,
        )
    n = sum(r["n"] for r in reports)
    commits = sum(r["commits"] for r in reports)
    return {
        "rate": n / seconds,
        "held_ms": 0.0 if combine else 1000 * sum(r["held"] for r in reports) / max(n, 1),
        "per_commit": n / max(commits, 1),
        # CPU an append costs: the writers' processes, and their server backends
        "cpu_ms": 1000 * sum(r["cpu"] for r in reports) / max(n, 1),
        "server_cpu_ms": 1000 * sum(r["server_cpu"] for r in reports) / max(n, 1),
    }


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
    parser.add_argument(
        "--writers", default="1,4,8", help="writer counts of the aggregate part (1 and 8 needed)"
    )
    parser.add_argument(
        "--kinds",
        default="lock,hand,hand-own,raw-lock,raw",
        help="the aggregate part's writers: lock, hand (handing over, shared replica), hand-own "
        "(handing over, one replica each), raw-lock, raw",
    )
    parser.add_argument(
        "--hot",
        action="store_true",
        help="the aggregate part's trialbook writers all append to one test (one stream)",
    )
    parser.add_argument(
        "--base",
        default="",
        help="another checkout with its .venv (e.g. a git worktree of the commit before a "
        "change): adds kinds lock-base and hand-base, its writers in the same rounds",
    )
    parser.add_argument(
        "--profile",
        default="",
        help="a directory: each trialbook writer of the aggregate part dumps a cProfile there",
    )
    args = parser.parse_args()
    global HOT
    HOT = args.hot
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
        floor = parse_floor(lines)
        out["import_floor"] = {k: round(v) for k, v in floor.items()}
        for what, r in floor.items():
            # even with nothing else to do, parsing then COPY one after the other caps the ratio
            print(
                f"  {what} alone: {r:,.0f} lines/s ({1e6 / r:.1f} us a line, raw COPY "
                f"{1e6 / copy:.1f} us a row): an import doing only this and COPY reaches at most "
                f"{1 / (1 + copy / r):.2f} of raw COPY"
            )
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
        # rounds alternate: trialbook (shared replica, one replica each), raw psycopg with the
        # same append lock, raw psycopg with a sequence (no lock); medians per writer count
        counts = [int(w) for w in args.writers.split(",")]
        chosen = set(args.kinds.split(",")) | ({"lock-base", "hand-base"} if args.base else set())

        def profiled(kind: str) -> str:
            if not args.profile:
                return ""
            Path(args.profile, kind).mkdir(parents=True, exist_ok=True)
            return str(Path(args.profile, kind))

        every = {
            "lock": (
                "shared replica, lock",
                lambda w: aggregate(
                    args.server, w, args.seconds, shared=True, profile=profiled("lock")
                ),
            ),
            "hand": (
                "shared replica, handing over",
                lambda w: aggregate(
                    args.server,
                    w,
                    args.seconds,
                    shared=True,
                    combine=True,
                    profile=profiled("hand"),
                ),
            ),
            "hand-own": (
                "one replica each, handing over",
                lambda w: aggregate(
                    args.server,
                    w,
                    args.seconds,
                    shared=False,
                    combine=True,
                    profile=profiled("hand-own"),
                ),
            ),
            "lock-base": (
                "shared replica, lock (base checkout)",
                lambda w: aggregate(args.server, w, args.seconds, shared=True, base=args.base),
            ),
            "hand-base": (
                "shared replica, handing over (base checkout)",
                lambda w: aggregate(
                    args.server, w, args.seconds, shared=True, combine=True, base=args.base
                ),
            ),
            "raw-lock": (
                "raw psycopg, same lock",
                lambda w: raw_aggregate(args.server, w, args.seconds, locked=True),
            ),
            "raw": (
                "raw psycopg, no lock",
                lambda w: raw_aggregate(args.server, w, args.seconds, locked=False),
            ),
        }
        kinds = {label: fn for key, (label, fn) in every.items() if key in chosen}
        got: dict[str, dict[int, list[dict[str, float]]]] = {
            k: {w: [] for w in counts} for k in kinds
        }
        for _ in range(args.rounds):
            for writers in counts:
                for label, measure in kinds.items():
                    got[label][writers].append(measure(writers))
        out["aggregate"] = {}
        out["load_average"] = os.getloadavg()
        for label, by_writers in got.items():
            rates = {w: statistics.median(r["rate"] for r in rs) for w, rs in by_writers.items()}
            held = {w: statistics.median(r["held_ms"] for r in rs) for w, rs in by_writers.items()}
            out["aggregate"][label] = {
                "rate": {str(k): round(v) for k, v in rates.items()},
                # from asking for the append lock to the end of COMMIT, a mean per append
                # (with one writer: the time the lock is held; with more, the wait too)
                "begin_to_commit_ms": {str(k): round(v, 3) for k, v in held.items()},
                "events_per_commit": {
                    str(w): round(statistics.median(r.get("per_commit", 1.0) for r in rs), 2)
                    for w, rs in by_writers.items()
                },
                "rounds_8_over_1": [
                    round(e["rate"] / o["rate"], 2)
                    for o, e in zip(by_writers[1], by_writers[8], strict=True)
                ],
                "rounds_rate": {
                    str(w): [round(r["rate"]) for r in rs] for w, rs in by_writers.items()
                },
                "cpu_ms_client_server": {
                    str(w): [
                        round(statistics.median(r.get("cpu_ms", 0.0) for r in rs), 2),
                        round(statistics.median(r.get("server_cpu_ms", 0.0) for r in rs), 2),
                    ]
                    for w, rs in by_writers.items()
                },
            }
            print(
                f"aggregate, {label}: "
                + ", ".join(
                    f"{w} writer{'s' if w > 1 else ''} {r:,.0f}/s" for w, r in rates.items()
                )
                + f"; 8 / 1 = {rates[8] / rates[1]:.2f} (rounds "
                + ", ".join(f"{x:.2f}" for x in out["aggregate"][label]["rounds_8_over_1"])
                + ")"
                + "; CPU an append (client + server, ms) "
                + " / ".join(
                    f"{c:.2f}+{v:.2f}"
                    for c, v in out["aggregate"][label]["cpu_ms_client_server"].values()
                )
                + (
                    "; events a commit "
                    + " / ".join(
                        f"{v}" for v in out["aggregate"][label]["events_per_commit"].values()
                    )
                    if "handing" in label
                    else ""
                )
                + (
                    f"; one writer: {1000 / rates[1]:.2f} ms an append, the lock held "
                    f"{held[1]:.2f} ms of it (so at most {1000 / held[1]:,.0f}/s serialised, "
                    f"{(1000 / held[1]) / rates[1]:.2f}x one writer)"
                    if held[1]
                    else ""
                )
            )
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
