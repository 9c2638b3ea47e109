"""``eval compare``: two runs paired by (case, epoch), and the paired statistics of ``domain.stats``.

The measure compared is, in order of preference: a scorer both runs have
verdicts from (``--scorer`` picks one; default the first shared), else the
target's own score, else completion (1 completed, 0 failed). A pair "passes"
by the scorer's pass/fail, else a target score ≥ 0.7, else completion. A
rollout that failed counts as score 0 and not passed.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from domain.errors import InvalidCommand
from domain.verdicts import DEFAULT_PASS_THRESHOLD, rollouts
from shell.commands import eval_report

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Side:
    score: float
    passed: bool
    row: dict[str, Any]


def _measure(conn: sqlite3.Connection, run_id: str, basis: str) -> dict[tuple[str, int], Side]:
    rows = eval_report.rollout_rows(conn, run_id)
    by_pair: dict[tuple[str, int], Any] = {}
    if basis.startswith("scorer:"):
        name = basis.removeprefix("scorer:")
        for r in rollouts(v for v in eval_report.verdicts(conn, run_id) if v.scorer == name):
            by_pair[(r.case_id, r.epoch)] = r
    out = {}
    for row in rows:
        key = (row["case_id"], row["epoch"])
        ok = row["status"] == "completed"
        if basis.startswith("scorer:"):
            v = by_pair.get(key)
            if ok and (v is None or v.passed is None):
                continue  # not scored (or abstained): not comparable
            score, passed = (
                (float(v.score or 0.0), bool(v.passed)) if ok and v is not None else (0.0, False)
            )
        elif basis == "target_score":
            if ok and row["score"] is None:
                continue
            score = float(row["score"]) if ok else 0.0
            passed = ok and score >= DEFAULT_PASS_THRESHOLD
        else:
            score, passed = (1.0, True) if ok else (0.0, False)
        out[key] = Side(score, passed, row)
    return out


def choose_basis(conn: sqlite3.Connection, run_a: str, run_b: str, scorer: str | None) -> str:
    names_a = {v.scorer for v in eval_report.verdicts(conn, run_a)}
    names_b = {v.scorer for v in eval_report.verdicts(conn, run_b)}
    if scorer is not None:
        if scorer not in names_a or scorer not in names_b:
            raise InvalidCommand(
                f"scorer {scorer!r} has not scored both runs; shared scorers: "
                f"{', '.join(sorted(names_a & names_b)) or 'none'}"
            )
        return f"scorer:{scorer}"
    shared = [v.scorer for v in eval_report.verdicts(conn, run_a) if v.scorer in names_b]
    if shared:
        return f"scorer:{shared[0]}"
    a_scores = any(r["score"] is not None for r in eval_report.rollout_rows(conn, run_a))
    b_scores = any(r["score"] is not None for r in eval_report.rollout_rows(conn, run_b))
    return "target_score" if a_scores and b_scores else "completion"


def variant_names(run_a: str, run_b: str) -> tuple[str, str]:
    """A/B variant names for the two runs: their ids when they are distinct slugs, else ``a``/``b``."""
    a, b = run_a.lower(), run_b.lower()
    if SLUG_RE.match(a) and SLUG_RE.match(b) and a != b:
        return a, b
    return "a", "b"


def compare(
    conn: sqlite3.Connection, run_a: str, run_b: str, scorer: str | None = None
) -> dict[str, Any]:
    """Pairs, wins/losses/ties, regressions, improvements, and the paired analysis (B against A)."""
    basis = choose_basis(conn, run_a, run_b, scorer)
    a, b = _measure(conn, run_a, basis), _measure(conn, run_b, basis)
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
    va, vb = variant_names(run_a, run_b)
    data: dict[str, Any] = {
        "run_a": run_a,
        "run_b": run_b,
        "basis": basis,
        "variants": [va, vb],
        "pairs": len(keys),
        "only_in_a": len(set(a) - set(b)),
        "only_in_b": len(set(b) - set(a)),
        "wins": wins,
        "losses": losses,
        "ties": ties,
        "a_pass_rate": sum(a[k].passed for k in keys) / len(keys) if keys else None,
        "b_pass_rate": sum(b[k].passed for k in keys) / len(keys) if keys else None,
        "regressions": [p for p in pairs if p["a_passed"] and not p["b_passed"]],
        "improvements": [p for p in pairs if p["b_passed"] and not p["a_passed"]],
        "rows": pairs,
        "analysis": None,
    }
    if len(keys) >= 2:
        from domain.stats import AnalysisInput, ResultRow, analyze, variant_data_from_rows

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
        metric = "success" if basis == "completion" else "score"
        analysis = analyze(
            AnalysisInput(
                test=f"{run_a} vs {run_b}",
                variants=variant_data_from_rows(rows, [va, vb]),
                control=va,
                metric=metric,
                rows=tuple(rows),
                min_results=2,
            )
        )
        data["analysis"] = analysis.to_json()
    return data


def ab_results(data: dict[str, Any], conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """A/B results for every paired rollout of both runs, with ``case_id`` so ``ab analyze`` pairs them."""
    basis = data["basis"]
    a, b = _measure(conn, data["run_a"], basis), _measure(conn, data["run_b"], basis)
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
