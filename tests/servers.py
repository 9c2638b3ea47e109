"""Real HTTP servers on 127.0.0.1 for eval tests and benchmarks (no mocking of the HTTP layer).

Two apps on one small asyncio HTTP/1.1 server (keep-alive, Content-Length bodies):

- :class:`TaskServer`: a task app. ``POST /run`` with ``{run_id, case, epoch, seed, policy}``
  answers ``{"output": "echo: <input>", "score": 1.0, "usage": {...}}``.
- :class:`ChatServer`: an OpenAI-compatible ``POST /v1/chat/completions`` (echoes the
  last user message, counts words as tokens) and ``GET /v1/models``; with ``api_key``
  set it answers 401 unless ``Authorization: Bearer <api_key>`` is sent.

Behaviour, server-wide (:class:`Behaviour`): ``latency_s`` (+ ``jitter_s``), a random
``failure_rate`` answered with ``fail_status``. Per request, a *script* of steps, taken
one per request for the same key (the case id for the task app, the last user message
for the chat app), from ``server.scripts[key]`` or a task case's ``metadata["script"]``;
when the script runs out, requests succeed. Steps:

    "ok"            answer normally
    "503", "400"…   answer that status with a JSON error body
    "429:1.5"       answer 429 with ``Retry-After: 1.5`` (any status may carry one: "503:2")
    "sleep:0.3"     answer normally after 0.3 s more
    "hang"          never answer (until the client gives up or the server stops)
    "malformed"     200 with a truncated JSON body
    "shape"         200 with JSON of the wrong shape
    "text"          200 with a plain-text body
    "answer:TEXT"   200 with TEXT as the output (a wrong answer, for regressions)
    "drop"          close the connection without answering

Statistics (server side): ``hits[key]`` (requests per key), ``requests``,
``max_in_flight`` (largest number of requests being handled at once) and
``durations`` (true handling time per answered request, from request read to
response written, in seconds).

Run in-process (``with TaskServer(...) as server:``; a thread with its own event
loop) for tests, or as a separate process for benchmarks::

    python tests/servers.py task --latency 0.05      # prints "READY http://127.0.0.1:PORT"

and read the statistics with ``GET /_stats`` (``POST /_reset`` clears them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class Behaviour:
    """Server-wide behaviour."""

    latency_s: float = 0.0
    jitter_s: float = 0.0
    failure_rate: float = 0.0
    fail_status: int = 503
    seed: int = 0
    #: how long a "hang" step waits before giving up by itself
    hang_s: float = 30.0


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] | None = None
    content_type: str = "application/json"
    drop: bool = False


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(value).encode(), headers)


class _HttpServer:
    """A minimal HTTP/1.1 server on an asyncio loop in a background thread."""

    def __init__(
        self, behaviour: Behaviour | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.behaviour = behaviour or Behaviour()
        self.host = host
        self.port = port
        self.scripts: dict[str, list[str]] = {}
        self.reset()
        self._rng = random.Random(self.behaviour.seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[asyncio.Task[Any]] = set()
        self._stopped: asyncio.Event | None = None

    # ------------------------------------------------------------------ stats

    def reset(self) -> None:
        """Clear the statistics and the progress through scripts."""
        self.hits: Counter[str] = Counter()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.durations: list[float] = []
        self.bodies: list[Any] = []
        self.headers_seen: list[dict[str, str]] = []

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "max_in_flight": self.max_in_flight,
            "durations": list(self.durations),
            "hits": dict(self.hits),
        }

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> _HttpServer:
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._stopped = asyncio.Event()
            self._server = loop.run_until_complete(
                asyncio.start_server(self._connection, self.host, self.port, backlog=1024)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_until_complete(self._stopped.wait())
            self._server.close()
            for task in list(self._conns):
                task.cancel()
            loop.run_until_complete(asyncio.gather(*self._conns, return_exceptions=True))
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=main, name=f"{type(self).__name__}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("test server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> _HttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Run on the current thread until interrupted (subprocess mode)."""

        async def main() -> None:
            self._stopped = asyncio.Event()
            self._server = await asyncio.start_server(
                self._connection, self.host, self.port, backlog=1024
            )
            self.port = self._server.sockets[0].getsockname()[1]
            print(f"READY {self.url}", flush=True)
            await self._stopped.wait()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())

    # ------------------------------------------------------------------ protocol

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                started = time.perf_counter()
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    reply = await self._route(method, target.split("?")[0], headers, body)
                finally:
                    self.in_flight -= 1
                if reply.drop:
                    return
                extra = "".join(f"{k}: {v}\r\n" for k, v in (reply.headers or {}).items())
                payload = b"" if method == "HEAD" else reply.body
                head = (
                    f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Status')}\r\n"
                    f"Content-Type: {reply.content_type}\r\nContent-Length: {len(reply.body)}\r\n"
                    f"{extra}\r\n"
                )
                writer.write(head.encode("latin-1") + payload)
                await writer.drain()
                if not target.startswith("/_"):
                    self.durations.append(time.perf_counter() - started)
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        except asyncio.CancelledError:
            return
        finally:
            self._conns.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if path == "/_stats":
            return _json(self.stats())
        if path == "/_reset":
            self.reset()
            return _json({"ok": True})
        return await self.handle(method, path, headers, body)

    async def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        raise NotImplementedError

    # ------------------------------------------------------------------ behaviour

    async def behave(self, key: str, script: list[str] | None) -> Reply | None:
        """Apply the latency and the script step for ``key``; a Reply to send instead, or None."""
        self.requests += 1
        n = self.hits[key]
        self.hits[key] += 1
        steps = self.scripts.get(key, script or [])
        step = steps[n] if n < len(steps) else "ok"
        b = self.behaviour
        delay = b.latency_s + (self._rng.uniform(0, b.jitter_s) if b.jitter_s else 0.0)
        if delay:
            await asyncio.sleep(delay)
        kind, _, arg = step.partition(":")
        if kind == "ok":
            if b.failure_rate and self._rng.random() < b.failure_rate:
                return _json({"error": {"message": "random failure"}}, b.fail_status)
            return None
        if kind == "sleep":
            await asyncio.sleep(float(arg))
            return None
        if kind == "hang":
            await asyncio.sleep(b.hang_s)
            return Reply(drop=True)
        if kind == "drop":
            return Reply(drop=True)
        if kind == "malformed":
            return Reply(200, b'{"output": "trunc')
        if kind == "shape":
            return _json({"result": "no output field here"})
        if kind == "text":
            return Reply(200, b"Internal things happened", content_type="text/plain")
        if kind == "answer":
            return _json({"output": arg})
        status = int(kind)
        extra = {"Retry-After": arg} if arg else None
        return _json({"error": {"message": f"scripted {status}"}}, status, extra)


