"""Reads of the eval read model (``eval_*`` tables), returning plain dicts with stable keys.

The data behind ``eval suite list``, ``eval list``, ``eval show`` and ``eval
export`` (their ``--json``), beside :mod:`projections.ab_queries` for A/B tests.
Everything here reads tables through a connection it is given (the live
database, or a point-in-time replay) and writes nothing; rendering stays in
:mod:`shell.commands.eval`, the application side in :mod:`ledger.evals`.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from trialbook.domain.verdict_values import from_normalised
from trialbook.domain.verdicts import (
    DEFAULT_PASS_THRESHOLD,
    Criterion,
    Flag,
    JudgeUsage,
    agreements,
    case_epochs,
    flaky_cases,
    pass_k,
    repeat_disagreements,
    rollouts,
    summarize,
)

ROLLOUT_KEYS = (
    "case_id",
    "epoch",
    "attempt",
    "status",
    "score",
    "reward",
    "latency_s",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "error",
    "error_kind",
    "tries",
    "output",
    "output_blob",
    "trace_blob",
    "model",
)


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0–1) by linear interpolation between order statistics; None when empty."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def list_suites(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every suite's latest version with its number of versions."""
    rows = conn.execute(
        "SELECT name, max(version), count(*) FROM eval_suites GROUP BY name ORDER BY name"
    ).fetchall()
    out = []
    for name, version, versions in rows:
        r = conn.execute(
            "SELECT hash, cases, source, registered_at FROM eval_suites WHERE name = ? AND version = ?",
            (name, version),
        ).fetchone()
        out.append(
            {
                "name": name,
                "version": version,
                "versions": versions,
                "hash": r[0],
                "cases": r[1],
                "source": r[2],
                "registered_at": r[3],
            }
        )
    return out


RUN_COLUMNS = (
    "run_id",
    "name",
    "suite",
    "suite_version",
    "status",
    "epochs",
    "total",
    "completed",
    "failed",
    "attempts",
    "cost_usd",
    "prompt_tokens",
    "completion_tokens",
    "verdicts",
    "started_at",
    "finished_at",
    "interrupt_reason",
    "target",
    "settings",
    "scorers",
    "trialbook_version",
    "git_sha",
    "runner",
)


def _run_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    d = dict(zip(RUN_COLUMNS, row, strict=True))
    for key in ("target", "settings", "scorers", "runner"):
        d[key] = _loads(d[key])
    return d


