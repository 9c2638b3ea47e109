"""Quantile guardrails in canaries (issue #21): ``--guardrail completion_time:p95:+10%`` is read,
computed per stage from the recorded values (the projection keeps moments only) and halts a
candidate whose p95 is much slower; the same p95 keeps it going."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import trialbook
from tests.conftest import Invoke, count_events
from trialbook.domain import canary as c
from trialbook.domain.stats import quantiles


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
        "--guardrail", "completion_time:p95:+10%", "--min-results", "20", "--salt", "s",
    )  # fmt: skip
    assert r.exit_code == 0, r.output


def test_a_much_slower_p95_breaks_the_guardrail(invoke: Invoke, db_path: Path) -> None:
    _create(invoke)
    rows = _feed(db_path, slow=1.6)
    with trialbook.open(db_path) as tb:
        doc = tb.canary("r").status()
    text = repr(doc)
    assert "completion_time:p95" in text
    assert "broken" in text
    # the stage's comparison is the two arms' p95 (numpy's quantile)
    a = [float(r["completion_time"]) for r in rows if r["variant"] == "a"]
    b = [float(r["completion_time"]) for r in rows if r["variant"] == "b"]
    want = float(np.quantile(b, 0.95) - np.quantile(a, 0.95))
    assert quantiles.fixed_horizon(b, a, 0.95)["diff"] == pytest.approx(want)
    out = invoke("canary", "status", "r").output
    assert "completion_time:p95:+10% BROKEN" in out and "limit +10%" in out


def test_the_same_p95_is_not_broken(invoke: Invoke, db_path: Path) -> None:
    _create(invoke)
    _feed(db_path, slow=1.0, seed=2)
    with trialbook.open(db_path) as tb:
        doc = tb.canary("r").status()
    assert "broken" not in repr(doc)


def test_quantile_guardrails_parse_and_print_back() -> None:
    g = c.parse_guardrail("completion_time:p95:+10%")
    assert g.metric == "completion_time:p95" and g.relative and g.limit == pytest.approx(0.1)
    assert c.guardrail_text(g) == "completion_time:p95:+10%"
    assert c.parse_guardrail("cost:p99:+0.02").limit == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("guard", "message"),
    [("success:p95:+1%", "success is binary"), ("latency:p95:+1%", "is unknown")],
)
def test_bad_quantile_guardrails_append_nothing(
    invoke: Invoke, db_path: Path, guard: str, message: str
) -> None:
    r = invoke("canary", "create", "r", "--control", "a", "--candidate", "b", "--guardrail", guard)
    assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output
    assert count_events(db_path) == 0


def test_an_identical_candidate_rarely_breaks_a_p95_guardrail_watched_after_every_result() -> None:
    """A/A, 200 canaries of 600 results, one stage, the guardrail checked after every result."""
    from trialbook.domain.metrics import metric_named
    from trialbook.domain.stats import canary as cs
    from trialbook.domain.stats import sequential

    rng = np.random.default_rng(21)
    metric = metric_named("completion_time:p95")
    rho = sequential.rho(0.05, 600.0)
    sims, t = 200, 600
    arm = np.arange(t) % 2
    breaks = 0
    for _ in range(sims):
        y = rng.lognormal(3.0, 1.0, t)
        cand = quantiles.quantile_arm(*quantiles.running_quantile_masked(y, arm == 1, 0.95))
        ctrl = quantiles.quantile_arm(*quantiles.running_quantile_masked(y, arm == 0, 0.95))
        cmp = cs.stratified(metric, [(cand, ctrl)], rho)
        _, _, rlo, _ = cmp.bounds(0.05)
        with np.errstate(invalid="ignore"):
            breaks += bool((rlo > 0).any())  # worse at all, at some look: a false halt
    assert breaks / sims <= 0.05
