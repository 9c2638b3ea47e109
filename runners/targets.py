"""Eval targets: what a rollout is sent to, all driven from asyncio.

Four kinds, each built from a spec string (``--target``) or a config mapping
(a ``[target]`` table of a TOML/YAML run config):

``http`` — POST JSON to a task app::

    http:http://127.0.0.1:8000/run            (or just the URL)
    {"kind": "http", "url": "...", "headers": {"X-Team": "evals"},
     "api_key_env": "TASK_KEY", "api_key_header": "Authorization", "api_key_prefix": "Bearer ",
     "model": "gpt-4o-mini"}                   (model: only for pricing token usage)

  Request body: ``{"run_id", "case": {id, input, expected, criteria, metadata, scorers},
  "epoch", "attempt", "seed", "policy"}``. Response: ``{"output": ..., "score"?,
  "reward"?, "usage"?: {"prompt_tokens", "completion_tokens"}, "cost_usd"?, "trace"?,
  "model"?}``.

``openai`` — an OpenAI-compatible chat-completions endpoint::

    openai:gpt-4o-mini                          (base URL https://api.openai.com/v1, key from OPENAI_API_KEY)
    openai:llama3@http://127.0.0.1:8000/v1      (a local server: no key unless api_key_env is given)
    {"kind": "openai", "model": "...", "base_url": "...", "api_key_env": "...",
     "temperature": 0.0, "max_tokens": 512, "system_prompt": "...", "seed": true, "headers": {...}}

  The case input (a string, or chat messages) follows the system prompt; the
  output is the first choice's message content; token usage comes from ``usage``.

``python`` — a callable ``package.module:function(case) -> output or dict``::

    python:my_agent.eval:solve

  ``case`` is a plain dict (id, input, expected, criteria, metadata, scorers). A
  returned dict with an ``"output"`` key is read like an HTTP response (score,
  usage …); anything else is the output. Sync functions run in a thread pool
  sized to the run's concurrency (a timed-out call cannot be killed and runs to
  its end in its thread); ``async def`` functions are awaited. The working
  directory is importable. From the Python API the callable itself may be
  given (``{"kind": "python", "callable": fn}``); it is recorded by its name
  (:func:`callable_ref`).

``command`` — a shell command; the case input goes to stdin (a string input as
text plus a newline, chat messages as JSON), the output is stdout without its
final newline::

    command:python agent.py --fast
    {"kind": "command", "command": "...", "format": "json", "env": {"MODE": "eval"}, "cwd": "..."}

  ``format = "json"`` reads stdout as the HTTP response shape. The environment
  adds ``TRIALBOOK_RUN_ID``, ``TRIALBOOK_CASE_ID``, ``TRIALBOOK_EPOCH``,
  ``TRIALBOOK_ATTEMPT``, ``TRIALBOOK_SEED`` and ``TRIALBOOK_CASE`` (the case as JSON).
  A non-zero exit is a failed rollout; a timeout kills the command's process group.

Options in spec strings: ``KIND:BODY;key=value;key=value`` for ``http``,
``openai`` and ``python`` (values are JSON when they parse as JSON, else text),
e.g. ``openai:qwen@http://127.0.0.1:8000/v1;api_key_env=LOCAL_KEY;temperature=0``.
A ``command:`` spec takes no options: everything after the colon is the command.

Secrets: API keys are read from the named environment variable when the target
is built (a missing variable is a :class:`TargetConfigError` naming it) and never
appear in :meth:`Target.describe`, which is what the run's event records;
secret-looking headers, URL passwords and query parameters are redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import importlib
import importlib.util
import inspect
import json
import math
import os
import shlex
import shutil
import signal
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from trialbook.domain.canonical import canonical_json
from trialbook.domain.evals import REDACTED, looks_secret
from trialbook.domain.suites import Case
from trialbook.runners.eval_errors import (
    RetryableError,
    RolloutRefused,
    TargetConfigError,
    TargetUnavailable,
)

__all__ = [
    "CommandTarget",
    "HttpTarget",
    "OpenAITarget",
    "PythonTarget",
    "RolloutRequest",
    "Target",
    "TargetReply",
    "callable_ref",
    "make_target",
    "parse_retry_after",
    "parse_target_spec",
    "redact_headers",
    "redact_url",
    "split_url",
    "reply_from_json",
    "resolve_callable",
    "target_from_config",
]

OPENAI_BASE_URL = "https://api.openai.com/v1"
#: HTTP statuses worth retrying besides 5xx
RETRY_STATUSES = frozenset({408, 429})
#: the longest Retry-After honoured, in seconds (longer waits are cut to this)
MAX_RETRY_AFTER = 120.0
PREFLIGHT_TIMEOUT = 5.0


@dataclass(frozen=True)
class RolloutRequest:
    """One try of one rollout, as handed to a target."""

    run_id: str
    case: Case
    epoch: int
    attempt: int = 1
    seed: int = 0
    policy: Mapping[str, Any] = field(default_factory=dict)

    def case_dict(self) -> dict[str, Any]:
        """The case as plain JSON with every field present (what targets receive)."""
        return self.case.model_dump(mode="json")


@dataclass
class TargetReply:
    """What a target answered. ``latency_s`` runs from request sent to response received."""

    output: Any
    latency_s: float
    score: float | None = None
    reward: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    trace: Any = None
    model: str | None = None


class Target(ABC):
    """A thing rollouts are sent to.

    Lifecycle: build (spec checked, secrets read) → :meth:`preflight` (reachable?)
    → :meth:`start` (clients, pools) → :meth:`call` × N → :meth:`aclose`.
    """

    kind: ClassVar[str]
    #: the model whose price applies to token usage, when known
    model: str | None = None

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The target's config as plain JSON, without secrets (recorded in ``RunStarted``)."""

    async def preflight(self, timeout: float = PREFLIGHT_TIMEOUT) -> None:
        """Raise :class:`TargetUnavailable` if the target cannot be reached now."""
        return None

    async def start(self, *, concurrency: int = 10, timeout: float = 60.0) -> None:
        """Open clients sized for ``concurrency`` requests in flight. Idempotent."""
        return None

    @abstractmethod
    async def call(self, request: RolloutRequest) -> TargetReply:
        """Send one rollout; raise :class:`RetryableError` or :class:`RolloutRefused` on failure."""

    async def aclose(self) -> None:
        """Release clients and pools."""
        return None

    async def __aenter__(self) -> Target:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