class TaskServer(_HttpServer):
    """A task app: ``POST /run`` (any path but ``/_*``) answers one rollout."""

    async def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if method == "HEAD":
            return Reply(405)
        if method != "POST":
            return _json({"error": "POST a rollout"}, 405)
        try:
            request = json.loads(body)
            case = request["case"]
        except (ValueError, KeyError, TypeError):
            return _json({"error": "body must be JSON with a case"}, 400)
        self.bodies.append(request)
        self.headers_seen.append(headers)
        metadata = case.get("metadata") or {}
        scripted = await self.behave(str(case.get("id")), metadata.get("script"))
        if scripted is not None:
            return scripted
        text = case["input"] if isinstance(case["input"], str) else case["input"][-1]["content"]
        answer: dict[str, Any] = {
            "output": f"echo: {text}",
            "score": 1.0 if case.get("expected") in (None, f"echo: {text}") else 0.0,
            "usage": {
                "prompt_tokens": len(text.split()),
                "completion_tokens": len(text.split()) + 1,
            },
        }
        if "reward" in metadata:
            answer["reward"] = metadata["reward"]
        if "trace" in metadata:
            answer["trace"] = metadata["trace"]
        if "cost_usd" in metadata:
            answer["cost_usd"] = metadata["cost_usd"]
        return _json(answer)


class ChatServer(_HttpServer):
    """An OpenAI-compatible chat-completions server."""

    def __init__(
        self, behaviour: Behaviour | None = None, *, api_key: str | None = None, **kw: Any
    ) -> None:
        super().__init__(behaviour, **kw)
        self.api_key = api_key

    async def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return _json(
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                    }
                },
                401,
            )
        if path.endswith("/models") and method == "GET":
            return _json({"object": "list", "data": [{"id": "echo-1", "object": "model"}]})
        if not path.endswith("/chat/completions") or method != "POST":
            return _json({"error": {"message": f"no route {method} {path}"}}, 404)
        try:
            request = json.loads(body)
            messages = request["messages"]
        except (ValueError, KeyError, TypeError):
            return _json({"error": {"message": "body must be JSON with messages"}}, 400)
        self.bodies.append(request)
        self.headers_seen.append(headers)
        last = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        scripted = await self.behave(last, None)
        if scripted is not None:
            return scripted
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        content = f"echo: {last}"
        return _json(
            {
                "id": f"chatcmpl-{self.requests}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": request.get("model", "echo-1"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(content.split()),
                    "total_tokens": prompt_tokens + len(content.split()),
                },
            }
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a trialbook test server in this process.")
    parser.add_argument("app", choices=["task", "chat"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--jitter", type=float, default=0.0)
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument("--api-key")
    args = parser.parse_args(argv)
    behaviour = Behaviour(
        latency_s=args.latency, jitter_s=args.jitter, failure_rate=args.failure_rate
    )
    server: _HttpServer
    if args.app == "task":
        server = TaskServer(behaviour, port=args.port)
    else:
        server = ChatServer(behaviour, api_key=args.api_key, port=args.port)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
