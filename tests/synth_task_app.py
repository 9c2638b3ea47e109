"""A synth-ai style task app on 127.0.0.1 for tests: ``GET /health`` and ``POST /rollout``.

It speaks the contract of synth-ai's ``synth_ai/sdk/task/contracts.py``: the request is
a ``RolloutRequest`` (``run_id``, ``env`` {``env_name``, ``config``, ``seed``}, ``policy``
{``policy_name``, ``config``}, ``ops``, ``record`` {``return_trace``, ``trace_format``, …},
``mode``), checked strictly here (a missing or mistyped field is a 422, as the
pydantic model would answer); the answer is a ``RolloutResponse`` (``run_id``,
``trajectories``, ``metrics`` {``episode_returns``, ``mean_return``, ``num_steps``,
``outcome_score``, ``events_score``, ``details``}, ``trace`` when asked for).

Every request needs ``X-API-Key: <api_key>`` (401 otherwise). The figures are a
fixed function of the seed (:func:`expected_for`), so tests compute what must be
recorded without copying numbers. ``seeds`` lists every seed received, in order;
``rollouts`` counts ``/rollout`` calls; ``health_status`` sets what ``/health``
answers.
"""

from __future__ import annotations

import json
from typing import Any

from tests.servers import Reply, _HttpServer, _json

REQUEST_FIELDS = {"run_id", "env", "policy", "ops", "record", "mode"}
OPTIONAL_FIELDS = {
    "on_done",
    "safety",
    "training_session_id",
    "synth_base_url",
    "trace_correlation_id",
}


def expected_for(seed: int) -> dict[str, Any]:
    """What the app reports for ``seed``: outcome (seed mod 4)/3, and figures derived from it."""
    outcome = (seed % 4) / 3
    return {
        "outcome_score": outcome,
        "events_score": round(1 - outcome / 2, 6),
        "reward_mean": round(outcome * 0.9, 6),
        "verifier_score": round(0.5 + outcome / 4, 6),
        "tokens": 100 + seed,
        "cost_usd": round(0.001 * (seed + 1), 6),
    }


class SynthTaskApp(_HttpServer):
    """The task app (see the module docstring)."""

    def __init__(self, *, api_key: str = "env-key-123", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self.health_status = 200

    def reset(self) -> None:
        super().reset()
        self.seeds: list[int] = []
        self.rollouts = 0
        self.health_calls = 0

    async def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if headers.get("x-api-key") != self.api_key:
            return _json({"detail": "invalid or missing X-API-Key"}, 401)
        if path == "/health" and method == "GET":
            self.health_calls += 1
            return _json({"healthy": self.health_status == 200}, self.health_status)
        if path != "/rollout" or method != "POST":
            return _json({"detail": "not found"}, 404)
        self.rollouts += 1
        try:
            request = json.loads(body)
        except ValueError:
            return _json({"detail": "body is not JSON"}, 422)
        problem = _check(request)
        if problem:
            return _json({"detail": problem}, 422)
        self.bodies.append(request)
        self.headers_seen.append(headers)
        seed = request["env"]["seed"]
        self.seeds.append(seed)
        figures = expected_for(seed)
        response: dict[str, Any] = {
            "run_id": request["run_id"],
            "trajectories": [
                {
                    "env_id": f"{request['env']['env_name']}::{seed}",
                    "policy_id": request["policy"].get("policy_name") or "policy",
                    "steps": [
                        {
                            "obs": {"seed": seed},
                            "tool_calls": [],
                            "reward": figures["outcome_score"],
                            "done": True,
                        }
                    ],
                    "final": {"observation": {"seed": seed}, "reward": figures["outcome_score"]},
                    "length": 1,
                    "inference_url": "http://127.0.0.1/unused?cid=test",
                }
            ],
            "metrics": {
                "episode_returns": [figures["outcome_score"]],
                "mean_return": figures["outcome_score"],
                "num_steps": 1,
                "num_episodes": 1,
                "outcome_score": figures["outcome_score"],
                "events_score": figures["events_score"],
                "reward_mean": figures["reward_mean"],
                "details": {
                    "verifier_score": figures["verifier_score"],
                    "tokens": figures["tokens"],
                    "cost_usd": figures["cost_usd"],
                },
            },
            "aborted": False,
            "ops_executed": 1,
        }
        if request["record"].get("return_trace"):
            response["trace"] = {
                "session_id": request["run_id"],
                "format": request["record"].get("trace_format"),
                "event_history": [{"seed": seed, "usage": {"total_tokens": figures["tokens"]}}],
            }
        return _json(response)


def _check(request: Any) -> str | None:
    """Why ``request`` is not a RolloutRequest, or None."""
    if not isinstance(request, dict):
        return "a RolloutRequest is an object"
    missing = REQUEST_FIELDS - set(request)
    if missing:
        return f"missing field {sorted(missing)[0]}"
    unknown = set(request) - REQUEST_FIELDS - OPTIONAL_FIELDS
    if unknown:
        return f"unknown field {sorted(unknown)[0]}"
    env, policy, record = request["env"], request["policy"], request["record"]
    if not isinstance(env, dict) or not isinstance(env.get("seed"), int):
        return "env.seed must be an integer"
    if not isinstance(env.get("config"), dict):
        return "env.config must be an object"
    if not isinstance(policy, dict) or not isinstance(policy.get("config"), dict):
        return "policy.config must be an object"
    if request["mode"] not in ("eval", "rl"):
        return "mode must be eval or rl"
    if not isinstance(request["ops"], list):
        return "ops must be a list"
    if record.get("trace_format", "compact") not in ("compact", "full", "structured"):
        return "record.trace_format must be compact, full or structured"
    return None
