"""Eval throughput: trialbook's executor beside a plain aiohttp loop and a hand-written floor.

Every client runs in this process against the same task server, which runs in its own
process (``tests/servers.py``) with a fixed latency, so no client competes with the
server for the GIL. For each scenario (cases × concurrency) it prints, per client, the
median of ``--repeat`` rounds (the clients take turns within each round):

- request span: first request sent → last response received (client side), and that
  span against the ideal (cases × latency / concurrency);
- CPU: this process's CPU time over the requests (and, for trialbook, its writes) per
  request;
- wall: the whole in-process run (target start, rollouts, event batches written,
  target closed), and the full process time of ``python bench/eval_throughput.py
  --child …`` (interpreter start and imports included), as peers are measured;
- recorded latency p50 against the server's true handling time p50 (from ``/_stats``);
- the clients: ``floor`` (HTTP/1.1 by hand on asyncio streams: the least work per
  request Python can do), ``baseline`` (a plain aiohttp loop: one session, ``concurrency``
  workers over one queue), ``trialbook``; with ``--httpx`` also ``httpx`` (a minimal httpx
  loop with its pool sharded as its tracker recommends, trialbook's client until issue #25);
- whether the baseline is sound: its span within 1.3x of the ideal, or, where even the
  floor cannot reach the ideal (the server or the CPU is the bound), within 1.3x of the
  floor; trialbook's span is compared with a sound baseline only;
- how the batching writer grouped the outcomes, and the load average before and after.

Usage::

    .venv/bin/python bench/eval_throughput.py [--latency 0.05] [--repeat 3] [--quick]

Outcomes go to ``write_batch``, which appends each batch as one ``RecordRollouts``
command through the real SQLite ledger in a fresh temporary database (see
:func:`ledger_write_batch`); the suite and ``RunStarted`` are recorded first,
inside the measured wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import httpx  # noqa: E402

from trialbook.domain.evals import RegisterSuite, RunSettings, plan_run  # noqa: E402
from trialbook.domain.suites import Case  # noqa: E402
from trialbook.ledger import Ledger  # noqa: E402
from trialbook.runners.eval_session import record_batch  # noqa: E402
from trialbook.runners.executor import BatchWriter, RolloutOutcome, make_jobs, run_rollouts  # noqa: E402
from trialbook.runners.ledger_recorder import LedgerRecorder  # noqa: E402
from trialbook.runners.targets import make_target  # noqa: E402

SCENARIOS = [(200, 20), (2000, 100), (2000, 200)]
#: connections per httpx pool in the httpx loop (encode/httpx#3215)
POOL_SHARD_SIZE = 8
#: BatchWriter options (for experiments: set from the environment in diag runs)
WRITER_OPTIONS: dict[str, Any] = {}


def make_cases(n: int) -> list[Case]:
    return [
        Case(id=f"case-{i:05d}", input=f"What is {i} plus {i}?", expected=f"{2 * i}")
        for i in range(n)
    ]


def ledger_write_batch(
    recorder: LedgerRecorder, run_id: str
) -> Callable[[list[RolloutOutcome]], None]:
    """The ``write_batch`` the executor's BatchWriter calls with each batch of outcomes.

    LEDGER HOOK (done): blobs first, then one ``RecordRollouts`` command appended
    through the real SQLite ledger (``synchronous=FULL``, projections folded in
    the same transaction) — one append transaction per batch.
    """
    return record_batch(recorder, run_id)


# --------------------------------------------------------------------------- server process


class ServerProcess:
    """``tests/servers.py task`` in a child process."""

    def __init__(self, latency: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "servers.py"), "task", "--latency", str(latency)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"the bench server did not start: {line!r}")
        self.url = line.split(" ", 1)[1]

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_stats", timeout=10).json()  # type: ignore[no-any-return]

    def reset(self) -> None:
        httpx.post(f"{self.url}/_reset", timeout=10)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# --------------------------------------------------------------------------- the two clients


@dataclass
class Result:
    span_s: float
    wall_s: float
    latencies: list[float]
    failed: int
    #: this process's CPU seconds over the requests (trialbook: and the writes)
    cpu_s: float = 0.0
    batches: int = 0
    largest_batch: int = 0
    write_s: float = 0.0


async def run_trialbook(url: str, cases: list[Case], concurrency: int) -> Result:
    t0 = time.perf_counter()
    target = make_target(f"http:{url}/run")
    outcomes: list[RolloutOutcome] = []
    with tempfile.TemporaryDirectory() as tmp, Ledger(Path(tmp) / "bench.db") as ledger:
        recorder = LedgerRecorder(ledger)
        recorder.handle(RegisterSuite(name="bench", cases=tuple(cases)))
        recorder.handle(
            plan_run(
                recorder.suite_state("bench"),
                run_id="bench",
                target=target.describe(),
                trialbook_version="bench",
                settings=RunSettings(concurrency=concurrency, timeout_s=30, retries=3),
            )
        )
        write = ledger_write_batch(recorder, "bench")

        def write_batch(batch: list[RolloutOutcome]) -> None:
            outcomes.extend(batch)
            write(batch)

        cpu = time.process_time()
        async with BatchWriter(write_batch, **WRITER_OPTIONS) as writer:
            report = await run_rollouts(
                make_jobs(cases),
                target,
                run_id="bench",
                on_result=writer,
                concurrency=concurrency,
                timeout=30,
                retries=3,
            )
        cpu = time.process_time() - cpu
        state = recorder.run_state("bench")
        assert state.completed + state.failed == len(cases), (
            state.completed,
            state.failed,
            len(cases),
        )
    wall = time.perf_counter() - t0
    return Result(
        report.span_s,
        wall,
        [o.latency_s for o in outcomes if o.ok and o.latency_s is not None],
        report.failed,
        cpu,
        writer.stats.batches,
        writer.stats.largest_batch,
        writer.stats.write_seconds,
    )


def _payload(case: Case) -> dict[str, Any]:
    return {
        "run_id": "base",
        "case": case.model_dump(mode="json"),
        "epoch": 1,
        "seed": 0,
        "policy": {},
    }


async def run_httpx(url: str, cases: list[Case], concurrency: int) -> Result:
    """The minimal httpx loop, done right: ``concurrency`` workers over one queue, each
    request on a pool of at most POOL_SHARD_SIZE connections.

    One httpx pool of ``concurrency`` connections does O(connections²) work per request
    (encode/httpx#3215): at 100 connections that alone made this baseline take 10.7 s for
    2,000 requests of 5 ms, 100x its ideal, and every ratio against it meaningless. The
    same library in the configuration its issue tracker recommends is the baseline a user
    would write after reading it, and what trialbook's own client does.
    """
    t0 = time.perf_counter()
    latencies: list[float] = []
    marks: list[tuple[float, float]] = []
    shards = max(1, -(-concurrency // POOL_SHARD_SIZE))
    clients = [
        httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=POOL_SHARD_SIZE, max_keepalive_connections=POOL_SHARD_SIZE
            ),
            timeout=30,
        )
        for _ in range(shards)
    ]
    queue: asyncio.Queue[Case] = asyncio.Queue()
    for c in cases:
        queue.put_nowait(c)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            case = queue.get_nowait()
            sent = time.perf_counter()
            r = await client.post(f"{url}/run", json=_payload(case))
            got = time.perf_counter()
            r.json()
            latencies.append(got - sent)
            marks.append((sent, got))

    cpu = time.process_time()
    try:
        await asyncio.gather(*(worker(clients[i % shards]) for i in range(concurrency)))
    finally:
        for client in clients:
            await client.aclose()
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - t0
    span = max(g for _, g in marks) - min(s for s, _ in marks)
    return Result(span, wall, latencies, 0, cpu)


async def run_floor(url: str, cases: list[Case], concurrency: int) -> Result:
    """The floor: ``concurrency`` keep-alive connections speaking HTTP/1.1 by hand on asyncio
    streams (no client library), one request at a time each. Nothing written in Python
    does less per request; where even this misses the ideal span, the server or the CPU
    is the bound, and the ideal is not a fair yardstick there."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    t0 = time.perf_counter()
    latencies: list[float] = []
    marks: list[tuple[float, float]] = []
    queue: asyncio.Queue[Case] = asyncio.Queue()
    for c in cases:
        queue.put_nowait(c)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while not queue.empty():
                body = json.dumps(_payload(queue.get_nowait())).encode()
                head = (
                    f"POST /run HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                sent = time.perf_counter()
                writer.write(head + body)
                await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                data = await reader.readexactly(length)
                got = time.perf_counter()
                json.loads(data)
                latencies.append(got - sent)
                marks.append((sent, got))
        finally:
            writer.close()

    cpu = time.process_time()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - t0
    span = max(g for _, g in marks) - min(s for s, _ in marks)
    return Result(span, wall, latencies, 0, cpu)


async def run_baseline(url: str, cases: list[Case], concurrency: int) -> Result:
    """The baseline, a plain aiohttp loop: ``concurrency`` workers over one queue, one
    ClientSession whose connector allows ``concurrency`` keep-alive connections, each
    request timed around the call. aiohttp with its defaults, as its docs show it."""
    t0 = time.perf_counter()
    latencies: list[float] = []
    marks: list[tuple[float, float]] = []
    queue: asyncio.Queue[Case] = asyncio.Queue()
    for c in cases:
        queue.put_nowait(c)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:

        async def worker() -> None:
            while not queue.empty():
                case = queue.get_nowait()
                sent = time.perf_counter()
                async with session.post(f"{url}/run", json=_payload(case)) as r:
                    data = await r.read()
                got = time.perf_counter()
                json.loads(data)
                latencies.append(got - sent)
                marks.append((sent, got))

        cpu = time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu = time.process_time() - cpu
    wall = time.perf_counter() - t0
    span = max(g for _, g in marks) - min(s for s, _ in marks)
    return Result(span, wall, latencies, 0, cpu)


RUNNERS = {
    "floor": run_floor,
    "baseline": run_baseline,
    "httpx": run_httpx,
    "trialbook": run_trialbook,
}


def child(kind: str, url: str, n: int, concurrency: int) -> None:
    """Run one client in this (fresh) process and print its result as JSON."""
    fn = RUNNERS[kind]
    r = asyncio.run(fn(url, make_cases(n), concurrency))
    print(json.dumps({"span_s": r.span_s, "wall_s": r.wall_s}))


def process_time(kind: str, url: str, n: int, concurrency: int) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--child", kind, url, str(n), str(concurrency)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds per scenario; the median is shown"
    )
    parser.add_argument("--quick", action="store_true", help="only the first scenario, one round")
    parser.add_argument("--httpx", action="store_true", help="also the httpx loop (slow)")
    parser.add_argument("--no-proc", action="store_true", help="skip the whole-process times")
    parser.add_argument(
        "--child", nargs=4, metavar=("KIND", "URL", "N", "K"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        kind, url, n, k = args.child
        child(kind, url, int(n), int(k))
        return
    scenarios = SCENARIOS[:1] if args.quick else SCENARIOS
    repeat = 1 if args.quick else args.repeat
    kinds = ("floor", "baseline", *(("httpx",) if args.httpx else ()), "trialbook")
    server = ServerProcess(args.latency)
    print(
        f"python {sys.version.split()[0]} · {os.cpu_count()} cpu · server latency "
        f"{args.latency * 1000:.0f} ms (separate process) · median of {repeat} rounds"
    )
    try:
        for n, k in scenarios:
            ideal = n / k * args.latency
            load_before = os.getloadavg()[0]
            rows: dict[str, list[tuple[Result, float]]] = {kind: [] for kind in kinds}
            for _ in range(repeat):
                for kind in kinds:  # the clients take turns within each round
                    server.reset()
                    r = asyncio.run(RUNNERS[kind](server.url, make_cases(n), k))
                    true_p50 = statistics.median(server.stats()["durations"])
                    rows[kind].append((r, true_p50))
            load_after = os.getloadavg()[0]
            print(
                f"\n{n} cases at concurrency {k}  (ideal span {ideal:.3f} s; load average "
                f"{load_before:.2f} before, {load_after:.2f} after)"
            )
            print(
                f"  {'client':<10} {'span s':>7} {'×ideal':>7} {'×base':>6} {'cpu µs':>7} "
                f"{'wall s':>7} {'proc s':>7} {'p50 ms':>7} {'true ms':>8} {'×true':>6} "
                f"{'p95 ms':>7}  batches"
            )
            med = statistics.median
            spans = {kind: med(r.span_s for r, _ in rows[kind]) for kind in kinds}
            p50s = {kind: med(pct(r.latencies, 0.5) for r, _ in rows[kind]) for kind in kinds}
            trues = {kind: med(t for _, t in rows[kind]) for kind in kinds}
            base_span = spans["baseline"]
            for kind in kinds:
                results = rows[kind]
                span = spans[kind]
                wall = med(r.wall_s for r, _ in results)
                cpu = med(r.cpu_s for r, _ in results) / n * 1e6
                p95 = med(pct(r.latencies, 0.95) for r, _ in results)
                proc = float("nan") if args.no_proc else process_time(kind, server.url, n, k)
                last = results[-1][0]
                batches = (
                    f"{last.batches} (max {last.largest_batch}, {last.write_s * 1000:.0f} ms)"
                    if last.batches
                    else "-"
                )
                print(
                    f"  {kind:<10} {span:7.3f} {span / ideal:7.2f} {span / base_span:6.2f} "
                    f"{cpu:7.0f} {wall:7.3f} {proc:7.2f} {p50s[kind] * 1000:7.1f} "
                    f"{trues[kind] * 1000:8.1f} {p50s[kind] / trues[kind]:6.2f} "
                    f"{p95 * 1000:7.1f}  {batches}"
                )
            # is the baseline sound? near the ideal span, or (where the machine cannot reach the
            # ideal: even the hand-written floor misses it) near the floor
            bound = max(ideal, spans["floor"])
            sound = base_span <= 1.3 * bound
            print(
                f"  baseline {'sound' if sound else 'NOT SOUND'}: span {base_span / ideal:.2f}x "
                f"the ideal, {base_span / spans['floor']:.2f}x the floor (needs <= 1.3x of "
                + (
                    "the ideal)"
                    if bound == ideal
                    else f"the floor, which is {spans['floor'] / ideal:.2f}x the ideal)"
                )
            )
            ratio = spans["trialbook"] / base_span
            verdict = ("met" if ratio <= 1.25 else "NOT met") if sound else "not checked"
            print(
                f"  trialbook: span {ratio:.2f}x the baseline (goal <= 1.25: {verdict}), "
                f"{spans['trialbook'] / spans['floor']:.2f}x the floor"
            )
            lat = p50s["trialbook"] / trues["trialbook"]
            print(
                f"  trialbook: recorded p50 {lat:.2f}x the server's (goal <= 1.10: "
                f"{'met' if abs(lat - 1) <= 0.10 else 'NOT met'}); the floor records "
                f"{p50s['floor'] / trues['floor']:.2f}x and the baseline "
                f"{p50s['baseline'] / trues['baseline']:.2f}x, timed around the call"
            )
    finally:
        server.close()


if __name__ == "__main__":
    main()
