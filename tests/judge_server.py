"""A scripted OpenAI-compatible judge server on 127.0.0.1 for the verdict tests.

Real HTTP (``http.server`` in a thread), no mocking: each test scripts the
replies for a model name of its own, sends requests naming that model, and
reads back what the server received and how often. Replies are served in
order; the last one repeats.

    with JudgeServer() as server:
        model = server.script("fenced", Reply(content="```json\\n{...}\\n```"))
        ... judge:x,base_url={server.base_url},model={model},key_env=none ...
        assert len(server.requests(model)) == 1
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_USAGE = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}


@dataclass(frozen=True)
class Reply:
    """One scripted reply."""

    #: the assistant message's content
    content: str | None = None
    status: int = 200
    #: raw response body, sent as it is instead of a chat completion
    body: str | None = None
    #: seconds to wait before answering
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    refusal: str | None = None
    usage: dict[str, Any] | None = field(default_factory=lambda: dict(DEFAULT_USAGE))
    #: answer 400 to a request that carries ``response_format`` (without consuming this reply)
    reject_json_mode: bool = False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        return

    def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))
            return
        try:
            request = json.loads(raw)
        except ValueError:
            self._send(400, json.dumps({"error": {"message": "body is not JSON"}}))
            return
        model = str(request.get("model"))
        reply = self.server.owner._record(model, request, dict(self.headers))
        if reply is None:
            self._send(404, json.dumps({"error": {"message": f"model {model!r} not found"}}))
            return
        if reply.delay and self.server.owner._stopping.wait(reply.delay):
            return
        if reply.body is not None or reply.status != 200:
            body = (
                reply.body
                if reply.body is not None
                else json.dumps({"error": {"message": "scripted failure"}})
            )
            self._send(reply.status, body, reply.headers)
            return
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.refusal is not None:
            message["refusal"] = reply.refusal
        completion: dict[str, Any] = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
        if reply.usage is not None:
            completion["usage"] = reply.usage
        self._send(200, json.dumps(completion), reply.headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: JudgeServer


class JudgeServer:
    """The server: script replies per model, then inspect the requests it received."""

    def __init__(self) -> None:
        self._scripts: dict[str, list[Reply]] = {}
        self._requests: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="judge server", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def script(self, model: str, *replies: Reply) -> str:
        """Serve ``replies`` (in order, the last repeating) to requests for ``model``; returns ``model``."""
        if not replies:
            raise ValueError("script at least one reply")
        with self._lock:
            self._scripts[model] = list(replies)
            self._requests[model] = []
        return model

    def requests(self, model: str) -> list[dict[str, Any]]:
        """What the server received for ``model``: ``{"body": …, "headers": …}`` per request, in order."""
        with self._lock:
            return list(self._requests[model])

    def _record(self, model: str, body: dict[str, Any], headers: dict[str, str]) -> Reply | None:
        with self._lock:
            self._requests[model].append(
                {"body": body, "headers": {k.lower(): v for k, v in headers.items()}}
            )
            replies = self._scripts.get(model)
            if not replies:
                return None
            reply = replies[0]
            if reply.reject_json_mode and "response_format" in body:
                return Reply(
                    status=400,
                    body=json.dumps(
                        {"error": {"message": "response_format is not supported by this model"}}
                    ),
                )
            if len(replies) > 1:
                replies.pop(0)
            return reply

    def start(self) -> JudgeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> JudgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
