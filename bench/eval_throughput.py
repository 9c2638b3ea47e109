"""Eval throughput: trialbook's executor beside plain client loops, against a 5 ms task server.

The task server runs in its own process with a fixed latency: ``bench/task_server.c``
(compiled here with the machine's ``cc``; one epoll thread, a few µs of CPU per request),
or with ``--server python`` the asyncio test server ``tests/servers.py`` (which at 5 ms and
200 in flight costs more CPU per request than the clients and, on 2 cores, set the span
itself: issue #25). Every client runs in this process. For each scenario (cases ×
concurrency) it prints, per client, the median of ``--repeat`` rounds (the clients take
turns within each round):

- request span: first request sent → last response received (client side), against the
  ideal (cases × latency / concurrency), the baseline and the raw client;
- CPU per request: this process's (trialbook: with its writes) and the server's;
- wall: the whole in-process run (target start, rollouts, event batches written, target
  closed); with ``--proc`` also the full ``python bench/eval_throughput.py --child …``;
- recorded latency p50 against the server's true handling time p50 (from ``/_stats``);
- the clients: ``raw`` (bare asyncio Protocols, connections opened before the clock: the
  least work per request written here, so where it misses the ideal the CPU is the bound),
  ``floor`` (HTTP/1.1 by hand on asyncio streams), ``baseline`` (a plain aiohttp loop,
  tuned: no timeouts, no decompression, bytes bodies), ``trialbook``; with ``--httpx``
  also ``httpx`` (trialbook's client until issue #25);
- whether the baseline is sound (its span within 1.3x of the ideal); where the aiohttp
  baseline is not and the raw client is, the raw client is the sound baseline; trialbook's
  span is checked against a sound baseline only;
- how the batching writer grouped the outcomes, and the load average before and after.

Usage::

    .venv/bin/python bench/eval_throughput.py [--latency 0.005] [--repeat 3] [--quick]
        [--scenario 2000x200] [--server c|python]

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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
from trialbook.runners.http_client import WireResponse  # noqa: E402
from trialbook.runners.ledger_recorder import LedgerRecorder  # noqa: E402
from trialbook.runners.targets import Target, make_target  # noqa: E402
from trialbook.runners.targets.http import HttpTarget  # noqa: E402

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
    """The task server in a child process: ``bench/task_server.c`` (compiled here with the
    machine's ``cc``: one epoll thread, next to no CPU per request), or with ``kind="python"``
    (or no compiler) ``tests/servers.py task``, the asyncio test server, which at 5 ms and
    200 in flight spends more CPU per request than the clients it serves (issue #25)."""

    def __init__(self, latency: float, kind: str = "c") -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        command = [sys.executable, str(ROOT / "tests" / "servers.py"), "task", "--latency"]
        self.kind = "python"
        if kind == "c":
            self._tmp = tempfile.TemporaryDirectory()
            binary = Path(self._tmp.name) / "task_server"
            built = (
                subprocess.run(
                    ["cc", "-O2", "-o", str(binary), str(ROOT / "bench" / "task_server.c")],
                    capture_output=True,
                    text=True,
                )
                if shutil.which("cc")
                else None
            )
            if built is not None and built.returncode == 0:
                command, self.kind = [str(binary)], "c"
            else:
                print("(no C compiler or the build failed: the asyncio test server instead)")
        self.proc = subprocess.Popen([*command, str(latency)], stdout=subprocess.PIPE, text=True)
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

    def cpu_s(self) -> float:
        """The server process's CPU seconds so far (user + system, from /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._tmp is not None:
            self._tmp.cleanup()


# --------------------------------------------------------------------------- the clients


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
    marks: list[tuple[float, float]] = field(default_factory=list)


async def run_trialbook(
    url: str,
    cases: list[Case],
    concurrency: int,
    *,
    record: bool = True,
    target: Target | None = None,
) -> Result:
    """trialbook's executor, its ``http`` target and its batching writer into the SQLite
    ledger; ``record=False`` (diagnosis) hands the batches to a no-op instead, ``target``
    replaces the http target (diagnosis: :class:`RawHttpTarget`)."""
    t0 = time.perf_counter()
    if target is None:
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
            if record:
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
        assert not record or state.completed + state.failed == len(cases), (
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


class _RawConnection(asyncio.Protocol):
    """One keep-alive connection of :func:`run_raw`: send a request, read its response by
    Content-Length, send the next, with no streams, tasks or futures per request."""

    def __init__(
        self,
        host: str,
        queue: list[Case],
        result: Result,
        done: asyncio.Future[None],
        *,
        start: bool = True,
    ):
        self.start = start
        self.head = (
            f"POST /run HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Content-Length: "
        ).encode()
        self.queue = queue
        self.result = result
        self.done = done
        self.buffer = b""
        self.sent = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        if self.start:
            self.next()

    def next(self) -> None:
        if not self.queue:
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)
            return
        body = json.dumps(_payload(self.queue.pop())).encode()
        self.sent = time.perf_counter()
        self.transport.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        at = self.buffer.find(b"Content-Length: ", 0, end)
        length = int(self.buffer[at + 16 : self.buffer.index(b"\r\n", at)])
        if len(self.buffer) < end + 4 + length:
            return
        got = time.perf_counter()
        json.loads(self.buffer[end + 4 : end + 4 + length])
        self.buffer = self.buffer[end + 4 + length :]
        self.result.latencies.append(got - self.sent)
        self.result.marks.append((self.sent, got))
        self.next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def run_raw(
    url: str, cases: list[Case], concurrency: int, *, connect_first: bool = False
) -> Result:
    """The cheapest client written here: ``concurrency`` keep-alive connections as bare
    asyncio Protocols (HTTP/1.1 by hand, the JSON encoded and decoded as every client
    does), each sending its next request from the callback that read the last response.

    The connections are opened concurrently, each sending its first request once it is
    open, so opening them counts as it does for every other client (they all connect on
    their first requests); with ``connect_first`` (``raw-pre``) they are all open before
    the clock starts, so the span is the request path alone: where even that misses the
    ideal, the CPU is the bound."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    queue = list(reversed(cases))
    result = Result(0.0, 0.0, [], 0)
    dones: list[asyncio.Future[None]] = [loop.create_future() for _ in range(concurrency)]

    def factory(done: asyncio.Future[None]) -> Callable[[], _RawConnection]:
        return lambda: _RawConnection(host, queue, result, done, start=not connect_first)

    cpu = time.process_time()
    connections = await asyncio.gather(
        *(loop.create_connection(factory(d), host, int(port)) for d in dones)
    )
    if connect_first:
        cpu = time.process_time()
        for _, protocol in connections:
            protocol.next()
    await asyncio.gather(*dones)
    result.cpu_s = time.process_time() - cpu
    result.wall_s = time.perf_counter() - t0
    result.span_s = max(g for _, g in result.marks) - min(s for s, _ in result.marks)
    return result


async def run_raw_pre(url: str, cases: list[Case], concurrency: int) -> Result:
    """:func:`run_raw` with its connections opened before the clock starts."""
    return await run_raw(url, cases, concurrency, connect_first=True)


async def run_baseline(url: str, cases: list[Case], concurrency: int) -> Result:
    """The baseline, a plain aiohttp loop: ``concurrency`` workers over one queue, one
    ClientSession whose connector allows ``concurrency`` keep-alive connections, each
    request timed around the call. Tuned as far as aiohttp goes: no timeouts (no timer
    per request), no decompression, the body encoded once and sent as bytes, no
    ``User-Agent``, no per-host limit (~10 % less CPU per request than its defaults)."""
    t0 = time.perf_counter()
    latencies: list[float] = []
    marks: list[tuple[float, float]] = []
    queue = list(reversed(cases))
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(),
        auto_decompress=False,
        skip_auto_headers=("User-Agent",),
    ) as session:
        target = f"{url}/run"

        async def worker() -> None:
            while queue:
                body = json.dumps(_payload(queue.pop())).encode()
                sent = time.perf_counter()
                async with session.post(target, data=body, headers=headers) as r:
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


class _RawPooled(asyncio.Protocol):
    """One keep-alive connection of :class:`RawHttpTarget`: one request at a time."""

    def __init__(self) -> None:
        self.buffer = b""
        self.waiter: asyncio.Future[WireResponse] | None = None
        self.sent = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        at = self.buffer.find(b"Content-Length: ", 0, end)
        length = int(self.buffer[at + 16 : self.buffer.index(b"\r\n", at)])
        if len(self.buffer) < end + 4 + length or self.waiter is None:
            return
        status = int(self.buffer[9:12])
        content = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        waiter, self.waiter = self.waiter, None
        waiter.set_result(WireResponse(status, {}, content, time.perf_counter() - self.sent))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))


