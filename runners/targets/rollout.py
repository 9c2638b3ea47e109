"""The ``rollout`` target: a synth-ai task app, spoken to in its own contract.

Followed (read with the search tool; public synth-ai sources):

- the request and response models ``RolloutRequest`` / ``RolloutEnvSpec`` /
  ``RolloutPolicySpec`` / ``RolloutRecordConfig`` / ``RolloutResponse`` /
  ``RolloutMetrics`` in ``synth_ai/sdk/task/contracts.py`` (and the older
  ``synth_ai/task/contracts.py``): ``mode`` is required ("rl" or "eval"), ``ops``
  is a list, ``record.trace_format`` is "compact", "full" or "structured";
- how ``synth-ai eval`` builds and reads them, ``synth_ai/cli/commands/eval/runner.py``
  (``_build_rollout_request``, ``_eval_seed``): ``env.seed`` is the configured seed,
  ``output_mode`` / ``structured_config`` move from ``policy_config`` onto the policy,
  the key from ``ENVIRONMENT_API_KEY`` goes in ``X-API-Key`` (``TaskAppContract``),
  ``verifier_score``, ``tokens`` and ``cost_usd`` are read from ``metrics.details``.

Spec::

    rollout:http://127.0.0.1:8103            (the task app's base URL; /rollout and /health under it)
    {"kind": "rollout", "url": "...", "env_name": "banking77", "env_config": {...},
     "policy_name": "...", "policy_config": {"model": "gpt-4o-mini"}, "return_trace": true,
     "trace_format": "compact", "mode": "eval", "api_key_env": "ENVIRONMENT_API_KEY",
     "app_id": "banking77", "model": "..."}

``api_key_env`` names the variable holding the task app's key (default
``ENVIRONMENT_API_KEY``; ``"none"`` for an app that takes no key); it is read when
the target is built, sent as ``X-API-Key`` and never recorded.

Request (``POST {url}/rollout``)::

    {"run_id": "RUN/CASE/EPOCH/ATTEMPT", "trace_correlation_id": same,
     "env": {"env_name", "config": env_config, "seed": SEED},
     "policy": {"policy_name", "config": policy_config + the run's policy [, "output_mode", "structured_config"]},
     "ops": [], "record": {"trajectories": true, "logprobs": false, "value": false,
     "return_trace", "trace_format"}, "on_done": "reset", "mode": "eval"}

``SEED`` is the case's seed exactly (a seed suite's case ``seed-7`` sends 7).

Response: a ``RolloutResponse``. The score is ``metrics.outcome_score``, else
``metrics.reward_mean``, else (older task apps) ``metrics.mean_return``; the reward is
``reward_mean`` (or ``mean_return``). Recorded as the rollout's metrics, when
present: ``outcome_score``, ``events_score``, ``reward_mean``, ``mean_return``,
``verifier_score`` and ``tokens`` (from ``metrics.details``). Tokens split into
prompt/completion come from ``metrics.details.usage`` (or ``prompt_tokens`` /
``completion_tokens`` there), the cost from ``metrics.details.cost_usd``. The trace
(``trace``, when ``return_trace``) is stored as a blob; the output is the rest of
the response (without ``trace``).

``GET {url}/health`` (with the key) is checked before the run starts: any answer
but 2xx stops it with one line naming the URL and the status.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from trialbook.runners.eval_errors import RolloutRefused, TargetConfigError, TargetUnavailable
from trialbook.runners.http_client import (
    error_from_status,
    redact_url,
)
from trialbook.runners.http_wire import WireClient
from trialbook.runners.targets.base import (
    PREFLIGHT_TIMEOUT,
    RolloutRequest,
    Target,
    TargetReply,
    check_url,
    probe,
    read_key,
    response_json,
    usage_tokens,
)

DEFAULT_KEY_ENV = "ENVIRONMENT_API_KEY"
KEY_HEADER = "X-API-Key"
MODES = ("eval", "rl")
TRACE_FORMATS = ("compact", "full", "structured")
#: ``metrics`` fields recorded by name (numbers only)
METRIC_FIELDS = ("outcome_score", "events_score", "reward_mean", "mean_return")
#: ``metrics.details`` fields recorded by name
DETAIL_FIELDS = ("verifier_score", "tokens")
#: ``policy_config`` keys that synth-ai moves onto the policy itself
POLICY_LIFTED = ("output_mode", "structured_config")


def base_url(url: str) -> str:
    """The task app's base URL: ``url`` without a trailing ``/rollout`` or ``/``."""
    url = url.rstrip("/")
    return url.removesuffix("/rollout").rstrip("/")


