"""The HTTP layer of the eval runners, shared by targets (``runners/targets``) and judges.

- Clients: :func:`new_client` builds every httpx client the runners open;
  :class:`ShardedClients` spreads a run's connections over small pools and times
  each request on the wire (:class:`_WireClock`).
- Retries: which failures are worth another try (:func:`retryable_status`), how
  long the server asks to wait (:func:`parse_retry_after`: capped at
  :data:`MAX_RETRY_AFTER`, non-finite values refused) and how long to back off
  otherwise (:class:`Backoff`). The executor retries rollouts with them; the
  judge retries its own requests with the same rules.
- Redaction: URLs and headers as they may be recorded or shown
  (:func:`redact_url`, :func:`redact_headers`, :func:`without_credentials`).
- The OpenAI chat-completions call: its URL, request body and reply message
  (:func:`chat_url`, :func:`chat_body`, :func:`chat_message`), for the
  ``openai:`` target and the LLM judge alike.

Importing this module also works around httpcore's failed ``import sniffio``
(:func:`_avoid_failed_sniffio_imports`).
"""

from __future__ import annotations

import contextlib
import email.utils
import importlib.util
import json
import math
import random
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from trialbook.domain.evals import REDACTED, looks_secret
from trialbook.runners.eval_errors import RetryableError, RolloutRefused

__all__ = [
    "MAX_RETRY_AFTER",
    "OPENAI_BASE_URL",
    "POOL_SHARD_SIZE",
    "RETRY_STATUSES",
    "Backoff",
    "ShardedClients",
    "chat_body",
    "chat_message",
    "chat_url",
    "error_from_status",
    "header_safe",
    "new_client",
    "parse_retry_after",
    "redact_headers",
    "redact_url",
    "retryable_status",
    "snippet",
    "split_url",
    "transport_error",
    "without_credentials",
]

OPENAI_BASE_URL = "https://api.openai.com/v1"
#: HTTP statuses worth retrying besides 5xx
RETRY_STATUSES = frozenset({408, 429})
#: the longest Retry-After honoured, in seconds (longer waits are cut to this)
MAX_RETRY_AFTER = 120.0


# --------------------------------------------------------------------------- retries


def retryable_status(status: int) -> bool:
    """Whether a request answered with ``status`` is worth another try: 5xx, 408 and 429."""
    return status >= 500 or status in RETRY_STATUSES


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), capped.

    ``None`` when there is no usable value (absent, unreadable or not finite);
    a wait in the past is 0, one longer than :data:`MAX_RETRY_AFTER` is cut to it.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: try n waits ``min(max_s, base_s × factor^(n-1))``,
    shortened by up to ``jitter`` of itself at random; a ``Retry-After`` is waited in
    full (plus up to ``jitter`` × 10 % more, so retries of many rollouts spread out)."""

    base_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0
    jitter: float = 0.5

    def delay(
        self, tries: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after the ``tries``-th failed try."""
        r = (rng or random).random()
        if retry_after is not None:
            return retry_after * (1 + 0.1 * self.jitter * r)
        d = min(self.max_s, self.base_s * self.factor ** (tries - 1))
        return d * (1 - self.jitter * r)


# --------------------------------------------------------------------------- errors


