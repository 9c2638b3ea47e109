"""Reads of the A/B read model, returning plain dicts with stable keys (the ``--json`` output)."""

from __future__ import annotations

import json
import sqlite3
from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trialbook.domain.metrics import observations
from trialbook.domain.stats.moments import CoMoments, Moments
from trialbook.projections.base import select
from trialbook.store.base import parse_json

if TYPE_CHECKING:
    from trialbook.domain.stats import ResultRow

#: the ``ab_results`` columns a result's metric values come from, in this order, then ``metrics``
VALUE_COLUMNS = (
    "success",
    "tool_calls",
    "successful_calls",
    "errors",
    "completion_time",
    "messages",
    "corrections",
    "tokens",
    "cost",
    "score",
)


def row_observations(values: Sequence[Any], metrics: str | None) -> dict[str, float]:
    """The metric values (``domain.metrics.observations``) of an ``ab_results`` row.

    ``values`` are the row's :data:`VALUE_COLUMNS`, ``metrics`` its custom-metrics JSON.
    """
    fields: dict[str, Any] = {
        k: v for k, v in zip(VALUE_COLUMNS, values, strict=True) if v is not None
    }
    if metrics:
        fields["metrics"] = parse_json(metrics)
    return observations(fields)


SUMMARY_METRICS = ("error_rate", "tool_success_rate", "completion_time", "messages")


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
        "expected_tools": json.loads(r["expected_tools"]) if r["expected_tools"] else None,
        "success_criteria": json.loads(r["success_criteria"]) if r["success_criteria"] else None,
        "archived": bool(r["archived"]),
        "results": r["results"],
        "created_at": r["created_at"],
        "created_position": r["created_position"],
        "last_position": r["last_position"],
    }


#: a test's result count and last position are derived, not kept per append
_TESTS = (
    "SELECT *, (SELECT coalesce(sum(v.results), 0) FROM ab_variants v WHERE v.test = t.name) "
    "AS results, max(defined_position, coalesce((SELECT max(r.position) FROM ab_results r "
    "WHERE r.test = t.name), 0)) AS last_position FROM ab_tests t"
)


def list_tests(conn: sqlite3.Connection, include_archived: bool = False) -> list[dict[str, Any]]:
    """Every test, oldest first; archived ones only when asked."""
    where = "" if include_archived else "WHERE archived = 0"
    return [_test_row(r) for r in select(conn, f"{_TESTS} {where} ORDER BY created_position")]


def get_test(conn: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    """One test's definition, or None."""
    rows = select(conn, f"{_TESTS} WHERE name = ?", (name,))
    return _test_row(rows[0]) if rows else None


def results(conn: sqlite3.Connection, name: str, limit: int | None = None) -> list[dict[str, Any]]:
    """A test's results in recording order (the last ``limit`` if given)."""
    if limit is None:
        rows = select(conn, "SELECT * FROM ab_results WHERE test = ? ORDER BY position", (name,))
    else:
        rows = select(
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


def unpack_stats(
    keys: str, stats: bytes
) -> tuple[dict[str, list[Any]], dict[tuple[str, str], list[Any]]]:
    """A variant's statistics from its ``ab_variants`` row (``stats_keys``, ``stats``, as
    ``projections.ab.pack_stats`` writes them): metric -> ``[n, mean, m2]`` and
    (numerator, denominator) -> ``[n, mean_x, mean_y, m2_x, m2_y, c_xy]``."""
    names, pairs = json.loads(keys)
    flat = array("d")
    flat.frombytes(stats)
    moments = {
        name: [int(flat[3 * i]), flat[3 * i + 1], flat[3 * i + 2]] for i, name in enumerate(names)
    }
    at = 3 * len(names)
    comoments = {}
    for num, den in pairs:
        comoments[(num, den)] = [int(flat[at]), *flat[at + 1 : at + 6]]
        at += 6
    return moments, comoments


def _variant_stats(
    conn: sqlite3.Connection, name: str
) -> list[tuple[str, tuple[dict[str, list[Any]], dict[tuple[str, str], list[Any]]]]]:
    return [
        (variant, unpack_stats(keys, stats))
        for variant, keys, stats in conn.execute(
            "SELECT variant, stats_keys, stats FROM ab_variants WHERE test = ? ORDER BY variant",
            (name,),
        )
    ]


def moments(conn: sqlite3.Connection, name: str) -> dict[str, dict[str, Moments]]:
    """Variant → metric → Moments of a test (variants with values only)."""
    out: dict[str, dict[str, Moments]] = {}
    for variant, (ms, _) in _variant_stats(conn, name):
        for metric, (n, mean, m2) in ms.items():
            out.setdefault(variant, {})[metric] = Moments(n, mean, m2)
    return out


def comoments(conn: sqlite3.Connection, name: str) -> dict[str, dict[tuple[str, str], CoMoments]]:
    """Variant → (numerator, denominator) → CoMoments of a test (variants with pairs only)."""
    out: dict[str, dict[tuple[str, str], CoMoments]] = {}
    for variant, (_, cs) in _variant_stats(conn, name):
        for pair, vals in cs.items():
            out.setdefault(variant, {})[pair] = CoMoments(*vals)
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
    ``mean_error_rate``, ``mean_tool_success_rate`` (the warm-session framework's
    ``avg_success_rate``), ``mean_completion_time``, ``mean_messages``,
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


def has_pairs(conn: sqlite3.Connection, name: str, control: str) -> bool:
    """Whether some case id of test ``name`` has results in control and in another variant.

    The first query stops at the first result with a case id; only when there is
    one does the (costlier) join look for a case shared with control.
    """
    if (
        conn.execute(
            "SELECT 1 FROM ab_results WHERE test = ? AND case_id IS NOT NULL LIMIT 1", (name,)
        ).fetchone()
        is None
    ):
        return False
    return (
        conn.execute(
            "SELECT 1 FROM ab_results c JOIN ab_results v ON v.case_id = c.case_id "
            "WHERE c.test = ? AND c.variant = ? AND c.case_id IS NOT NULL AND v.test = ? "
            "AND v.variant <> ? LIMIT 1",
            (name, control, name, control),
        ).fetchone()
        is not None
    )


def read_rows(
    conn: sqlite3.Connection,
    name: str,
    *,
    with_case_only: bool = False,
    until: int | None = None,
) -> tuple[ResultRow, ...]:
    """Test ``name``'s results in recording order, as the paired methods and ``history`` read them.

    Reads only the columns metric values come from (faster than :func:`results`,
    which returns every column for display). ``with_case_only`` keeps the results
    that carry a case id: all the paired methods use (``history`` needs them all).
    ``until`` keeps those recorded at or before that log position.
    """
    from trialbook.domain.stats import ResultRow

    cur = conn.execute(
        f"SELECT variant, case_id, metrics, {', '.join(VALUE_COLUMNS)} FROM ab_results WHERE test = ? "
        + ("AND case_id IS NOT NULL " if with_case_only else "")
        + ("AND position <= ? " if until is not None else "")
        + "ORDER BY position",
        (name,) if until is None else (name, until),
    )
    out = []
    try:
        while batch := cur.fetchmany(10_000):
            for variant, case_id, metrics, *values in batch:
                out.append(ResultRow(variant, row_observations(values, metrics), case_id))
    finally:
        cur.close()
    return tuple(out)