class RawHttpTarget(HttpTarget):
    """Diagnosis only (``--split``): trialbook's http target with its HTTP layer
    (``runners/http_wire.py`` and the kernel's stamps; aiohttp until issue #25) replaced by
    the raw client's, to show how much of trialbook's cost is the HTTP client and how much
    the executor and the recording."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        self._address = (host, int(port))
        self._head = (
            f"POST /{url.split('//', 1)[1].split('/', 1)[1]} HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        self._free: list[_RawPooled] = []
        self._all: list[_RawPooled] = []

    async def start(self, *, concurrency: int = 10, timeout: float = 60.0) -> None:
        return None

    async def aclose(self) -> None:
        for c in self._all:
            c.transport.close()

    async def _post(self, url: str, payload: dict[str, Any]) -> WireResponse:
        loop = asyncio.get_running_loop()
        if self._free:
            conn = self._free.pop()
        else:
            _, conn = await loop.create_connection(_RawPooled, *self._address)
            self._all.append(conn)
        body = json.dumps(payload, ensure_ascii=False).encode()
        conn.waiter = loop.create_future()
        conn.sent = time.perf_counter()
        conn.transport.write(self._head + str(len(body)).encode() + b"\r\n\r\n" + body)
        try:
            return await conn.waiter
        finally:
            self._free.append(conn)


async def run_tb_norec(url: str, cases: list[Case], concurrency: int) -> Result:
    """Diagnosis (``--split``): trialbook without the recording (batches to a no-op)."""
    return await run_trialbook(url, cases, concurrency, record=False)


async def run_tb_rawhttp(url: str, cases: list[Case], concurrency: int) -> Result:
    """Diagnosis (``--split``): trialbook, recording included, over the raw HTTP layer."""
    return await run_trialbook(url, cases, concurrency, target=RawHttpTarget(f"{url}/run"))


RUNNERS = {
    "raw-pre": run_raw_pre,
    "raw": run_raw,
    "floor": run_floor,
    "baseline": run_baseline,
    "httpx": run_httpx,
    "trialbook": run_trialbook,
    "tb-norec": run_tb_norec,
    "tb-rawhttp": run_tb_rawhttp,
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
    parser.add_argument("--latency", type=float, default=0.005)
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds per scenario; the median is shown"
    )
    parser.add_argument("--quick", action="store_true", help="only the first scenario, one round")
    parser.add_argument("--httpx", action="store_true", help="also the httpx loop (slow)")
    parser.add_argument("--proc", action="store_true", help="also the whole-process times")
    parser.add_argument(
        "--split",
        action="store_true",
        help="also trialbook without recording (tb-norec) and over the raw HTTP layer "
        "(tb-rawhttp): where its time goes",
    )
    parser.add_argument(
        "--server",
        choices=("c", "python"),
        default="c",
        help="the task server: bench/task_server.c (default) or the asyncio test server",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        metavar="CASESxCONCURRENCY",
        help="e.g. 2000x200 (repeatable; default: "
        + ", ".join(f"{n}x{k}" for n, k in SCENARIOS)
        + ")",
    )
    parser.add_argument(
        "--child", nargs=4, metavar=("KIND", "URL", "N", "K"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        kind, url, n, k = args.child
        child(kind, url, int(n), int(k))
        return
    scenarios = SCENARIOS[:1] if args.quick else SCENARIOS
    if args.scenario:
        scenarios = [(int(a), int(b)) for a, b in (x.split("x") for x in args.scenario)]
    repeat = 1 if args.quick else args.repeat
    kinds = (
        "raw-pre",
        "raw",
        "floor",
        "baseline",
        *(("httpx",) if args.httpx else ()),
        "trialbook",
        *(("tb-norec", "tb-rawhttp") if args.split else ()),
    )
    server = ServerProcess(args.latency, args.server)
    print(
        f"python {sys.version.split()[0]} · {os.cpu_count()} cpu · {server.kind} task server, "
        f"latency {args.latency * 1000:g} ms (separate process) · median of {repeat} "
        "alternating rounds"
    )
    try:
        for n, k in scenarios:
            report_scenario(server, kinds, n, k, args.latency, repeat, args.proc)
    finally:
        server.close()


def report_scenario(
    server: ServerProcess,
    kinds: tuple[str, ...],
    n: int,
    k: int,
    latency: float,
    repeat: int,
    proc: bool,
) -> None:
    ideal = n / k * latency
    load_before = os.getloadavg()[0]
    #: per client and round: the result, the server's true p50 and its CPU seconds
    rows: dict[str, list[tuple[Result, float, float]]] = {kind: [] for kind in kinds}
    for _ in range(repeat):
        for kind in kinds:  # the clients take turns within each round
            server.reset()
            server_cpu = server.cpu_s()
            r = asyncio.run(RUNNERS[kind](server.url, make_cases(n), k))
            server_cpu = server.cpu_s() - server_cpu
            true_p50 = statistics.median(server.stats()["durations"])
            rows[kind].append((r, true_p50, server_cpu))
    load_after = os.getloadavg()[0]
    print(
        f"\n{n} cases at concurrency {k}  (ideal span {ideal * 1000:.0f} ms = {n} × "
        f"{latency * 1000:g} ms / {k}; load average {load_before:.2f} before, "
        f"{load_after:.2f} after)"
    )
    print(
        f"  {'client':<10} {'span ms':>8} {'×ideal':>7} {'×base':>6} {'×raw':>5} {'cpu µs':>7} "
        f"{'srv µs':>6} {'wall s':>7} {'proc s':>7} {'p50 ms':>7} {'true ms':>8} {'×true':>6} "
        f"{'p95 ms':>7}  batches"
    )
    med = statistics.median
    spans = {kind: med(r.span_s for r, _, _ in rows[kind]) for kind in kinds}
    p50s = {kind: med(pct(r.latencies, 0.5) for r, _, _ in rows[kind]) for kind in kinds}
    trues = {kind: med(t for _, t, _ in rows[kind]) for kind in kinds}
    cpus = {kind: med(r.cpu_s for r, _, _ in rows[kind]) / n * 1e6 for kind in kinds}
    base_span = spans["baseline"]
    for kind in kinds:
        results = rows[kind]
        span = spans[kind]
        wall = med(r.wall_s for r, _, _ in results)
        server_cpu = med(c for _, _, c in results) / n * 1e6
        p95 = med(pct(r.latencies, 0.95) for r, _, _ in results)
        whole = process_time(kind, server.url, n, k) if proc else float("nan")
        last = results[-1][0]
        batches = (
            f"{last.batches} (max {last.largest_batch}, {last.write_s * 1000:.0f} ms)"
            if last.batches
            else "-"
        )
        print(
            f"  {kind:<10} {span * 1000:8.1f} {span / ideal:7.2f} {span / base_span:6.2f} "
            f"{span / spans['raw']:5.2f} {cpus[kind]:7.0f} {server_cpu:6.0f} {wall:7.3f} "
            f"{whole:7.2f} {p50s[kind] * 1000:7.2f} {trues[kind] * 1000:8.2f} "
            f"{p50s[kind] / trues[kind]:6.2f} {p95 * 1000:7.2f}  {batches}"
        )
    print(
        "  spans: "
        + "; ".join(
            f"{kind} " + "/".join(f"{r.span_s * 1000:.0f}" for r, _, _ in rows[kind])
            for kind in kinds
        )
        + " ms by round"
    )
    # is the baseline sound? its span near the ideal; if not, is the raw client (which opens
    # its connections in the clock, as trialbook does)? and if not, does even raw-pre (the
    # request path alone) reach it, or is the machine the bound?
    sound = base_span <= 1.3 * ideal
    raw_ideal = spans["raw"] / ideal
    pre_ideal = spans["raw-pre"] / ideal
    print(
        f"  baseline {'sound' if sound else 'NOT SOUND'}: aiohttp loop span "
        f"{base_span / ideal:.2f}x the ideal (needs <= 1.3x) at {cpus['baseline']:.0f} µs "
        f"CPU/request; the raw client {raw_ideal:.2f}x at {cpus['raw']:.0f} µs CPU/request "
        f"({'sound' if raw_ideal <= 1.3 else 'NOT SOUND'}); with its connections opened "
        f"first {pre_ideal:.2f}x at {cpus['raw-pre']:.0f} µs CPU/request"
        + ("" if pre_ideal <= 1.3 else " (the machine's bound: no client written here is sound)")
    )
    ratio = spans["trialbook"] / base_span
    raw_ratio = spans["trialbook"] / spans["raw"]
    if sound:
        verdict = f"{ratio:.2f}x the aiohttp baseline: {'met' if ratio <= 1.25 else 'NOT met'}"
    elif raw_ideal <= 1.3:
        verdict = f"{raw_ratio:.2f}x the raw client: {'met' if raw_ratio <= 1.25 else 'NOT met'}"
    else:
        verdict = "no sound baseline: not checked"
    print(
        f"  trialbook: span {spans['trialbook'] / ideal:.2f}x the ideal, {ratio:.2f}x the "
        f"aiohttp loop, {raw_ratio:.2f}x the raw client; goal <= 1.25x a sound baseline: "
        f"{verdict}; CPU {cpus['trialbook']:.0f} µs/rollout"
    )
    lat = p50s["trialbook"] / trues["trialbook"]
    print(
        f"  trialbook: recorded p50 {lat:.2f}x the server's (goal within 10 %: "
        f"{'met' if abs(lat - 1) <= 0.10 else 'NOT met'}); timed around the call, the raw "
        f"client records {p50s['raw'] / trues['raw']:.2f}x and the baseline "
        f"{p50s['baseline'] / trues['baseline']:.2f}x"
    )


if __name__ == "__main__":
    main()
