"""The seed tool's results table, read from the eval read model (``eval show RUN --columns synth``).

Columns, as synth-ai's ``eval`` prints them (``synth_ai/cli/commands/eval/runner.py``,
``EvalResult``): ``seed, score, reward_mean, outcome, events, latency_ms, verifier,
tokens, cost_usd, error``, one row per rollout outcome (epoch by epoch, in suite
order), then an average row: the mean of each column over the rows that have a
value (``None`` when none has). Also each row's ``case_id``, ``epoch`` and ``cached``.

- ``seed``: the case's seed (a seed suite's case ``seed-7`` is 7); the case id for a case without one;
- ``score``: the rollout's score; ``reward_mean``, ``outcome``, ``events``, ``verifier``:
  the rollout's metrics ``reward_mean`` (else its reward), ``outcome_score``,
  ``events_score``, ``verifier_score``;
- ``latency_ms``: measured latency (none for a cached rollout: it was not measured);
- ``tokens``: prompt + completion tokens, else the metric ``tokens``;
- ``cost_usd``, ``error``: as recorded.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

COLUMNS = (
    "seed",
    "score",
    "reward_mean",
    "outcome",
    "events",
    "latency_ms",
    "verifier",
    "tokens",
    "cost_usd",
    "error",
)
#: the columns averaged in the last row: all but the seed and the error
NUMERIC = tuple(c for c in COLUMNS if c not in ("seed", "error"))


def _seed(case_id: str) -> int | str:
    head, sep, tail = case_id.partition("-")
    if head == "seed" and sep and tail.lstrip("-").isdigit():
        return int(tail)
    return case_id


def seed_table(conn: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    """``{"columns", "rows", "average", "cached"}`` for ``run_id`` (see the module docstring)."""
    found = conn.execute(
        "SELECT case_id, epoch, status, score, reward, latency_s, prompt_tokens, completion_tokens, "
        "cost_usd, error, metrics, cached FROM eval_rollouts WHERE run_id = ? AND is_latest = 1 "
        "ORDER BY epoch, case_index, case_id",
        (run_id,),
    ).fetchall()
    rows = []
    for (
        case_id,
        epoch,
        _status,
        score,
        reward,
        latency,
        pt,
        ct,
        cost,
        error,
        metrics,
        cached,
    ) in found:
        m = json.loads(metrics) if metrics else {}
        tokens = (pt or 0) + (ct or 0) if (pt is not None or ct is not None) else m.get("tokens")
        rows.append(
            {
                "case_id": case_id,
                "epoch": epoch,
                "seed": _seed(case_id),
                "score": score,
                "reward_mean": m.get("reward_mean", reward),
                "outcome": m.get("outcome_score"),
                "events": m.get("events_score"),
                "latency_ms": None if latency is None else latency * 1000.0,
                "verifier": m.get("verifier_score"),
                "tokens": None if tokens is None else int(tokens),
                "cost_usd": cost,
                "error": error,
                "cached": bool(cached),
            }
        )
    average: dict[str, Any] = {}
    for name in NUMERIC:
        values = [r[name] for r in rows if r[name] is not None]
        average[name] = sum(values) / len(values) if values else None
    return {
        "columns": list(COLUMNS),
        "rows": rows,
        "average": average,
        "cached": sum(1 for r in rows if r["cached"]),
    }
