"""What every target shares: the request and reply, the :class:`Target` lifecycle,
reading the task-app response shape, and checking a target's URL, key and tables."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from trialbook.domain.suites import Case
from trialbook.runners.eval_errors import RolloutRefused, TargetConfigError, TargetUnavailable
from trialbook.runners.http_client import (
    WireResponse,
    header_safe,
    new_client,
    redact_url,
    snippet,
    split_url,
)

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
    #: further named numbers the target reported (recorded as the rollout's ``metrics``)
    metrics: dict[str, float] | None = None
    #: the reply was read from the response cache (:mod:`trialbook.runners.cache`)
    cached: bool = False


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

    def cache_request(self, request: RolloutRequest) -> dict[str, Any]:
        """What identifies ``request`` for the response cache: what is sent, without the run's id
        (so a later run of the same case can hit), with the epoch (epochs stay separate samples)."""
        return {
            "case": request.case_dict(),
            "epoch": request.epoch,
            "seed": request.seed,
            "policy": dict(request.policy),
        }

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
        reply.prompt_tokens, reply.completion_tokens = usage_tokens(usage, what, latency_s)
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
    if isinstance(value, int) and abs(value) > 2**1023:  # float() of it is an OverflowError
        raise RolloutRefused(
            f'{what} has "{name}": an integer too large for a number; it must be finite',
            kind="bad_response",
            latency_s=latency_s,
        )
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RolloutRefused(
            f'{what} has "{name}": {value!r}; it must be a finite number or absent',
            kind="bad_response",
            latency_s=latency_s,
        )
    return float(value)


def usage_tokens(usage: Any, what: str, latency_s: float) -> tuple[int | None, int | None]:
    """``(prompt_tokens, completion_tokens)`` of a reply's ``usage`` (``input_tokens`` and
    ``output_tokens`` also read); :class:`RolloutRefused` for a malformed one."""
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


def check_url(url: Any, what: str) -> str:
    """``url`` if it is an http(s) URL with a host; :class:`TargetConfigError` naming ``what`` else."""
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


def read_key(env: Mapping[str, str], var: str | None, what: str) -> str | None:
    """The API key in environment variable ``var`` (``None`` when no variable is named);
    :class:`TargetConfigError` when it is not set."""
    if var is None:
        return None
    if not isinstance(var, str) or not var:
        raise TargetConfigError(f"{what}: api_key_env must name an environment variable")
    value = env.get(var)
    if not value:
        state = "is empty" if value is not None else "is not set"
        raise TargetConfigError(
            f"{what}: environment variable {var} {state}; export {var}=… "
            "or set api_key_env to the variable holding your key"
        )
    if not header_safe(value):
        # sent as it is, httpx refuses it mid-request with a message quoting the key
        raise TargetConfigError(
            f"{what}: the key in {var} holds a character an HTTP header cannot carry (a newline, "
            f"a space at an end, or a non-ASCII letter); set {var} to the key alone"
        )
    return value


def text_table(value: Any, what: str) -> dict[str, str]:
    """A table of text values (headers, environment) as a dict; :class:`TargetConfigError` else."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise TargetConfigError(f"{what}: headers must be a table of text values")
    return {str(k): v for k, v in value.items()}


async def probe(
    url: str,
    what: str,
    timeout: float,
    *,
    method: str = "GET",
    shown: str | None = None,
    headers: Mapping[str, str] | None = None,
    hint: str = "is it running and reachable?",
) -> httpx.Response:
    """One request to see whether the ``what`` target answers: its response (any status), or
    :class:`TargetUnavailable` naming the URL (``shown``, redacted) and, on a timeout, ``hint``."""
    where = redact_url(shown or url)
    try:
        async with new_client(timeout, headers=headers) as client:
            return await client.request(method, url)
    except httpx.TimeoutException:
        raise TargetUnavailable(
            f"the {what} target at {where} did not answer within {timeout:g} s; {hint}"
        ) from None
    except httpx.TransportError as e:
        reason = str(e) or type(e).__name__
        raise TargetUnavailable(
            f"cannot reach the {what} target at {where} ({reason}); is it running?"
        ) from None


def response_json(response: WireResponse, latency_s: float, what: str) -> Any:
    """The JSON body of a target's answer; :class:`RolloutRefused` saying "WHAT is not JSON" else."""
    try:
        return response.json()
    except ValueError:
        raise RolloutRefused(
            f"{what} is not JSON: {snippet(response.text, 80)!r}",
            kind="bad_response",
            latency_s=latency_s,
        ) from None