def snippet(text: str, limit: int = 120) -> str:
    """``text`` on one line (white space folded), cut to ``limit`` characters with "…"."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_from_status(response: httpx.Response, latency_s: float, url: str) -> Exception:
    """A target's failed try for a non-2xx answer: :class:`RetryableError` when
    :func:`retryable_status` (with its Retry-After), else :class:`RolloutRefused`;
    the message names the status, the redacted URL and the server's error message."""
    status = response.status_code
    detail = snippet(response.text) if response.content else ""
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        body = response.json()
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            detail = snippet(err["message"])
        elif isinstance(err, str):
            detail = snippet(err)
    message = f"HTTP {status} from {redact_url(url)}" + (f": {detail}" if detail else "")
    if retryable_status(status):
        return RetryableError(
            message,
            kind="http_status",
            status_code=status,
            latency_s=latency_s,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    return RolloutRefused(message, kind="http_status", status_code=status, latency_s=latency_s)


def transport_error(e: httpx.TransportError, url: str) -> RetryableError:
    """A target's failed try for a request that got no answer (timeout or connection)."""
    if isinstance(e, httpx.TimeoutException):
        return RetryableError(f"timed out waiting for {redact_url(url)}", kind="timeout")
    reason = str(e) or type(e).__name__
    return RetryableError(f"connection to {redact_url(url)} failed: {reason}", kind="connection")


# --------------------------------------------------------------------------- redaction


def redact_url(url: str) -> str:
    """The URL with any password and secret-looking query values replaced by ``<redacted>``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        host = netloc.rsplit("@", 1)[1]
        netloc = f"{parts.username}:{REDACTED}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if looks_secret(k) else v) for k, v in pairs], safe="<>")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with secret-looking values (Authorization, X-Api-Key …) replaced by ``<redacted>``."""
    return {k: (REDACTED if looks_secret(k) else v) for k, v in headers.items()}


def header_safe(value: str) -> bool:
    """Whether ``value`` can be sent as a header value as it is (visible ASCII, inner spaces):
    httpx refuses others mid-request with a message that quotes the value (a key)."""
    return value == value.strip() and all(" " <= c <= "~" for c in value)


def without_credentials(url: str) -> str:
    """The URL without its user, password and query (a judge's endpoint as recorded and
    shown); an unreadable URL is returned as it is."""
    try:
        return str(httpx.URL(url).copy_with(username=None, password=None, query=None))
    except (httpx.InvalidURL, TypeError, ValueError):
        return url


def split_url(url: str) -> SplitResult:
    """``urlsplit`` that also reads the port: ValueError for a malformed URL or a port
    outside 0-65535 (which ``urlsplit`` alone lets through until the port is used)."""
    parts = urlsplit(url)
    parts.port  # noqa: B018
    return parts


# --------------------------------------------------------------------------- clients


def _avoid_failed_sniffio_imports() -> None:
    """Work around httpcore trying ``import sniffio`` on every lock it makes.

    anyio ≥ 4.11 no longer installs sniffio, and httpcore ≤ 1.0.9 then pays a
    failed import (a scan of ``sys.path``) per request and lock (encode/httpcore
    discussion #1102, PR #1103). When sniffio is truly absent, recording that in
    ``sys.modules`` makes each of those imports fail at once, with the same result.
    Installing sniffio makes this a no-op.
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


_avoid_failed_sniffio_imports()

#: connections per httpx client: httpcore's pool does O(connections²) work per
#: request (encode/httpx#3215), so a run's connections are spread over several
#: small pools instead of one large one
POOL_SHARD_SIZE = 8


def new_client(timeout: float, **options: Any) -> httpx.AsyncClient:
    """An httpx client for the runners: ``timeout`` seconds per request; ``options``
    (headers, limits, verify …) go to :class:`httpx.AsyncClient` as they are."""
    return httpx.AsyncClient(timeout=timeout, **options)


class ShardedClients:
    """Sharded httpx clients: ``concurrency`` connections over pools of ≤ POOL_SHARD_SIZE.

    Each request goes to the least busy pool, so while no more than
    ``concurrency`` requests are in flight a connection is always free and the
    measured latency never includes waiting for one. A mixin for targets: the
    class sets ``_default_headers`` (sent with every request).
    """

    _clients: list[httpx.AsyncClient] | None = None
    _load: list[int]
    _default_headers: dict[str, str]

    async def start(self, *, concurrency: int = 10, timeout: float = 60.0) -> None:
        if self._clients is not None:
            return
        shards = max(1, -(-concurrency // POOL_SHARD_SIZE))
        sizes = [
            concurrency // shards + (1 if i < concurrency % shards else 0) for i in range(shards)
        ]
        ssl_context = httpx.create_ssl_context()  # one for all shards: each costs ~50 ms to load
        self._clients = [
            new_client(
                timeout,
                verify=ssl_context,
                headers=self._default_headers,
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            )
            for size in sizes
        ]
        self._load = [0] * shards

    async def aclose(self) -> None:
        if self._clients is not None:
            clients, self._clients = self._clients, None
            for client in clients:
                await client.aclose()

    async def _post(self, url: str, payload: dict[str, Any]) -> tuple[httpx.Response, float]:
        """POST ``payload`` as JSON on the least busy pool: the response and its wire latency;
        no answer is a :func:`transport_error`."""
        if self._clients is None:
            await self.start()
        assert self._clients is not None
        load = self._load
        shard = min(range(len(load)), key=load.__getitem__)
        client = self._clients[shard]
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"content-type": "application/json"}
        load[shard] += 1
        clock = _WireClock()
        try:
            response = await client.post(
                url, content=body, headers=headers, extensions={"trace": clock}
            )
        except httpx.TransportError as e:
            raise transport_error(e, url) from None
        finally:
            load[shard] -= 1
        return response, clock.latency()


class _WireClock:
    """Times one request on the wire through httpcore's trace hook.

    From the request's last byte handed to the kernel (``send_request_body``
    complete) to the response's last byte read (``receive_response_body``
    complete). Everything the client does before and after is not the target's
    latency: connecting, httpx building the request and picking a pooled
    connection, and above all the event-loop turns between writing the headers
    and writing the body (anyio yields to the loop before each write). Under
    load those turns are queueing behind other requests, and counting them made
    recorded latencies several times the server's (issue #25). When the hook
    does not fire, the earliest stamp it did give (or the whole call) is used.
    """

    __slots__ = ("called", "started", "sent", "finished")

    def __init__(self) -> None:
        self.called = time.perf_counter()
        self.started: float | None = None
        self.sent: float | None = None
        self.finished: float | None = None

    async def __call__(self, name: str, info: dict[str, Any]) -> None:
        if name == "http11.send_request_body.complete":
            self.sent = time.perf_counter()
        elif name == "http11.receive_response_body.complete":
            self.finished = time.perf_counter()
        elif self.started is None and name.endswith(".started"):
            self.started = time.perf_counter()

    def latency(self) -> float:
        """Seconds on the wire; the whole call's time when the hook did not fire."""
        end = self.finished if self.finished is not None else time.perf_counter()
        for start in (self.sent, self.started):
            if start is not None:
                return end - start
        return end - self.called


# --------------------------------------------------------------------------- the OpenAI chat call


def chat_url(base_url: str) -> str:
    """The chat-completions endpoint of an OpenAI-compatible base URL (``…/v1``)."""
    return base_url.rstrip("/") + "/chat/completions"


def chat_body(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    json_mode: bool = False,
) -> dict[str, Any]:
    """A chat-completions request body; options left ``None`` are not sent (the server's
    defaults apply); ``json_mode`` asks for a JSON object (``response_format``)."""
    body: dict[str, Any] = {"model": model, "messages": list(messages)}
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if seed is not None:
        body["seed"] = seed
    if json_mode:
        body["response_format"] = {"type": "json_object"}
    return body


def chat_message(data: Any) -> Mapping[str, Any] | None:
    """The first choice's message of a chat-completions reply; ``None`` when the
    reply has no ``choices[0].message`` object (not an OpenAI-compatible answer)."""
    try:
        message = data["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        return None
    return message if isinstance(message, Mapping) else None
