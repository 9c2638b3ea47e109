"""A quantile as a canary's primary metric (#21): ``canary create --metric completion_time:p95`` is
recorded, each stage's p95 is numpy's quantile of the recorded values, the default guardrail (the
primary may not get worse) halts a much slower candidate and not an identical one (unclear: a zero
limit cannot be shown met), and bad quantiles append nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import trialbook
from tests.conftest import Invoke, count_events


def _feed(db: Path, slow: float, n: int = 600, seed: int = 1) -> list[dict[str, float | str]]:
    rng = np.random.default_rng(seed)
    rows: list[dict[str, float | str]] = []
    for i in range(n):
        v = "b" if i % 2 else "a"
        t = float(rng.lognormal(3.0, 0.3) * (slow if v == "b" else 1.0))
        rows.append({"variant": v, "stage": 1, "completion_time": t, "success": True})
    with trialbook.open(db) as tb:
        tb.canary("r").add_results(rows)  # type: ignore[arg-type]
    return rows


def _create(invoke: Invoke) -> None:
    r = invoke(
        "canary", "create", "r", "--control", "a", "--candidate", "b", "--stages", "50,100",
        "--metric", "completion_time:p95", "--min-results", "20", "--salt", "s",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "guardrails completion_time:p95:+0" in r.output


@pytest.mark.parametrize(("slow", "status"), [(1.6, "broken"), (1.0, "unclear")])
def test_the_primary_p95_is_each_arms_quantile_and_guards_by_default(
    invoke: Invoke, db_path: Path, slow: float, status: str
) -> None:
    _create(invoke)
    rows = _feed(db_path, slow=slow, seed=int(slow * 10))
    with trialbook.open(db_path) as tb:
        doc = tb.canary("r").status()
    a = [float(r["completion_time"]) for r in rows if r["variant"] == "a"]
    b = [float(r["completion_time"]) for r in rows if r["variant"] == "b"]
    assert doc.metric["metric"] == "completion_time:p95" and doc.metric["kind"] == "quantile"
    assert doc.metric["control"] == pytest.approx(float(np.quantile(a, 0.95)))
    assert doc.metric["candidate"] == pytest.approx(float(np.quantile(b, 0.95)))
    (guard,) = doc.guardrails
    assert guard["metric"] == "completion_time:p95" and guard["status"] == status
    out = invoke("canary", "status", "r").output
    assert "Primary metric completion_time:p95" in out and "Traceback" not in out


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ("success:p95", "success is binary"),
        ("latency:p95", "metric 'latency:p95' is unknown"),
        ("completion_time:p150", "is not valid; write METRIC:pNN"),
    ],
)
def test_bad_quantile_metrics_are_one_line_and_append_nothing(
    invoke: Invoke, db_path: Path, metric: str, message: str
) -> None:
    r = invoke("canary", "create", "r", "--control", "a", "--candidate", "b", "--metric", metric)
    assert r.exit_code == 1 and message in r.output
    assert r.output.startswith("Error: ") and len(r.output.strip().splitlines()) == 1
    assert count_events(db_path) == 0