class RolloutTarget(WireClient, Target):
    """A synth-ai task app: one ``POST /rollout`` per rollout (see the module docstring)."""

    kind = "rollout"
    OPTIONS = (
        "url",
        "env_name",
        "env_config",
        "policy_name",
        "policy_config",
        "return_trace",
        "trace_format",
        "mode",
        "api_key_env",
        "app_id",
        "model",
    )

    def __init__(
        self,
        url: str,
        *,
        env_name: str | None = None,
        env_config: Mapping[str, Any] | None = None,
        policy_name: str | None = None,
        policy_config: Mapping[str, Any] | None = None,
        return_trace: bool = False,
        trace_format: str = "compact",
        mode: str = "eval",
        api_key_env: str | None = DEFAULT_KEY_ENV,
        app_id: str | None = None,
        model: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.url = base_url(check_url(url, "rollout target"))
        if "?" in self.url or "#" in self.url:
            # /health and /rollout are appended to the base URL: after a query they land in it
            raise TargetConfigError(
                f"rollout target URL {redact_url(self.url)!r} has a query or fragment; give the "
                "task app's base URL, e.g. http://127.0.0.1:8103 (its key goes in the "
                "variable api_key_env names)"
            )
        self.env_name = _text(env_name, "env_name")
        self.env_config = _table(env_config, "env_config")
        self.policy_name = _text(policy_name, "policy_name")
        self.policy_config = _table(policy_config, "policy_config")
        if not isinstance(return_trace, bool):
            raise TargetConfigError("rollout target: return_trace must be true or false")
        self.return_trace = return_trace
        if trace_format not in TRACE_FORMATS:
            raise TargetConfigError(
                f"rollout target: trace_format {trace_format!r} is not one of {', '.join(TRACE_FORMATS)}"
            )
        self.trace_format = trace_format
        if mode not in MODES:
            raise TargetConfigError(
                f"rollout target: mode {mode!r} is not one of {', '.join(MODES)}"
            )
        self.mode = mode
        self.app_id = _text(app_id, "app_id")
        self.model = _text(model, "model") or _text(self.policy_config.get("model"), "model")
        if api_key_env is not None and str(api_key_env).lower() == "none":
            api_key_env = None
        self.api_key_env = api_key_env
        key = read_key(os.environ if env is None else env, api_key_env, "rollout target")
        self._default_headers = {KEY_HEADER: key} if key is not None else {}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "url": redact_url(self.url)}
        for name in ("app_id", "env_name", "policy_name", "model"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        if self.env_config:
            out["env_config"] = self.env_config
        if self.policy_config:
            out["policy_config"] = self.policy_config
        out["return_trace"] = self.return_trace
        out["trace_format"] = self.trace_format
        out["mode"] = self.mode
        out["api_key_env"] = self.api_key_env or "none"
        return out

    async def preflight(self, timeout: float = PREFLIGHT_TIMEOUT) -> None:
        health = f"{self.url}/health"
        response = await probe(health, "rollout", timeout, headers=self._default_headers)
        if response.status_code < 300:
            return
        where = redact_url(health)
        if response.status_code in (401, 403):
            key = (
                f"the key in {self.api_key_env}"
                if self.api_key_env
                else "no key (api_key_env is none)"
            )
            raise TargetUnavailable(
                f"the task app at {where} refused {key} (HTTP {response.status_code}); "
                f"set {self.api_key_env or DEFAULT_KEY_ENV} to the key the task app expects"
            )
        raise TargetUnavailable(
            f"the task app at {where} answered HTTP {response.status_code}, not 200; "
            "is it running and healthy?"
        )

    def payload(self, request: RolloutRequest) -> dict[str, Any]:
        """The RolloutRequest body for one try (see the module docstring)."""
        config = {**self.policy_config, **dict(request.policy)}
        policy: dict[str, Any] = {"policy_name": self.policy_name}
        for name in POLICY_LIFTED:
            if name in config:
                policy[name] = config.pop(name)
        policy["config"] = config
        rollout_id = f"{request.run_id}/{request.case.id}/{request.epoch}/{request.attempt}"
        return {
            "run_id": rollout_id,
            "trace_correlation_id": rollout_id,
            "env": {
                "env_name": self.env_name,
                "config": dict(self.env_config),
                "seed": request.seed,
            },
            "policy": policy,
            "ops": [],
            "record": {
                "trajectories": True,
                "logprobs": False,
                "value": False,
                "return_trace": self.return_trace,
                "trace_format": self.trace_format,
            },
            "on_done": "reset",
            "mode": self.mode,
        }

    def cache_request(self, request: RolloutRequest) -> dict[str, Any]:
        body = self.payload(request)
        del body["run_id"], body["trace_correlation_id"]
        return {"body": body, "epoch": request.epoch}

    async def call(self, request: RolloutRequest) -> TargetReply:
        url = f"{self.url}/rollout"
        response = await self._post(url, self.payload(request))
        latency = response.latency_s
        if response.status_code >= 300:
            raise error_from_status(response, latency, url)
        what = f"the response from {redact_url(url)}"
        return read_rollout_response(response_json(response, latency, what), latency, what=what)


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TargetConfigError(f"rollout target: {name} must be text")
    return value or None


def _table(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TargetConfigError(f"rollout target: {name} must be a table")
    return {str(k): v for k, v in value.items()}


def _metric(value: Any, name: str, what: str, latency_s: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise RolloutRefused(
            f"{what} has metrics.{name} = {value!r}; it must be a number or absent",
            kind="bad_response",
            latency_s=latency_s,
        )
    try:
        number = float(value)
    except OverflowError:  # a JSON integer too large for a float (1 followed by 400 zeros)
        number = math.inf
    if not math.isfinite(number):
        shown = f"{value!r}" if isinstance(value, float) else "an integer too large for a number"
        raise RolloutRefused(
            f"{what} has metrics.{name} = {shown}; it must be finite",
            kind="bad_response",
            latency_s=latency_s,
        )
    return number


def read_rollout_response(data: Any, latency_s: float, *, what: str) -> TargetReply:
    """Read a synth-ai ``RolloutResponse``; :class:`RolloutRefused` naming the problem otherwise."""
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict):
        raise RolloutRefused(
            f'{what} has no "metrics" object; a task app answers a RolloutResponse '
            '{"run_id", "trajectories", "metrics": {"outcome_score" or "reward_mean", …}}',
            kind="bad_response",
            latency_s=latency_s,
        )
    details = metrics.get("details") or {}
    if not isinstance(details, dict):
        raise RolloutRefused(
            f'{what} has "metrics.details" that is not an object',
            kind="bad_response",
            latency_s=latency_s,
        )
    found: dict[str, float] = {}
    for name in METRIC_FIELDS:
        v = _metric(metrics.get(name), name, what, latency_s)
        if v is not None:
            found[name] = v
    for name in DETAIL_FIELDS:
        v = _metric(details.get(name), f"details.{name}", what, latency_s)
        if v is not None:
            found[name] = v
    score = next(
        (found[n] for n in ("outcome_score", "reward_mean", "mean_return") if n in found), None
    )
    reward = next((found[n] for n in ("reward_mean", "mean_return") if n in found), None)
    cost = _metric(details.get("cost_usd"), "details.cost_usd", what, latency_s)
    if cost is not None and cost < 0:
        raise RolloutRefused(
            f"{what} has a negative metrics.details.cost_usd",
            kind="bad_response",
            latency_s=latency_s,
        )
    prompt_tokens = completion_tokens = None
    usage = details.get("usage")
    if usage is None and ("prompt_tokens" in details or "completion_tokens" in details):
        usage = {k: details.get(k) for k in ("prompt_tokens", "completion_tokens")}
    if usage is not None:
        prompt_tokens, completion_tokens = usage_tokens(usage, what, latency_s)
    trace = data.get("trace")
    output = {k: v for k, v in data.items() if k != "trace"}
    return TargetReply(
        output=output,
        latency_s=latency_s,
        score=score,
        reward=reward,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost,
        trace=trace,
        metrics=found or None,
    )