# --------------------------------------------------------------------------- response parsing


def reply_from_json(data: Any, latency_s: float, *, what: str = "the response") -> TargetReply:
    """Read the task-app response shape; :class:`RolloutRefused` naming the problem otherwise."""
    if not isinstance(data, dict):
        raise RolloutRefused(
            f'{what} is a JSON {_json_type(data)}, not an object with an "output" field',
            kind="bad_response",
            latency_s=latency_s,
        )
    if "output" not in data:
        keys = ", ".join(sorted(map(str, data))) or "none"
        raise RolloutRefused(
            f'{what} has no "output" field (its fields: {keys}); answer {{"output": ...}}',
            kind="bad_response",
            latency_s=latency_s,
        )
    reply = TargetReply(output=data["output"], latency_s=latency_s, trace=data.get("trace"))
    for name in ("score", "reward"):
        setattr(reply, name, _number(data.get(name), name, what, latency_s))
    cost = _number(data.get("cost_usd"), "cost_usd", what, latency_s)
    if cost is not None and cost < 0:
        raise RolloutRefused(
            f"{what} has a negative cost_usd", kind="bad_response", latency_s=latency_s
        )
    reply.cost_usd = cost
    usage = data.get("usage")
    if usage is not None:
        reply.prompt_tokens, reply.completion_tokens = _usage(usage, what, latency_s)
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise RolloutRefused(
            f'{what} has a non-text "model"', kind="bad_response", latency_s=latency_s
        )
    reply.model = model
    return reply


