"""Reads of the A/B read model, returning plain dicts with stable keys (the ``--json`` output)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from domain.stats.moments import CoMoments, Moments

SUMMARY_METRICS = ("error_rate", "completion_time", "messages")


def _test_row(r: sqlite3.Row) -> dict[str, Any]:
    return {
        "name": r["name"],
        "variants": json.loads(r["variants"]),
        "control": r["control"],
        "metric": r["metric"],
        "guardrails": json.loads(r["guardrails"]),
        "split": json.loads(r["split"]) if r["split"] else None,
        "task_id": r["task_id"],
        "description": r["description"],
        "prompt": r["prompt"],
        "category": r["category"],
        "difficulty": r["difficulty"],
        "archived": bool(r["archived"]),
        "results": r["results"],
        "created_at": r["created_at"],
        "created_position": r["created_position"],
        "last_position": r["last_position"],
    }


def _rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    cur = conn.cursor()
    cur.row_factory = sqlite3.Row
    return cur.execute(sql, params).fetchall()


def list_tests(conn: sqlite3.Connection, include_archived: bool = False) -> list[dict[str, Any]]:
    """Every test, oldest first; archived ones only when asked."""
    where = "" if include_archived else "WHERE archived = 0"
    return [
        _test_row(r)
        for r in _rows(conn, f"SELECT * FROM ab_tests {where} ORDER BY created_position")
    ]


def get_test(conn: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    """One test's definition, or None."""
    rows = _rows(conn, "SELECT * FROM ab_tests WHERE name = ?", (name,))
    return _test_row(rows[0]) if rows else None


def results(conn: sqlite3.Connection, name: str, limit: int | None = None) -> list[dict[str, Any]]:
    """A test's results in recording order (the last ``limit`` if given)."""
    if limit is None:
        rows = _rows(conn, "SELECT * FROM ab_results WHERE test = ? ORDER BY position", (name,))
    else:
        rows = _rows(
            conn,
            "SELECT * FROM (SELECT * FROM ab_results WHERE test = ? ORDER BY position DESC LIMIT ?) "
            "ORDER BY position",
            (name, limit),
        )
    out = []
    for r in rows:
        d = dict(r)
        del d["test"]
        d["success"] = None if d["success"] is None else bool(d["success"])
        d["metrics"] = json.loads(d["metrics"]) if d["metrics"] else {}
        d["error_messages"] = json.loads(d["error_messages"]) if d["error_messages"] else []
        out.append(d)
    return out


def moments(conn: sqlite3.Connection, name: str) -> dict[str, dict[str, Moments]]:
    """Variant → metric → Moments of a test."""
    out: dict[str, dict[str, Moments]] = {}
    for variant, metric, n, mean, m2 in conn.execute(
        "SELECT variant, metric, n, mean, m2 FROM ab_moments WHERE test = ?", (name,)
    ):
        out.setdefault(variant, {})[metric] = Moments(n, mean, m2)
    return out


def comoments(conn: sqlite3.Connection, name: str) -> dict[str, dict[tuple[str, str], CoMoments]]:
    """Variant → (numerator, denominator) → CoMoments of a test."""
    out: dict[str, dict[tuple[str, str], CoMoments]] = {}
    for variant, num, den, *vals in conn.execute(
        "SELECT variant, numerator, denominator, n, mean_x, mean_y, m2_x, m2_y, c_xy "
        "FROM ab_comoments WHERE test = ?",
        (name,),
    ):
        out.setdefault(variant, {})[(num, den)] = CoMoments(*vals)
    return out


def variant_counts(conn: sqlite3.Connection, name: str) -> list[dict[str, Any]]:
    """Per variant: order, control flag, planned share and result count."""
    return [
        {"variant": r[0], "is_control": bool(r[1]), "planned_share": r[2], "results": r[3]}
        for r in conn.execute(
            "SELECT variant, is_control, planned_share, results FROM ab_variants WHERE test = ? ORDER BY ord",
            (name,),
        )
    ]


def summary(conn: sqlite3.Connection, name: str) -> list[dict[str, Any]]:
    """Descriptive per-variant figures (no inference).

    Keys per variant: ``variant``, ``control``, ``results``, ``successes``,
    ``success_known`` (results that recorded success or failure), ``success_rate``,
    ``mean_error_rate``, ``mean_completion_time``, ``mean_messages``,
    ``total_tokens``, ``total_cost``. A mean is ``null`` when no result has the value.
    """
    stats = moments(conn, name)
    out = []
    for v in variant_counts(conn, name):
        m = stats.get(v["variant"], {})
        success = m.get("success", Moments())
        row: dict[str, Any] = {
            "variant": v["variant"],
            "control": v["is_control"],
            "results": v["results"],
            "successes": round(success.total),
            "success_known": success.n,
            "success_rate": success.mean if success.n else None,
        }
        for metric in SUMMARY_METRICS:
            mm = m.get(metric)
            row[f"mean_{metric}"] = mm.mean if mm and mm.n else None
        for metric in ("tokens", "cost"):
            mm = m.get(metric)
            total = mm.total if mm and mm.n else 0
            row[f"total_{metric}"] = round(total) if metric == "tokens" else round(total, 10)
        out.append(row)
    return out