def list_runs(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every run, oldest first."""
    rows = conn.execute(
        f"SELECT {', '.join(RUN_COLUMNS)} FROM eval_runs ORDER BY started_at, run_id"
    ).fetchall()
    return [_with_runner(_run_dict(r)) for r in rows]


def _stored_run(conn: sqlite3.Connection, run_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        f"SELECT {', '.join(RUN_COLUMNS)} FROM eval_runs WHERE run_id = ?", (run_id,)
    ).fetchone()
    return _run_dict(row) if row else None


def get_run(conn: sqlite3.Connection, run_id: str, *, live: bool = True) -> dict[str, Any] | None:
    """The run's row; ``live=False`` for a point-in-time view (no process to look up)."""
    run = _stored_run(conn, run_id)
    if run is None:
        return None
    if not live:
        run["runner"] = None
        return run
    return _with_runner(run)


def live_runner(conn: sqlite3.Connection, run_id: str) -> dict[str, Any] | None:
    """The ``{host, pid}`` of the process on this host still running RUN, else None."""
    run = _stored_run(conn, run_id)
    if run is None or run["status"] != "running" or runner_state(run["runner"]) != "alive":
        return None
    return dict(run["runner"])


def _with_runner(run: dict[str, Any]) -> dict[str, Any]:
    """``runner`` as shown: whether the run's process lives (see :func:`runner_state`)."""
    run["runner"] = runner_state(run["runner"]) if run["status"] == "running" else None
    return run


def runner_state(process: Any) -> str | None:
    """Whether a run's process still lives: "alive", "gone" or None (can't tell).

    A run is "running" in the log until its process records how it ended; a
    process killed outright (a crash, ``kill -9``, a closed laptop) records
    nothing. ``process`` is the read model's ``runner``: the ``{host, pid}``
    that started or last resumed the run, from that event's metadata. On the
    same host, whether that pid exists says if the run is really still going.
    Another host's run, or an event recorded before trialbook kept the
    process, gives None.
    """
    if not isinstance(process, dict) or process.get("host") != socket.gethostname():
        return None
    pid = process.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except OSError:  # exists, owned by someone else
        return "alive"
    return "alive"


def rollout_rows(
    conn: sqlite3.Connection, run_id: str, case_id: str | None = None
) -> list[dict[str, Any]]:
    """The outcome (latest attempt) of every (case, epoch) pair, epoch by epoch in suite order
    (only ``case_id``'s, found by key, when given)."""
    where, params = "run_id = ? AND is_latest = 1", [run_id]
    if case_id is not None:
        # ``+is_latest``: the primary key's (run_id, case_id) finds the case's few rows, where
        # eval_rollouts_outcomes would scan the whole run
        where, params = "run_id = ? AND case_id = ? AND +is_latest = 1", [run_id, case_id]
    rows = conn.execute(
        f"SELECT {', '.join(ROLLOUT_KEYS)} FROM eval_rollouts WHERE {where} "
        "ORDER BY epoch, case_index, case_id, attempt",
        params,
    ).fetchall()
    out = []
    for r in rows:
        d = dict(zip(ROLLOUT_KEYS, r, strict=True))
        d["output"] = _loads(d["output"])
        out.append(d)
    return out


@dataclass(frozen=True)
class StoredVerdict:
    """A verdict row read back (fits :class:`domain.verdicts.ScoredRollout`)."""

    position: int
    scorer: str
    case_id: str
    epoch: int
    repeat: int
    score: float | None
    raw_score: float | None
    passed: bool | None
    abstained: bool
    error: str | None
    evaluation: tuple[Criterion, ...]
    result: str | None
    flags: tuple[Flag, ...]
    usage: JudgeUsage | None
    raw_blob: str | None
    is_latest: bool
    recorded_at: str
    #: the scale ``raw_score`` is on (0–1 for an event that recorded none)
    scale: tuple[float, float] = (0.0, 1.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "scorer": self.scorer,
            "case_id": self.case_id,
            "epoch": self.epoch,
            "repeat": self.repeat,
            "score": self.score,
            "raw_score": self.raw_score,
            "scale": list(self.scale),
            "passed": self.passed,
            "abstained": self.abstained,
            "error": self.error,
            "evaluation": [c.model_dump() for c in self.evaluation],
            "result": self.result,
            "flags": [f.model_dump() for f in self.flags],
            "usage": self.usage.model_dump() if self.usage else None,
            "raw_blob": self.raw_blob,
            "latest": self.is_latest,
            "recorded_at": self.recorded_at,
        }


def _models(model: Any, text: str) -> tuple[Any, ...]:
    """The models of a stored JSON list (most verdicts store none: ``[]`` is not parsed)."""
    return () if text == "[]" else tuple(model.model_validate(x) for x in json.loads(text))


def scorer_names(conn: sqlite3.Connection, run_id: str) -> list[str]:
    """The scorers of the run's latest verdicts, in the order :func:`verdicts` first shows them
    (log order), read in SQL without decoding a verdict."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT scorer FROM eval_verdicts WHERE run_id = ? AND is_latest = 1 "
            "GROUP BY scorer ORDER BY min(position)",
            (run_id,),
        )
    ]


def verdicts(
    conn: sqlite3.Connection,
    run_id: str,
    *,
    all_verdicts: bool = False,
    case_id: str | None = None,
    scorer: str | None = None,
) -> list[StoredVerdict]:
    """The run's verdicts in log order: the latest per (scorer, case, epoch, repeat), or all of
    them; only ``case_id``'s and ``scorer``'s when given (picked out in SQL, before any row is
    decoded)."""
    where = "" if all_verdicts else " AND is_latest = 1"
    params: list[Any] = [run_id]
    if case_id is not None:
        where += " AND case_id = ?"
        params.append(case_id)
    if scorer is not None:
        where += " AND scorer = ?"
        params.append(scorer)
    rows = conn.execute(
        "SELECT position, scorer, case_id, epoch, repeat, score, raw_score, passed, abstained, error, evaluation, "
        f"result, flags, usage, raw_blob, is_latest, recorded_at, scale_low, scale_high FROM eval_verdicts WHERE run_id = ?{where} "
        "ORDER BY position",
        params,
    ).fetchall()
    out = []
    for r in rows:
        usage = _loads(r[13])
        out.append(
            StoredVerdict(
                position=r[0],
                scorer=r[1],
                case_id=r[2],
                epoch=r[3],
                repeat=r[4],
                score=r[5],
                raw_score=r[6],
                passed=None if r[7] is None else bool(r[7]),
                abstained=bool(r[8]),
                error=r[9],
                evaluation=_models(Criterion, r[10]),
                result=r[11],
                flags=_models(Flag, r[12]),
                usage=JudgeUsage.model_validate(usage) if usage else None,
                raw_blob=r[14],
                is_latest=bool(r[15]),
                recorded_at=r[16],
                scale=(float(r[17]), float(r[18])),
            )
        )
    return out


def verdict_counts(conn: sqlite3.Connection, run_id: str, after: int = 0) -> dict[str, int]:
    """How many of the run's verdicts recorded after log position ``after`` there are, and how many are scoring errors."""
    n, errors = conn.execute(
        "SELECT count(*), count(error) FROM eval_verdicts WHERE run_id = ? AND position > ?",
        (run_id, after),
    ).fetchone()
    return {"verdicts": n, "scoring_errors": errors}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _common_scale(vs: list[StoredVerdict]) -> tuple[float, float] | None:
    """The one scale these verdicts share (abstentions aside), else ``None``."""
    scales = {v.scale for v in vs if not v.abstained}
    return next(iter(scales)) if len(scales) == 1 else None


def _on_scales(
    latest: list[StoredVerdict],
) -> tuple[dict[tuple[str, str, int], Any], dict[str, Any]]:
    """Scores on their scorers' scales: per (scorer, case, epoch) the mean raw score of the
    usable repeats and its scale, and per scorer its scale (``None`` when it mixed scales)."""
    groups: dict[tuple[str, str, int], list[StoredVerdict]] = defaultdict(list)
    by_scorer: dict[str, list[StoredVerdict]] = defaultdict(list)
    for v in latest:
        groups[(v.scorer, v.case_id, v.epoch)].append(v)
        by_scorer[v.scorer].append(v)
    cells: dict[tuple[str, str, int], Any] = {}
    for key, vs in groups.items():
        usable = [v for v in vs if not v.abstained and not v.error and v.raw_score is not None]
        scale = _common_scale(vs)
        raws = [float(v.raw_score) for v in usable if v.raw_score is not None]
        cells[key] = (_mean(raws) if scale is not None else None, scale)
    return cells, {name: _common_scale(vs) for name, vs in by_scorer.items()}


def report(
    conn: sqlite3.Connection, run: dict[str, Any], *, all_verdicts: bool = False
) -> dict[str, Any]:
    """Everything ``eval show`` prints, as JSON-ready data."""
    run_id = run["run_id"]
    rows = rollout_rows(conn, run_id)
    latest = verdicts(conn, run_id)
    scorer_names = list(dict.fromkeys(v.scorer for v in latest))
    per_rollout: dict[tuple[str, int], dict[str, Any]] = defaultdict(dict)
    failed_rows: dict[tuple[str, str, int], set[str]] = defaultdict(set)
    for v in latest:
        failed_rows[(v.scorer, v.case_id, v.epoch)].update(
            c.criteria for c in v.evaluation if not c.passed
        )
    on_scale, scorer_scales = _on_scales(latest)
    # grouped once: every summary below reads the same rollouts (a 100k-case run regrouped
    # its verdicts five times)
    grouped = rollouts(latest)
    epochs_of_cases = case_epochs(latest, grouped=grouped)
    for rv in grouped:
        failed = sorted(failed_rows.get((rv.scorer, rv.case_id, rv.epoch), ()))
        raw_score, scale = on_scale[(rv.scorer, rv.case_id, rv.epoch)]
        per_rollout[(rv.case_id, rv.epoch)][rv.scorer] = {
            "score": rv.score,
            "raw_score": raw_score,
            "scale": None if scale is None else list(scale),
            "passed": rv.passed,
            "repeats": rv.repeats,
            "score_sd": rv.score_sd,
            "errors": rv.errors,
            "scoring_error": rv.scoring_error,
            "error": rv.error,
            "failed_criteria": failed,
        }
    out_rows = []
    for r in rows:
        d = {k: r[k] for k in ROLLOUT_KEYS if k not in ("output", "trace_blob", "model")}
        d["tokens"] = (
            (r["prompt_tokens"] or 0) + (r["completion_tokens"] or 0)
            if (r["prompt_tokens"] is not None or r["completion_tokens"] is not None)
            else None
        )
        d["verdicts"] = per_rollout.get((r["case_id"], r["epoch"]), {})
        out_rows.append(d)
    done = [r for r in rows if r["status"] == "completed"]
    latencies = [r["latency_s"] for r in done if r["latency_s"] is not None]
    scores = [r["score"] for r in done if r["score"] is not None]
    rewards = [r["reward"] for r in done if r["reward"] is not None]
    costs = [r["cost_usd"] for r in rows if r["cost_usd"] is not None]
    # averages are over the rollouts that reported the value (a failed rollout usually reports none)
    tokens = [r["tokens"] for r in out_rows if r["tokens"] is not None]
    target_pass = [s >= DEFAULT_PASS_THRESHOLD for s in scores]
    summary = {
        "rollouts": len(rows),
        "completed": len(done),
        "failed": len(rows) - len(done),
        "pending": max(0, run["total"] - len(rows)),
        "mean_score": _mean(scores),
        "mean_reward": _mean(rewards),
        "target_pass_rate": _mean([1.0 if p else 0.0 for p in target_pass]),
        "mean_latency_s": _mean(latencies),
        "latency_p50_s": percentile(latencies, 0.5),
        "latency_p95_s": percentile(latencies, 0.95),
        "latency_p99_s": percentile(latencies, 0.99),
        "prompt_tokens": sum(r["prompt_tokens"] or 0 for r in rows),
        "completion_tokens": sum(r["completion_tokens"] or 0 for r in rows),
        "cost_usd": sum(costs) if costs else None,
        "mean_tokens": _mean(tokens),
        "tokens_reported": len(tokens),
        "mean_cost_usd": _mean(costs),
        "cost_reported": len(costs),
    }
    scorers: dict[str, Any] = {}
    # verdicts whose judge cost is known (priced, or reported by the gateway): none means no price
    priced = Counter(
        v.scorer for v in latest if v.usage is not None and v.usage.cost_usd is not None
    )
    for name, s in summarize(latest, grouped=grouped).items():
        scale = scorer_scales.get(name)
        scorers[name] = {
            "rollouts": s.rollouts,
            "abstained": s.abstained,
            "errors": s.errors,
            "error_verdicts": s.error_verdicts,
            "scored": s.scored,
            "mean": s.mean,
            # the statistics are on the normalised score; the mean is also shown on the scale
            "scale": None if scale is None else list(scale),
            "mean_on_scale": None
            if scale is None or s.mean is None
            else from_normalised(s.mean, scale),
            "sd": s.sd,
            "repeat_sd": s.repeat_sd,
            "passed": s.passed,
            "pass_rate": s.pass_rate,
            "pass_interval": [s.pass_low, s.pass_high],
            "disagreements": s.disagreements,
            "flags": s.flags,
            "judge_prompt_tokens": s.prompt_tokens,
            "judge_completion_tokens": s.completion_tokens,
            "judge_cost_usd": s.cost_usd,
            "judge_cost_reported": priced[name],
        }
    epochs = int(run["epochs"])
    pk = pass_k(latest, epochs, epochs=epochs_of_cases) if latest else {}
    for name, p in pk.items():
        scorers[name]["pass_at_k"] = {
            "k": p.k,
            "pass_at_k": p.pass_at_k,
            "pass_hat_k": p.pass_hat_k,
            "cases": p.cases,
            "skipped": p.skipped,
        }
    data: dict[str, Any] = {
        "run": run,
        "rollouts": out_rows,
        "summary": summary,
        "scorers": scorers,
        "scorer_names": scorer_names,
        "flaky_cases": [
            {
                "scorer": c.scorer,
                "case_id": c.case_id,
                "passed_epochs": list(c.passed_epochs),
                "failed_epochs": list(c.failed_epochs),
            }
            for c in flaky_cases(latest, epochs=epochs_of_cases)
        ],
        "judge_disagreements": [
            {
                "scorer": r.scorer,
                "case_id": r.case_id,
                "epoch": r.epoch,
                "passes": r.passes,
                "fails": r.fails,
            }
            for r in repeat_disagreements(latest, grouped=grouped)
        ],
        "agreements": [
            {
                "scorer_a": a.scorer_a,
                "scorer_b": a.scorer_b,
                "n": a.n,
                "percent": a.percent,
                "kappa": a.kappa,
                "scoring_errors": a.scoring_errors,
                "disagreements": [list(k) for k in a.disagreements],
            }
            for a in agreements(latest, grouped=grouped)
        ]
        if len(scorer_names) > 1
        else [],
    }
    if all_verdicts:
        data["verdicts"] = [v.to_json() for v in verdicts(conn, run_id, all_verdicts=True)]
    return data


def case_report(
    conn: sqlite3.Connection, run: dict[str, Any], case_id: str, *, all_verdicts: bool = False
) -> dict[str, Any]:
    """One case of a run: its rollouts and every verdict with each criterion row and reason."""
    rows = rollout_rows(conn, run["run_id"], case_id)
    vs = verdicts(conn, run["run_id"], all_verdicts=all_verdicts, case_id=case_id)
    return {
        "run_id": run["run_id"],
        "case_id": case_id,
        "rollouts": rows,
        "verdicts": [v.to_json() for v in vs],
    }