def _json_type(value: Any) -> str:
    return {
        list: "array",
        str: "string",
        int: "number",
        float: "number",
        bool: "boolean",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _number(value: Any, name: str, what: str, latency_s: float) -> float | None:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RolloutRefused(
            f'{what} has "{name}": {value!r}; it must be a finite number or absent',
            kind="bad_response",
            latency_s=latency_s,
        )
    return float(value)


def _usage(usage: Any, what: str, latency_s: float) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        raise RolloutRefused(
            f'{what} has "usage" that is not an object {{"prompt_tokens", "completion_tokens"}}',
            kind="bad_response",
            latency_s=latency_s,
        )
    out: list[int | None] = []
    for name, alias in (("prompt_tokens", "input_tokens"), ("completion_tokens", "output_tokens")):
        v = usage.get(name, usage.get(alias))
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise RolloutRefused(
                f"{what} has usage.{name} = {v!r}; it must be a whole number ≥ 0",
                kind="bad_response",
                latency_s=latency_s,
            )
        out.append(v)
    return out[0], out[1]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), capped."""
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


def _snippet(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_from_status(response: httpx.Response, latency_s: float, url: str) -> Exception:
    status = response.status_code
    detail = _snippet(response.text) if response.content else ""
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        body = response.json()
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            detail = _snippet(err["message"])
        elif isinstance(err, str):
            detail = _snippet(err)
    message = f"HTTP {status} from {redact_url(url)}" + (f": {detail}" if detail else "")
    if status >= 500 or status in RETRY_STATUSES:
        return RetryableError(
            message,
            kind="http_status",
            status_code=status,
            latency_s=latency_s,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    return RolloutRefused(message, kind="http_status", status_code=status, latency_s=latency_s)


def _transport_error(e: httpx.TransportError, url: str) -> RetryableError:
    if isinstance(e, httpx.TimeoutException):
        return RetryableError(f"timed out waiting for {redact_url(url)}", kind="timeout")
    reason = str(e) or type(e).__name__
    return RetryableError(f"connection to {redact_url(url)} failed: {reason}", kind="connection")


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


def split_url(url: str) -> SplitResult:
    """``urlsplit`` that also reads the port: ValueError for a malformed URL or a port
    outside 0-65535 (which ``urlsplit`` alone lets through until the port is used)."""
    parts = urlsplit(url)
    parts.port  # noqa: B018
    return parts


def _check_url(url: Any, what: str) -> str:
    if not isinstance(url, str) or not url:
        raise TargetConfigError(f"{what} needs a URL, e.g. http://127.0.0.1:8000/run")
    try:
        parts = split_url(url)
    except ValueError as e:
        raise TargetConfigError(
            f"{what} URL {url!r} is not valid ({e}); write http://HOST:PORT/PATH"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetConfigError(f"{what} URL {url!r} is not valid; write http://HOST:PORT/PATH")
    return url


def _read_key(env: Mapping[str, str], var: str | None, what: str) -> str | None:
    if var is None:
        return None
    if not isinstance(var, str) or not var:
        raise TargetConfigError(f"{what}: api_key_env must name an environment variable")
    value = env.get(var)
    if not value:
        raise TargetConfigError(
            f"{what}: environment variable {var} is not set; export {var}=… "
            "or set api_key_env to the variable holding your key"
        )
    return value


def _headers(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise TargetConfigError(f"{what}: headers must be a table of text values")
    return {str(k): v for k, v in value.items()}


async def _preflight_url(url: str, what: str, timeout: float) -> httpx.Response:
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            return await client.request("HEAD" if what == "http" else "GET", url)
    except httpx.TimeoutException:
        raise TargetUnavailable(
            f"the {what} target at {redact_url(url)} did not answer within {timeout:g} s; is it running and reachable?"
        ) from None
    except httpx.TransportError as e:
        reason = str(e) or type(e).__name__
        raise TargetUnavailable(
            f"cannot reach the {what} target at {redact_url(url)} ({reason}); is it running?"
        ) from None


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


class _HttpClientMixin:
    """Sharded httpx clients: ``concurrency`` connections over pools of ≤ POOL_SHARD_SIZE.

    Each request goes to the least busy pool, so while no more than
    ``concurrency`` requests are in flight a connection is always free and the
    measured latency never includes waiting for one.
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
            httpx.AsyncClient(
                verify=ssl_context,
                headers=self._default_headers,
                timeout=httpx.Timeout(timeout),
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
            raise _transport_error(e, url) from None
        finally:
            load[shard] -= 1
        return response, clock.latency()


class _WireClock:
    """Times one request on the wire through httpcore's trace hook.

    From the first thing done for the request on a connection (connecting, or
    writing the request headers on a reused one) to the last byte of the
    response body read. httpx's own work before and after (building the
    request, picking a pooled connection, wrapping the response) is not the
    target's latency, and under load it is what made recorded latencies run
    several milliseconds above the server's.
    """

    __slots__ = ("called", "started", "finished")

    def __init__(self) -> None:
        self.called = time.perf_counter()
        self.started: float | None = None
        self.finished: float | None = None

    async def __call__(self, name: str, info: dict[str, Any]) -> None:
        if self.started is None and name.endswith(".started"):
            self.started = time.perf_counter()
        elif name == "http11.receive_response_body.complete":
            self.finished = time.perf_counter()

    def latency(self) -> float:
        """Seconds on the wire; the whole call's time when the hook did not fire."""
        end = self.finished if self.finished is not None else time.perf_counter()
        return end - (self.started if self.started is not None else self.called)


# --------------------------------------------------------------------------- http


class HttpTarget(_HttpClientMixin, Target):
    """A task app that takes one rollout per POST."""

    kind = "http"
    OPTIONS = ("url", "headers", "api_key_env", "api_key_header", "api_key_prefix", "model")

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        api_key_env: str | None = None,
        api_key_header: str = "Authorization",
        api_key_prefix: str | None = None,
        model: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.url = _check_url(url, "http target")
        self.headers = _headers(headers, "http target")
        self.api_key_env = api_key_env
        self.api_key_header = api_key_header
        if api_key_prefix is None:
            api_key_prefix = "Bearer " if api_key_header.lower() == "authorization" else ""
        self.api_key_prefix = api_key_prefix
        self.model = model
        key = _read_key(os.environ if env is None else env, api_key_env, "http target")
        self._default_headers = dict(self.headers)
        if key is not None:
            self._default_headers[api_key_header] = f"{api_key_prefix}{key}"

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "url": redact_url(self.url)}
        if self.headers:
            out["headers"] = redact_headers(self.headers)
        if self.api_key_env:
            out["api_key_env"] = self.api_key_env
            out["api_key_header"] = self.api_key_header
        if self.model:
            out["model"] = self.model
        return out

    async def preflight(self, timeout: float = PREFLIGHT_TIMEOUT) -> None:
        await _preflight_url(self.url, "http", timeout)

    async def call(self, request: RolloutRequest) -> TargetReply:
        payload = {
            "run_id": request.run_id,
            "case": request.case_dict(),
            "epoch": request.epoch,
            "attempt": request.attempt,
            "seed": request.seed,
            "policy": dict(request.policy),
        }
        response, latency = await self._post(self.url, payload)
        if response.status_code >= 300:
            raise _error_from_status(response, latency, self.url)
        try:
            data = response.json()
        except ValueError:
            raise RolloutRefused(
                f"the response from {redact_url(self.url)} is not JSON: {_snippet(response.text, 80)!r}",
                kind="bad_response",
                latency_s=latency,
            ) from None
        return reply_from_json(data, latency, what=f"the response from {redact_url(self.url)}")


