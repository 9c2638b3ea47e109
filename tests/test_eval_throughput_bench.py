"""bench/eval_throughput.py's own parts: the C task server and the clients it measures
(issue #25). Real processes and sockets on 127.0.0.1; no figures asserted, only what
each part must do for its figures to mean anything."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import time
from collections.abc import Iterator

import pytest

from bench import eval_throughput as bench

# nothing is skipped in CI (.ci/run installs a C compiler when the machine has none)
pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None and not os.environ.get("CI"), reason="needs a C compiler"
)

LATENCY = 0.02


@pytest.fixture(scope="module")
def server() -> Iterator[bench.ServerProcess]:
    s = bench.ServerProcess(LATENCY)
    assert s.kind == "c"
    yield s
    s.close()


def _post(sock: socket.socket, body: bytes) -> tuple[bytes, bytes]:
    sock.sendall(
        b"POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    while len(rest) < length:
        rest += sock.recv(65536)
    return head, rest


def test_the_c_server_answers_each_request_after_its_latency_on_one_kept_alive_connection(
    server: bench.ServerProcess,
) -> None:
    server.reset()
    host, port = server.url.split("//")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port))) as sock:
        for i in range(3):
            sent = time.perf_counter()
            head, body = _post(sock, json.dumps({"case": {"id": f"c{i}"}}).encode())
            took = time.perf_counter() - sent
            assert head.startswith(b"HTTP/1.1 200 OK")
            assert json.loads(body)["output"] == "echo: ok"
            assert took >= LATENCY
    stats = server.stats()
    assert stats["requests"] == 3
    assert len(stats["durations"]) == 3
    # from the request's arrival (the kernel's stamp) to the reply written
    assert all(LATENCY <= d < LATENCY + 0.5 for d in stats["durations"])
    server.reset()
    assert server.stats() == {"requests": 0, "durations": []}


def test_the_c_server_reads_a_request_that_arrives_in_pieces(server: bench.ServerProcess) -> None:
    server.reset()
    host, port = server.url.split("//")[1].rsplit(":", 1)
    body = json.dumps({"case": {"id": "x" * 3000}}).encode()
    request = (
        b"POST /run HTTP/1.1\r\nHost: x\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    with socket.create_connection((host, int(port))) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(request), 700):
            sock.sendall(request[i : i + 700])
            time.sleep(0.002)
        data = b""
        while b"}}" not in data:
            data += sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert server.stats()["requests"] == 1


@pytest.mark.parametrize(
    "kind", ["raw-pre", "raw", "floor", "baseline", "trialbook", "tb-norec", "tb-rawhttp"]
)
def test_every_client_gets_every_case_answered_no_faster_than_the_server_allows(
    server: bench.ServerProcess, kind: str
) -> None:
    server.reset()
    n, k = 30, 6
    result = asyncio.run(bench.RUNNERS[kind](server.url, bench.make_cases(n), k))
    assert len(result.latencies) == n
    assert result.failed == 0
    assert server.stats()["requests"] == n
    # n / k rounds of LATENCY at the least; each answer takes LATENCY at the least
    assert result.span_s >= n / k * LATENCY * 0.99
    assert min(result.latencies) >= LATENCY * 0.99
    assert result.cpu_s > 0


def test_trialbook_records_every_rollout_it_ran_in_the_bench(server: bench.ServerProcess) -> None:
    result = asyncio.run(bench.run_trialbook(server.url, bench.make_cases(40), 8))
    # run_trialbook checks the run's state in the ledger (completed + failed == cases)
    assert result.batches >= 1
    assert len(result.latencies) == 40
