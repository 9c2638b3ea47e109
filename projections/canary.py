"""The canary read model: plans, where each canary is, per-stage statistics, and decisions.

Tables (browsable with sqlite-utils or Datasette):

- ``canary_canaries``: one row per canary: its plan (control, candidate, stages,
  guardrails, salt …), its status (``running``, ``halted``, ``rolled_back``,
  ``completed``), its current stage and the assignment threshold in effect
  (``bucket < threshold`` gets the candidate: 0 when halted or rolled back,
  10000 when completed).
- ``canary_counts``: results per canary × stage × arm (``control``/``candidate``).
- ``canary_moments``: count, mean and M2 per canary × stage × arm × metric.
- ``canary_comoments``: co-moments per canary × stage × arm × pooled-ratio pair.
- ``canary_decisions``: one row per advance, halt, rollback or completion, keyed by
  its log position, with the analysis it rested on and the position it saw.

Statistics are folded with Welford's update one result at a time in position
order, so a rebuild and event-by-event appends give bit-identical tables.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from trialbook.domain.canonical import canonical_json
from trialbook.domain.events import upcast
from trialbook.domain.metrics import RATIO_PAIRS, observations
from trialbook.domain.stats.moments import CoMoments, Moments, co_welford, welford
from trialbook.projections.ab_decisions import recorded, recorded_values
from trialbook.projections.base import select
from trialbook.store.base import RecordedEvent

TABLES = (
    "canary_canaries",
    "canary_counts",
    "canary_moments",
    "canary_comoments",
    "canary_decisions",
)

DDL = [
    """CREATE TABLE IF NOT EXISTS canary_canaries (
        name TEXT PRIMARY KEY, stream_id TEXT NOT NULL, control TEXT NOT NULL,
        candidate TEXT NOT NULL, stages TEXT NOT NULL, guardrails TEXT NOT NULL, metric TEXT NOT NULL,
        min_results INTEGER NOT NULL, unit TEXT NOT NULL, salt TEXT NOT NULL, alpha REAL NOT NULL,
        expected_results INTEGER NOT NULL, description TEXT, status TEXT NOT NULL,
        stage INTEGER NOT NULL, threshold INTEGER NOT NULL, created_at TEXT NOT NULL,
        created_position INTEGER NOT NULL, updated_position INTEGER NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS canary_counts (
        canary TEXT NOT NULL, stage INTEGER NOT NULL, arm TEXT NOT NULL, results INTEGER NOT NULL,
        last_position INTEGER NOT NULL, PRIMARY KEY (canary, stage, arm)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS canary_moments (
        canary TEXT NOT NULL, stage INTEGER NOT NULL, arm TEXT NOT NULL, metric TEXT NOT NULL,
        n INTEGER NOT NULL, mean REAL NOT NULL, m2 REAL NOT NULL,
        PRIMARY KEY (canary, stage, arm, metric)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS canary_comoments (
        canary TEXT NOT NULL, stage INTEGER NOT NULL, arm TEXT NOT NULL, numerator TEXT NOT NULL,
        denominator TEXT NOT NULL, n INTEGER NOT NULL, mean_x REAL NOT NULL, mean_y REAL NOT NULL,
        m2_x REAL NOT NULL, m2_y REAL NOT NULL, c_xy REAL NOT NULL,
        PRIMARY KEY (canary, stage, arm, numerator, denominator)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS canary_decisions (
        position INTEGER PRIMARY KEY, canary TEXT NOT NULL, kind TEXT NOT NULL, stage INTEGER NOT NULL,
        to_stage INTEGER, forced INTEGER NOT NULL, automatic INTEGER NOT NULL, breached TEXT,
        overrode TEXT, note TEXT, actor TEXT, recorded_at TEXT NOT NULL,
        analysis_position INTEGER NOT NULL, method_version TEXT NOT NULL, analysis TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS canary_decisions_canary ON canary_decisions (canary, position)",
]

#: decision event type -> (the ``kind`` stored, the status it leaves the canary in)
DECISIONS = {
    "CanaryAdvanced": ("advanced", "running"),
    "CanaryHalted": ("halted", "halted"),
    "CanaryRolledBack": ("rolled_back", "rolled_back"),
    "CanaryCompleted": ("completed", "completed"),
}


def _domain() -> Any:
    """``domain.canary``, imported when a canary event is folded or read: every write opens
    this projection, and a write that records an A/B result should not build the canary's
    pydantic models."""
    from trialbook.domain import canary

    return canary


def canary_name(stream_id: str) -> str:
    """The canary name of a ``canary:<name>`` stream."""
    return stream_id.removeprefix("canary:")


class CanaryProjection:
    """Folds canary events into the ``canary_*`` tables."""

    name = "canary"
    #: 2: the tool_success_rate metric is folded
    version = 2
    handles = frozenset({"CanaryCreated", "CanaryResultAdded", *DECISIONS})

    def create(self, conn: sqlite3.Connection) -> None:
        for statement in DDL:
            conn.execute(statement)

    def drop(self, conn: sqlite3.Connection) -> None:
        for table in TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")

    def apply(self, conn: sqlite3.Connection, events: Sequence[RecordedEvent]) -> None:
        run: list[RecordedEvent] = []
        for e in events:
            if e.type == "CanaryResultAdded":
                run.append(e)  # results come in runs: fold a run in one pass, write it once
                continue
            if run:
                _fold_results(conn, run)
                run = []
            if e.type == "CanaryCreated":
                _created(conn, e)
            else:
                _decided(conn, e)
        if run:
            _fold_results(conn, run)


def _created(conn: sqlite3.Connection, e: RecordedEvent) -> None:
    d = e.data
    stages = d["stages"]
    conn.execute(
        "INSERT INTO canary_canaries (name, stream_id, control, candidate, stages, guardrails, "
        "metric, min_results, unit, salt, alpha, expected_results, description, status, stage, "
        "threshold, created_at, created_position, updated_position) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', 1, ?, ?, ?, ?)",
        (
            canary_name(e.stream_id),
            e.stream_id,
            d["control"],
            d["candidate"],
            canonical_json(stages),
            canonical_json(d["guardrails"]),
            d.get("metric", "success"),
            d["min_results"],
            d.get("unit", "user"),
            d["salt"],
            d.get("alpha", 0.05),
            d["expected_results"],
            d.get("description"),
            _domain().threshold_of("running", stages, 1),
            e.recorded_at,
            e.position,
            e.position,
        ),
    )


def _decided(conn: sqlite3.Connection, e: RecordedEvent) -> None:
    d = e.data
    name = canary_name(e.stream_id)
    kind, status = DECISIONS[e.type]
    row = conn.execute(
        "SELECT stages, stage FROM canary_canaries WHERE name = ?", (name,)
    ).fetchone()
    stages = json.loads(row[0])
    stage = d.get("to_stage", row[1])
    conn.execute(
        "UPDATE canary_canaries SET status = ?, stage = ?, threshold = ?, updated_position = ? "
        "WHERE name = ?",
        (status, stage, _domain().threshold_of(status, stages, stage), e.position, name),
    )
    breached = d.get("breached")
    conn.execute(
        "INSERT INTO canary_decisions (position, canary, kind, stage, to_stage, forced, automatic, "
        "breached, overrode, note, actor, recorded_at, analysis_position, method_version, analysis) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            e.position,
            name,
            kind,
            d["stage"],
            d.get("to_stage"),
            int(bool(d.get("forced", False))),
            int(bool(d.get("automatic", False))),
            canonical_json(breached) if breached else None,
            d.get("overrode"),
            *recorded_values(e),
        ),
    )


def _fold_results(conn: sqlite3.Connection, run: Sequence[RecordedEvent]) -> None:
    """Fold a run of results: per canary × stage × arm, Welford in position order, written once."""
    candidates: dict[str, str] = {}
    counts: dict[tuple[str, int, str], list[int]] = {}
    values: dict[tuple[str, int, str, str], list[float]] = {}
    pairs: dict[tuple[str, int, str, str, str], list[tuple[float, float]]] = {}
    result_version = _domain().CanaryResultAdded.schema_version
    for e in run:
        d = e.data
        if e.schema_version != result_version:
            d = upcast(e.type, e.schema_version, d)
        name = canary_name(e.stream_id)
        if name not in candidates:
            row = conn.execute(
                "SELECT candidate FROM canary_canaries WHERE name = ?", (name,)
            ).fetchone()
            candidates[name] = row[0]
        arm = "candidate" if d["variant"] == candidates[name] else "control"
        key = (name, int(d["stage"]), arm)
        c = counts.setdefault(key, [0, 0])
        c[0] += 1
        c[1] = e.position
        obs = observations(d)
        for metric, x in obs.items():
            values.setdefault((*key, metric), []).append(x)
        for num, den in RATIO_PAIRS:
            if num in obs and den in obs:
                pairs.setdefault((*key, num, den), []).append((obs[num], obs[den]))
    conn.executemany(
        "INSERT INTO canary_counts (canary, stage, arm, results, last_position) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (canary, stage, arm) DO UPDATE SET results = results + excluded.results, "
        "last_position = excluded.last_position",
        [(*k, n, last) for k, (n, last) in counts.items()],
    )
    rows = []
    for cell, xs in values.items():
        old = conn.execute(
            "SELECT n, mean, m2 FROM canary_moments WHERE canary = ? AND stage = ? AND arm = ? "
            "AND metric = ?",
            cell,
        ).fetchone()
        n, mean, m2 = welford(*(old or (0, 0.0, 0.0)), xs)
        rows.append((*cell, n, mean, m2))
    conn.executemany(
        "INSERT INTO canary_moments (canary, stage, arm, metric, n, mean, m2) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (canary, stage, arm, metric) DO UPDATE SET "
        "n = excluded.n, mean = excluded.mean, m2 = excluded.m2",
        rows,
    )
    co_rows = []
    for pair, xys in pairs.items():
        old = conn.execute(
            "SELECT n, mean_x, mean_y, m2_x, m2_y, c_xy FROM canary_comoments WHERE canary = ? "
            "AND stage = ? AND arm = ? AND numerator = ? AND denominator = ?",
            pair,
        ).fetchone()
        co_rows.append((*pair, *co_welford(*(old or (0, 0.0, 0.0, 0.0, 0.0, 0.0)), xys)))
    conn.executemany(
        "INSERT INTO canary_comoments (canary, stage, arm, numerator, denominator, n, mean_x, "
        "mean_y, m2_x, m2_y, c_xy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (canary, stage, arm, numerator, denominator) DO UPDATE SET n = excluded.n, "
        "mean_x = excluded.mean_x, mean_y = excluded.mean_y, m2_x = excluded.m2_x, "
        "m2_y = excluded.m2_y, c_xy = excluded.c_xy",
        co_rows,
    )


# --------------------------------------------------------------------------- queries


def _canary(r: sqlite3.Row) -> dict[str, Any]:
    stages = json.loads(r["stages"])
    return {
        "name": r["name"],
        "control": r["control"],
        "candidate": r["candidate"],
        "stages": stages,
        "guardrails": json.loads(r["guardrails"]),
        "metric": r["metric"],
        "min_results": r["min_results"],
        "unit": r["unit"],
        "alpha": r["alpha"],
        "expected_results": r["expected_results"],
        "description": r["description"],
        "status": r["status"],
        "stage": r["stage"],
        "percent": stages[r["stage"] - 1],
        "exposure_percent": r["threshold"] * 100 / _domain().BUCKETS,
        "results": r["results"],
        "created_at": r["created_at"],
        "created_position": r["created_position"],
        "updated_position": r["updated_position"],
    }


_CANARIES = (
    "SELECT *, (SELECT coalesce(sum(n.results), 0) FROM canary_counts n WHERE n.canary = c.name) "
    "AS results FROM canary_canaries c"
)


def list_canaries(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every canary, oldest first."""
    return [_canary(r) for r in select(conn, f"{_CANARIES} ORDER BY created_position")]


def get_canary(conn: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    """One canary's plan and where it is, or None."""
    rows = select(conn, f"{_CANARIES} WHERE name = ?", (name,))
    return _canary(rows[0]) if rows else None


def assignment(conn: sqlite3.Connection, name: str) -> tuple[str, str, str, int, str, int] | None:
    """``(salt, control, candidate, threshold, status, stage)`` of a canary: what assignment reads."""
    row = conn.execute(
        "SELECT salt, control, candidate, threshold, status, stage FROM canary_canaries "
        "WHERE name = ?",
        (name,),
    ).fetchone()
    return None if row is None else tuple(row)  # type: ignore[return-value]


def stage_statistics(
    conn: sqlite3.Connection, name: str
) -> dict[int, dict[str, tuple[int, dict[str, Moments], dict[tuple[str, str], CoMoments]]]]:
    """Stage → arm → (results, moments by metric, co-moments by ratio pair)."""
    out: dict[int, dict[str, tuple[int, dict[str, Moments], dict[tuple[str, str], CoMoments]]]] = {}

    def cell(
        stage: int, arm: str
    ) -> tuple[int, dict[str, Moments], dict[tuple[str, str], CoMoments]]:
        return out.setdefault(stage, {}).setdefault(arm, (0, {}, {}))

    for stage, arm, results in conn.execute(
        "SELECT stage, arm, results FROM canary_counts WHERE canary = ?", (name,)
    ):
        _, m, co = cell(stage, arm)
        out[stage][arm] = (results, m, co)
    for stage, arm, metric, n, mean, m2 in conn.execute(
        "SELECT stage, arm, metric, n, mean, m2 FROM canary_moments WHERE canary = ?", (name,)
    ):
        cell(stage, arm)[1][metric] = Moments(n, mean, m2)
    for stage, arm, num, den, *vals in conn.execute(
        "SELECT stage, arm, numerator, denominator, n, mean_x, mean_y, m2_x, m2_y, c_xy "
        "FROM canary_comoments WHERE canary = ?",
        (name,),
    ):
        cell(stage, arm)[2][(num, den)] = CoMoments(*vals)
    return out


def decisions(
    conn: sqlite3.Connection, name: str, with_analysis: bool = False
) -> list[dict[str, Any]]:
    """Every decision recorded on canary ``name``, oldest first."""
    out = []
    for r in select(
        conn, "SELECT * FROM canary_decisions WHERE canary = ? ORDER BY position", (name,)
    ):
        d = {
            "position": r["position"],
            "kind": r["kind"],
            "stage": r["stage"],
            "to_stage": r["to_stage"],
            "forced": bool(r["forced"]),
            "automatic": bool(r["automatic"]),
            "breached": json.loads(r["breached"]) if r["breached"] else [],
            "overrode": r["overrode"],
            **recorded(r, with_analysis),
        }
        out.append(d)
    return out


def describe(decision: dict[str, Any], stages: Sequence[float]) -> str:
    """One line for terminals: ``advanced to stage 2 (50%) by ann at 2026-12-03 10:12 UTC (event #41)``."""
    kind = decision["kind"]
    stage_label = _domain().stage_label
    if kind == "advanced":
        what = f"advanced to {stage_label(stages, decision['to_stage'])}"
    elif kind == "halted":
        why = ", ".join(decision["breached"])
        what = f"halted at {stage_label(stages, decision['stage'])}" + (
            f" (breached: {why})" if why else " (by hand)"
        )
    elif kind == "rolled_back":
        what = "rolled back"
    else:
        what = "completed"
    if decision["forced"]:
        what += " (forced)"
    if decision["automatic"]:
        what += " by the stage rule"
    when = decision["recorded_at"][:16].replace("T", " ")
    line = f"{what}; {decision['actor'] or 'unknown'} at {when} UTC (event #{decision['position']})"
    if decision["note"]:
        line += f": {decision['note']}"
    return line