# --------------------------------------------------------------------------- openai


class OpenAITarget(_HttpClientMixin, Target):
    """An OpenAI-compatible ``/chat/completions`` endpoint."""

    kind = "openai"
    OPTIONS = (
        "model",
        "base_url",
        "api_key_env",
        "temperature",
        "max_tokens",
        "system_prompt",
        "seed",
        "headers",
    )

    def __init__(
        self,
        model: str,
        *,
        base_url: str = OPENAI_BASE_URL,
        api_key_env: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        seed: bool = False,
        headers: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise TargetConfigError("openai target needs a model, e.g. openai:gpt-4o-mini")
        self.model = model
        self.base_url = _check_url(base_url, "openai target").rstrip("/")
        if api_key_env is None and urlsplit(self.base_url).hostname == "api.openai.com":
            api_key_env = "OPENAI_API_KEY"
        self.api_key_env = api_key_env
        if temperature is not None and (
            not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2
        ):
            raise TargetConfigError(
                f"openai target: temperature {temperature!r} must be between 0 and 2"
            )
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise TargetConfigError(
                f"openai target: max_tokens {max_tokens!r} must be a whole number ≥ 1"
            )
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.system_prompt = system_prompt
        self.seed = bool(seed)
        self.headers = _headers(headers, "openai target")
        key = _read_key(os.environ if env is None else env, api_key_env, "openai target")
        self._default_headers = dict(self.headers)
        if key is not None:
            self._default_headers["Authorization"] = f"Bearer {key}"
        self.url = f"{self.base_url}/chat/completions"

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "model": self.model,
            "base_url": redact_url(self.base_url),
        }
        for name in ("api_key_env", "temperature", "max_tokens", "system_prompt"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.seed:
            out["seed"] = True
        if self.headers:
            out["headers"] = redact_headers(self.headers)
        return out

    async def preflight(self, timeout: float = PREFLIGHT_TIMEOUT) -> None:
        url = f"{self.base_url}/models"
        try:
            async with httpx.AsyncClient(timeout=timeout, headers=self._default_headers) as client:
                response = await client.get(url)
        except httpx.TimeoutException:
            raise TargetUnavailable(
                f"the openai target at {redact_url(self.base_url)} did not answer within {timeout:g} s; is it reachable?"
            ) from None
        except httpx.TransportError as e:
            raise TargetUnavailable(
                f"cannot reach the openai target at {redact_url(self.base_url)} ({e or type(e).__name__}); is it running?"
            ) from None
        if response.status_code in (401, 403):
            source = f"${self.api_key_env}" if self.api_key_env else "no key (set api_key_env)"
            raise TargetConfigError(
                f"the openai target at {redact_url(self.base_url)} refused the API key from {source} "
                f"(HTTP {response.status_code}); check the key"
            )

    async def call(self, request: RolloutRequest) -> TargetReply:
        messages = request.case.messages()
        if self.system_prompt:
            messages = [{"role": "system", "content": self.system_prompt}, *messages]
        payload: dict[str, Any] = {"model": self.model, "messages": messages}
        if self.temperature is not None:
            payload["temperature"] = self.temperature
        if self.max_tokens is not None:
            payload["max_tokens"] = self.max_tokens
        if self.seed:
            payload["seed"] = request.seed
        response, latency = await self._post(self.url, payload)
        if response.status_code >= 300:
            raise _error_from_status(response, latency, self.url)
        what = f"the chat completion from {redact_url(self.url)}"
        try:
            data = response.json()
        except ValueError:
            raise RolloutRefused(
                f"{what} is not JSON: {_snippet(response.text, 80)!r}",
                kind="bad_response",
                latency_s=latency,
            ) from None
        try:
            message = data["choices"][0]["message"]
            content = message.get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise RolloutRefused(
                f"{what} has no choices[0].message; is this an OpenAI-compatible endpoint?",
                kind="bad_response",
                latency_s=latency,
            ) from None
        if content is not None and not isinstance(content, str):
            raise RolloutRefused(
                f"{what} has non-text message content", kind="bad_response", latency_s=latency
            )
        reply = TargetReply(
            output=content, latency_s=latency, model=data.get("model") or self.model
        )
        if data.get("usage") is not None:
            reply.prompt_tokens, reply.completion_tokens = _usage(data["usage"], what, latency)
        if message.get("tool_calls"):
            reply.trace = {"tool_calls": message["tool_calls"]}
        return reply


# --------------------------------------------------------------------------- python


def _import(module_name: str) -> Any:
    """Import a module, retrying with the working directory on ``sys.path`` if it was not there."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError:
        cwd = os.getcwd()
        if cwd in sys.path or "" in sys.path:
            raise
        sys.path.insert(0, cwd)
        return importlib.import_module(module_name)


def resolve_callable(ref: str) -> Callable[..., Any]:
    """Import ``package.module:function`` (or ``module:Class.method``); the working directory is importable."""
    module_name, sep, attr_path = ref.partition(":")
    if not sep or not module_name or not attr_path:
        raise TargetConfigError(
            f"python target {ref!r} is not valid; write python:package.module:function"
        )
    try:
        module = _import(module_name)
    except ModuleNotFoundError as e:
        if e.name and (module_name == e.name or module_name.startswith(e.name + ".")):
            raise TargetConfigError(
                f"python target: module {module_name!r} is not importable; check the name, "
                "or run from the directory that holds it"
            ) from None
        raise TargetConfigError(f"python target: importing {module_name!r} failed: {e}") from None
    except Exception as e:  # the module's own import-time error
        raise TargetConfigError(
            f"python target: importing {module_name!r} raised {type(e).__name__}: {e}"
        ) from None
    obj: Any = module
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetConfigError(
                f"python target: {module_name!r} has no {attr_path!r}; check the function name"
            ) from None
    if not callable(obj):
        raise TargetConfigError(f"python target: {ref!r} is not callable")
    return obj  # type: ignore[no-any-return]


def callable_ref(fn: Callable[..., Any]) -> str:
    """``module:qualified.name`` of a callable, as a ``python:`` spec names it (recorded for the run).

    Importing it back gives the same function only for one defined at a
    module's top level (or a class's); a closure or lambda is named all the
    same (``mod:outer.<locals>.inner``), but must be handed over again to resume.
    """
    module = getattr(fn, "__module__", None) or type(fn).__module__
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}:{name}"


class PythonTarget(Target):
    """A Python callable taking the case as a dict: imported from ``ref``, or given itself."""

    kind = "python"
    OPTIONS = ("callable", "model")

    def __init__(self, ref: str | Callable[..., Any], *, model: str | None = None) -> None:
        if isinstance(ref, str):
            self.ref = ref
            self.fn = resolve_callable(ref)
        elif callable(ref):  # an in-process callable (the Python API): recorded by its name
            self.ref = callable_ref(ref)
            self.fn = ref
        else:
            raise TargetConfigError(
                f"python target: {ref!r} is not callable; give a function or MODULE:FUNCTION"
            )
        self.model = model
        self.is_async = inspect.iscoroutinefunction(self.fn) or (
            not inspect.isroutine(self.fn) and inspect.iscoroutinefunction(type(self.fn).__call__)
        )
        self._pool: ThreadPoolExecutor | None = None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "callable": self.ref}
        if self.model:
            out["model"] = self.model
        return out

    async def start(self, *, concurrency: int = 10, timeout: float = 60.0) -> None:
        if self._pool is None and not self.is_async:
            self._pool = ThreadPoolExecutor(
                max_workers=concurrency, thread_name_prefix="trialbook-target"
            )

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=False, cancel_futures=True)

    async def call(self, request: RolloutRequest) -> TargetReply:
        case = request.case_dict()
        started = time.perf_counter()
        try:
            if self.is_async:
                result = await self.fn(case)
            else:
                if self._pool is None:
                    await self.start()
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self._pool, self.fn, case)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            raise RolloutRefused(
                f"{self.ref} raised {type(e).__name__}: {_snippet(str(e), 300)}",
                kind="target_error",
                latency_s=time.perf_counter() - started,
            ) from None
        latency = time.perf_counter() - started
        if isinstance(result, dict) and "output" in result:
            reply = reply_from_json(result, latency, what=f"the dict returned by {self.ref}")
        else:
            reply = TargetReply(output=result, latency_s=latency)
        try:
            canonical_json(reply.output)
            canonical_json(reply.trace)
        except (TypeError, ValueError):
            raise RolloutRefused(
                f"{self.ref} returned a {type(reply.output).__name__}, which is not JSON; "
                "return text, a number, a list or a dict",
                kind="bad_response",
                latency_s=latency,
            ) from None
        return reply


# --------------------------------------------------------------------------- command


class CommandTarget(Target):
    """A shell command: case input on stdin, output on stdout."""

    kind = "command"
    OPTIONS = ("command", "format", "env", "cwd", "model")

    def __init__(
        self,
        command: str,
        *,
        format: str = "text",
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        model: str | None = None,
    ) -> None:
        if not isinstance(command, str) or not command.strip():
            raise TargetConfigError("command target needs a command, e.g. command:python agent.py")
        if format not in ("text", "json"):
            raise TargetConfigError(f"command target: format {format!r} must be 'text' or 'json'")
        self.command = command
        self.format = format
        self.env = _headers(env, "command target env") if env is not None else {}
        self.cwd = cwd
        self.model = model

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "command": self.command}
        if self.format != "text":
            out["format"] = self.format
        if self.env:
            out["env"] = redact_headers(self.env)
        if self.cwd:
            out["cwd"] = self.cwd
        if self.model:
            out["model"] = self.model
        return out

    async def preflight(self, timeout: float = PREFLIGHT_TIMEOUT) -> None:
        try:
            words = shlex.split(self.command)
        except ValueError as e:
            raise TargetConfigError(f"command target: cannot parse {self.command!r}: {e}") from None
        first = next((w for w in words if "=" not in w), None)
        if (
            first
            and not any(ch in first for ch in "$`|;&<>(){}")
            and shutil.which(first, path=None) is None
            and not os.path.exists(os.path.join(self.cwd or ".", first))
        ):
            raise TargetUnavailable(
                f"command target: {first!r} is not found on PATH; check the command"
            )

    async def call(self, request: RolloutRequest) -> TargetReply:
        case = request.case
        stdin = (
            case.input
            if isinstance(case.input, str)
            else json.dumps(case.messages(), ensure_ascii=False)
        )
        if not stdin.endswith("\n"):
            stdin += "\n"
        env = {
            **os.environ,
            **self.env,
            "TRIALBOOK_RUN_ID": request.run_id,
            "TRIALBOOK_CASE_ID": case.id,
            "TRIALBOOK_EPOCH": str(request.epoch),
            "TRIALBOOK_ATTEMPT": str(request.attempt),
            "TRIALBOOK_SEED": str(request.seed),
            "TRIALBOOK_CASE": canonical_json(request.case_dict()),
        }
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_shell(
            self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=self.cwd,
            start_new_session=True,
        )
        try:
            out, err = await proc.communicate(stdin.encode("utf-8"))
        except BaseException:  # timeout or Ctrl-C: kill the whole process group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(BaseException):
                await asyncio.shield(proc.wait())
            raise
        latency = time.perf_counter() - started
        if proc.returncode != 0:
            lines = err.decode("utf-8", "replace").strip().splitlines()
            tail = f": {_snippet(lines[-1], 200)}" if lines else ""
            raise RolloutRefused(
                f"command exited with status {proc.returncode}{tail}",
                kind="target_error",
                latency_s=latency,
            )
        text = out.decode("utf-8", "replace")
        if text.endswith("\n"):
            text = text[:-1]
        if self.format == "json":
            try:
                data = json.loads(text)
            except ValueError:
                raise RolloutRefused(
                    f"the command's stdout is not JSON: {_snippet(text, 80)!r}",
                    kind="bad_response",
                    latency_s=latency,
                ) from None
            return reply_from_json(data, latency, what="the command's stdout")
        return TargetReply(output=text, latency_s=latency)


# --------------------------------------------------------------------------- specs

TARGET_KINDS: dict[str, type[Target]] = {
    "http": HttpTarget,
    "openai": OpenAITarget,
    "python": PythonTarget,
    "command": CommandTarget,
}
SPEC_HELP = (
    "write http:URL, openai:MODEL[@BASE_URL], python:MODULE:FUNCTION or command:SHELL COMMAND"
)


def _option_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_target_spec(spec: str) -> dict[str, Any]:
    """Turn a ``--target`` string into a target config mapping (see the module docstring)."""
    spec = spec.strip()
    if spec.startswith(("http://", "https://")):
        spec = f"http:{spec}"
    kind, sep, body = spec.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in TARGET_KINDS:
        raise TargetConfigError(f"target {spec!r} is not valid; {SPEC_HELP}")
    if kind == "command":
        return {"kind": "command", "command": body.strip()}
    body, *options = body.split(";")
    config: dict[str, Any] = {"kind": kind}
    body = body.strip()
    if kind == "http":
        config["url"] = body
    elif kind == "openai":
        model, at, base = body.partition("@")
        if at and not base.startswith(("http://", "https://")):
            raise TargetConfigError(
                f"target {spec!r}: after '@' comes the base URL, e.g. openai:MODEL@http://127.0.0.1:8000/v1"
            )
        config["model"] = model.strip()
        if at:
            config["base_url"] = base.strip()
    else:
        config["callable"] = body
    for option in options:
        if not option.strip():
            continue
        key, eq, value = option.partition("=")
        if not eq or not key.strip():
            raise TargetConfigError(f"target option {option!r} is not valid; write ;key=value")
        config[key.strip()] = _option_value(value.strip())
    return config


def secret_options(config: Mapping[str, Any]) -> list[str]:
    """The options of a target config that would hold a key itself (``api_key``), sorted.

    Options naming where a key lives (``api_key_env``, ``api_key_header``) and
    every option some target kind takes are not counted.
    """
    known = {name for cls in TARGET_KINDS.values() for name in cls.OPTIONS}  # type: ignore[attr-defined]
    return sorted(str(k) for k in config if str(k) not in known and looks_secret(str(k)))


def target_from_config(
    config: Mapping[str, Any], *, env: Mapping[str, str] | None = None
) -> Target:
    """Build a target from a config mapping with a ``kind`` key (a TOML/YAML ``[target]`` table)."""
    if not isinstance(config, Mapping):
        raise TargetConfigError(f"a target config must be a table with a 'kind'; {SPEC_HELP}")
    options = dict(config)
    kind = options.pop("kind", None)
    if kind is None:
        for candidate, key in (
            ("http", "url"),
            ("openai", "base_url"),
            ("python", "callable"),
            ("command", "command"),
        ):
            if key in options:
                kind = candidate
                break
    cls = TARGET_KINDS.get(str(kind).lower()) if kind is not None else None
    if cls is None:
        raise TargetConfigError(
            f"target kind {kind!r} is unknown; use one of {', '.join(TARGET_KINDS)}"
        )
    if "system" in options and cls is OpenAITarget:
        options["system_prompt"] = options.pop("system")
    if "function" in options and cls is PythonTarget:
        options["callable"] = options.pop("function")
    allowed: tuple[str, ...] = cls.OPTIONS  # type: ignore[attr-defined]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        hint = (
            " (keys are read from environment variables: use api_key_env)"
            if any(looks_secret(k) for k in unknown)
            else ""
        )
        raise TargetConfigError(
            f"{cls.kind} target: unknown option {unknown[0]!r}{hint}; options are {', '.join(allowed)}"
        )
    first = allowed[0]
    if first not in options:
        raise TargetConfigError(f"{cls.kind} target needs {first!r}; {SPEC_HELP}")
    positional = options.pop(first)
    if cls in (HttpTarget, OpenAITarget):
        options["env"] = env
    try:
        return cls(positional, **options)  # type: ignore[call-arg]
    except TypeError as e:
        raise TargetConfigError(f"{cls.kind} target: {e}") from None


def make_target(spec: str | Mapping[str, Any], *, env: Mapping[str, str] | None = None) -> Target:
    """A target from a ``--target`` string or a config mapping; errors are :class:`TargetConfigError`."""
    config = parse_target_spec(spec) if isinstance(spec, str) else spec
    return target_from_config(config, env=env)
