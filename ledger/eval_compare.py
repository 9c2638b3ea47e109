"""``eval compare``: two runs paired by (case, epoch), and the paired statistics of ``domain.stats``.

The measure compared is, in order of preference: a scorer both runs have
verdicts from (``--scorer`` picks one; default the first shared), else the
target's own score, else completion (1 completed, 0 failed). A pair "passes"
by the scorer's pass/fail, else a target score ≥ 0.7, else completion.

On a scorer or the target's score, a rollout that failed (the target erred:
no output to score) is not a judgement of the output: such pairs are listed
apart (``failed_rollouts``), as are rollouts whose verdict is a scoring error
or an abstention; wins, losses, regressions and the paired statistics are
over the pairs scored on both sides. Each run's pass rate is over all its own
scored rollouts, as ``eval show`` gives it. On completion, failing is what is
measured, so every pair counts.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trialbook.domain.errors import InvalidCommand
from trialbook.domain.names import NAME_RE
from trialbook.domain.verdicts import DEFAULT_PASS_THRESHOLD, rollouts
from trialbook.projections import eval_queries

if TYPE_CHECKING:
    from trialbook.domain.stats import AnalysisInput

#: confidence level of the fixed-horizon paired interval
CI_LEVEL = 0.95


@dataclass(frozen=True)
class Side:
    score: float
    passed: bool
    row: dict[str, Any]


@dataclass(frozen=True)
class Measured:
    """One run measured on a basis: the scored rollouts, and those left out and why."""

    scored: dict[tuple[str, int], Side]
    #: rollouts that failed (no output to score), with their error
    failed: dict[tuple[str, int], dict[str, Any]]
    #: rollouts whose verdict is a scoring error, with its reason
    scoring_errors: dict[tuple[str, int], str | None]
    #: completed rollouts without a score or pass/fail (abstained, or never scored)
    unscored: set[tuple[str, int]]

    @property
    def pass_rate(self) -> float | None:
        """Share of the scored rollouts that passed (what ``eval show`` gives)."""
        n = len(self.scored)
        return sum(s.passed for s in self.scored.values()) / n if n else None

    def keys(self) -> set[tuple[str, int]]:
        return set(self.scored) | set(self.failed) | set(self.scoring_errors) | self.unscored


def _measure(conn: sqlite3.Connection, run_id: str, basis: str) -> Measured:
    rows = eval_queries.rollout_rows(conn, run_id)
    by_pair: dict[tuple[str, int], Any] = {}
    if basis.startswith("scorer:"):
        name = basis.removeprefix("scorer:")
        for r in rollouts(eval_queries.verdicts(conn, run_id, scorer=name)):
            by_pair[(r.case_id, r.epoch)] = r
    out = Measured({}, {}, {}, set())
    for row in rows:
        key = (row["case_id"], row["epoch"])
        ok = row["status"] == "completed"
        if basis == "completion":
            out.scored[key] = Side(1.0 if ok else 0.0, ok, row)
            continue
        if not ok:
            out.failed[key] = row
            continue
        if basis.startswith("scorer:"):
            v = by_pair.get(key)
            if v is not None and v.scoring_error:
                out.scoring_errors[key] = v.error
            elif v is None or v.passed is None or v.score is None:
                out.unscored.add(key)  # not scored (or abstained): not comparable
            else:
                out.scored[key] = Side(float(v.score), bool(v.passed), row)
        elif row["score"] is None:
            out.unscored.add(key)
        else:
            score = float(row["score"])
            out.scored[key] = Side(score, score >= DEFAULT_PASS_THRESHOLD, row)
    return out


def _t_interval(
    mean: float,
    spread: float,
    per: float,
    df: int,
    level: float,
    bounds: tuple[float, float] | None,
) -> list[float]:
    """``mean ± t(level, df) · spread / per``, limited to ``bounds`` (the range the mean can
    take; the true value always lies there, so coverage is kept)."""
    from scipy.stats import t

    half = float(t.ppf(1 - (1 - level) / 2, df)) * spread / per
    lo, hi = mean - half, mean + half
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return [lo, hi]


def paired_interval(
    diffs: Sequence[float],
    level: float = CI_LEVEL,
    bounds: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """The fixed-horizon paired t interval for the mean of ``diffs`` (B − A per pair).

    ``mean ± t(level, n − 1) · sd / √n``, as ``scipy.stats.ttest_rel(b, a)
    .confidence_interval(level)`` gives it, then limited to ``bounds`` (the
    range a mean difference can take, e.g. −1 to 1 for scores in [0, 1]; the
    true difference always lies there, so coverage is kept). ``ci`` is
    ``None`` with fewer than 2 pairs or when the differences do not vary.
    """
    n = len(diffs)
    mean = sum(diffs) / n if n else None
    sd = None
    ci: list[float] | None = None
    note = None
    if n < 2:
        note = "fewer than 2 pairs scored on both sides"
    else:
        assert mean is not None
        sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
        if sd == 0.0:
            note = "the differences do not vary"
        else:
            ci = _t_interval(mean, sd, math.sqrt(n), n - 1, level, bounds)
    return {
        "method": "paired t interval (fixed-horizon)",
        "pairs": n,
        "level": level,
        "lift": mean,
        "sd": sd,
        "ci": ci,
        "note": note,
    }


def clustered_interval(
    diffs: Sequence[float],
    clusters: Sequence[str],
    level: float = CI_LEVEL,
    bounds: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """The paired interval for the mean of ``diffs`` clustered by ``clusters`` (the case id).

    With several epochs of a case, its differences are not independent (a hard
    case is hard in every epoch), so the interval treats each case as one draw:
    the mean difference is the OLS intercept of ``diffs`` on a constant, its
    variance the cluster-robust (CR1) sandwich
    ``G/(G−1) · (N−1)/(N−1) · Σ_g (Σ_{i∈g} e_i)² / N²`` (``e`` the residuals,
    ``G`` clusters, ``N`` pairs; the second factor is 1 with one regressor),
    and the interval uses t with ``G − 1`` degrees of freedom: what
    ``statsmodels`` OLS ``fit(cov_type="cluster", cov_kwds={"groups": …},
    use_t=True).conf_int()`` gives. With one pair per case it equals
    :func:`paired_interval`. Limited to ``bounds`` like it; ``ci`` is ``None``
    with fewer than 2 cases or when the cluster sums do not vary.
    """
    n = len(diffs)
    groups: dict[str, list[float]] = {}
    for d, g in zip(diffs, clusters, strict=True):
        groups.setdefault(g, []).append(d)
    g_n = len(groups)
    mean = sum(diffs) / n if n else None
    se = None
    ci: list[float] | None = None
    note = None
    if g_n < 2:
        note = "fewer than 2 cases scored on both sides"
    else:
        assert mean is not None
        meat = sum(sum(d - mean for d in ds) ** 2 for ds in groups.values())
        se = math.sqrt(g_n / (g_n - 1) * meat) / n
        if se == 0.0:
            note = "the differences do not vary between cases"
        else:
            ci = _t_interval(mean, se, 1.0, g_n - 1, level, bounds)
    return {
        "method": "cluster-robust paired interval (CR1, clustered by case, t with G-1 df)",
        "pairs": n,
        "clusters": g_n,
        "level": level,
        "lift": mean,
        "se": se,
        "ci": ci,
        "note": note,
    }


def choose_basis(conn: sqlite3.Connection, run_a: str, run_b: str, scorer: str | None) -> str:
    ordered_a = eval_queries.scorer_names(conn, run_a)  # not the verdicts: names only
    names_a, names_b = set(ordered_a), set(eval_queries.scorer_names(conn, run_b))
    if scorer is not None:
        if scorer not in names_a or scorer not in names_b:
            raise InvalidCommand(
                f"scorer {scorer!r} has not scored both runs; shared scorers: "
                f"{', '.join(sorted(names_a & names_b)) or 'none'}"
            )
        return f"scorer:{scorer}"
    shared = [name for name in ordered_a if name in names_b]
    if shared:
        return f"scorer:{shared[0]}"
    a_scores = any(r["score"] is not None for r in eval_queries.rollout_rows(conn, run_a))
    b_scores = any(r["score"] is not None for r in eval_queries.rollout_rows(conn, run_b))
    return "target_score" if a_scores and b_scores else "completion"


def variant_names(run_a: str, run_b: str) -> tuple[str, str]:
    """A/B variant names for the two runs: their ids when they are distinct slugs, else ``a``/``b``."""
    a, b = run_a.lower(), run_b.lower()
    if NAME_RE.match(a) and NAME_RE.match(b) and a != b:
        return a, b
    return "a", "b"


def compare(
    conn: sqlite3.Connection, run_a: str, run_b: str, scorer: str | None = None
) -> dict[str, Any]:
    """Pairs, wins/losses/ties, regressions, improvements, and the paired analysis (B against A)."""
    basis = choose_basis(conn, run_a, run_b, scorer)
    ma, mb = _measure(conn, run_a, basis), _measure(conn, run_b, basis)
    a, b = ma.scored, mb.scored
    keys = [k for k in a if k in b]
    pairs = []
    wins = losses = ties = 0
    for k in keys:
        d = b[k].score - a[k].score
        outcome = "win" if d > 0 else "loss" if d < 0 else "tie"
        wins += outcome == "win"
        losses += outcome == "loss"
        ties += outcome == "tie"
        pairs.append(
            {
                "case_id": k[0],
                "epoch": k[1],
                "a_score": a[k].score,
                "b_score": b[k].score,
                "a_passed": a[k].passed,
                "b_passed": b[k].passed,
                "outcome": outcome,
            }
        )
    both = ma.keys() & mb.keys()
    failed = []
    for k in sorted(both, key=lambda k: (k[1], k[0])):
        in_a, in_b = k in ma.failed, k in mb.failed
        if in_a or in_b:
            failed.append(
                {
                    "case_id": k[0],
                    "epoch": k[1],
                    "failed_in": "both" if in_a and in_b else run_a if in_a else run_b,
                    "a_error": ma.failed[k]["error"] if in_a else None,
                    "b_error": mb.failed[k]["error"] if in_b else None,
                }
            )
    va, vb = variant_names(run_a, run_b)
    bounds = None if basis == "target_score" else (-1.0, 1.0)
    data: dict[str, Any] = {
        "run_a": run_a,
        "run_b": run_b,
        "basis": basis,
        "variants": [va, vb],
        "pairs": len(keys),
        "only_in_a": len(ma.keys() - mb.keys()),
        "only_in_b": len(mb.keys() - ma.keys()),
        "wins": wins,
        "losses": losses,
        "ties": ties,
        # each run's own pass rate over its scored rollouts, as `eval show` gives it
        "a_pass_rate": ma.pass_rate,
        "b_pass_rate": mb.pass_rate,
        "a_scored": len(a),
        "b_scored": len(b),
        "regressions": [p for p in pairs if p["a_passed"] and not p["b_passed"]],
        "improvements": [p for p in pairs if p["b_passed"] and not p["a_passed"]],
        "failed_rollouts": failed,
        "scoring_errors": {"a": len(ma.scoring_errors), "b": len(mb.scoring_errors)},
        "unscored": {"a": len(ma.unscored), "b": len(mb.unscored)},
        "cases": len({k[0] for k in keys}),
        "epochs": len({k[1] for k in keys}),
        "paired": paired_interval([b[k].score - a[k].score for k in keys], bounds=bounds),
        # epochs of one case are not independent: with more than one pair per case, this is the
        # interval to read (eval compare prints it); with one per case it equals `paired`
        "clustered": clustered_interval(
            [b[k].score - a[k].score for k in keys], [k[0] for k in keys], bounds=bounds
        ),
        "rows": pairs,
        "analysis": None,
    }
    inp = _analysis_input(run_a, run_b, basis, ma, mb)
    if inp is not None:
        from trialbook.domain.stats import analyze

        data["analysis"] = analyze(inp).to_json()
    return data


def _analysis_input(
    run_a: str, run_b: str, basis: str, ma: Measured, mb: Measured
) -> AnalysisInput | None:
    """The A/B analysis input of the always-valid comparison: one result per side of each pair
    (in pair order, ``case_id`` ``CASE#EPOCH`` so they pair), or None with fewer than 2 pairs."""
    a, b = ma.scored, mb.scored
    keys = [k for k in a if k in b]
    if len(keys) < 2:
        return None
    from trialbook.domain.stats import AnalysisInput, ResultRow, variant_data_from_rows

    va, vb = variant_names(run_a, run_b)
    rows = []
    for k in keys:
        for name, side in ((va, a[k]), (vb, b[k])):
            rows.append(
                ResultRow(
                    variant=name,
                    values={"score": side.score, "success": float(side.passed)},
                    case_id=f"{k[0]}#{k[1]}",
                    failed=side.row["status"] != "completed",
                )
            )
    return AnalysisInput(
        test=f"{run_a} vs {run_b}",
        variants=variant_data_from_rows(rows, [va, vb]),
        control=va,
        metric="success" if basis == "completion" else "score",
        rows=tuple(rows),
        min_results=2,
    )


def analysis_input(
    conn: sqlite3.Connection, run_a: str, run_b: str, scorer: str | None = None
) -> AnalysisInput | None:
    """The :class:`~trialbook.domain.stats.AnalysisInput` whose analysis is :func:`compare`'s
    ``analysis`` (B against A, on the same basis and pairs), rows included, so
    ``interval_history`` can draw its lift after every pair; None with fewer than 2 pairs."""
    basis = choose_basis(conn, run_a, run_b, scorer)
    return _analysis_input(
        run_a, run_b, basis, _measure(conn, run_a, basis), _measure(conn, run_b, basis)
    )


def ab_results(data: dict[str, Any], conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """A/B results for every paired rollout of both runs, with ``case_id`` so ``ab analyze`` pairs them."""
    basis = data["basis"]
    a = _measure(conn, data["run_a"], basis).scored
    b = _measure(conn, data["run_b"], basis).scored
    out = []
    for p in data["rows"]:
        k = (p["case_id"], p["epoch"])
        for variant, run_id, side in (
            (data["variants"][0], data["run_a"], a[k]),
            (data["variants"][1], data["run_b"], b[k]),
        ):
            r = side.row
            tokens = (
                None
                if r["prompt_tokens"] is None and r["completion_tokens"] is None
                else ((r["prompt_tokens"] or 0) + (r["completion_tokens"] or 0))
            )
            out.append(
                {
                    "variant": variant,
                    "session_id": f"{run_id}:{k[0]}:{k[1]}",
                    "case_id": f"{k[0]}#{k[1]}",
                    "success": side.passed,
                    "score": side.score,
                    "tokens": tokens,
                    "cost": r["cost_usd"],
                    "completion_time": r["latency_s"],
                    "error_messages": [r["error"]] if r["error"] else [],
                }
            )
    return out
