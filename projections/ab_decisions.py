"""The decisions read model: every ``ab conclude`` of every test, and queries over it.

Table (browsable with sqlite-utils or Datasette):

- ``ab_decisions``: one row per ``TestConcluded`` event, keyed by its log position:
  the test, the choice (``ship``, ``keep_control``, ``stop``), the variant, whether
  it went against the recommendation, the recommendation itself, the note, who
  recorded it and when, and the analysis it was based on with the log position
  and method version it was computed at.

The latest decision of a test is its row with the largest position.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from trialbook.domain.canonical import canonical_json
from trialbook.projections.base import TableProjection, select
from trialbook.store.base import RecordedEvent

TABLES = ("ab_decisions",)

DDL = [
    """CREATE TABLE IF NOT EXISTS ab_decisions (
        position INTEGER PRIMARY KEY, test TEXT NOT NULL, choice TEXT NOT NULL, variant TEXT,
        against_recommendation INTEGER NOT NULL, recommended TEXT, recommended_variant TEXT, note TEXT,
        actor TEXT, recorded_at TEXT NOT NULL, analysis_position INTEGER NOT NULL,
        method_version TEXT NOT NULL, analysis TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS ab_decisions_test ON ab_decisions (test, position)",
]

COLUMNS = (
    "position",
    "test",
    "choice",
    "variant",
    "against_recommendation",
    "recommended",
    "recommended_variant",
    "note",
    "actor",
    "recorded_at",
    "analysis_position",
    "method_version",
    "analysis",
)


class ABDecisionsProjection(TableProjection):
    """Folds ``TestConcluded`` events into ``ab_decisions``."""

    name = "ab_decisions"
    version = 1
    handles = frozenset({"TestConcluded"})
    ddl = DDL
    tables = TABLES

    def apply(self, conn: sqlite3.Connection, events: Sequence[RecordedEvent]) -> None:
        rows = []
        for e in events:
            d = e.data
            rec = d["analysis"].get("recommendation") or {}
            rows.append(
                (
                    e.position,
                    e.stream_id.removeprefix("ab:"),
                    d["choice"],
                    d.get("variant"),
                    int(d.get("against_recommendation", False)),
                    rec.get("decision"),
                    rec.get("variant"),
                    *recorded_values(e),
                )
            )
        conn.executemany(
            f"INSERT INTO ab_decisions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            rows,
        )


def recorded_values(e: RecordedEvent) -> tuple[Any, ...]:
    """The record columns of a decision row (a test's, a canary's), in table order: note,
    actor, recorded_at, analysis_position, method_version, analysis (canonical JSON)."""
    d = e.data
    return (
        d.get("note"),
        e.metadata.get("actor"),
        e.recorded_at,
        d["position"],
        d["method_version"],
        canonical_json(d["analysis"]),
    )


# --------------------------------------------------------------------------- queries


def _decision(row: sqlite3.Row, with_analysis: bool) -> dict[str, Any]:
    out = {
        "position": row["position"],
        "choice": row["choice"],
        "variant": row["variant"],
        "against_recommendation": bool(row["against_recommendation"]),
        "recommendation": {"decision": row["recommended"], "variant": row["recommended_variant"]},
        **recorded(row, with_analysis),
    }
    return out


def recorded(row: sqlite3.Row, with_analysis: bool) -> dict[str, Any]:
    """What every decision row (a test's, a canary's) says of its record: the note, who and
    when, the position its analysis saw, the method version, and the analysis when asked."""
    out = {
        "note": row["note"],
        "actor": row["actor"],
        "recorded_at": row["recorded_at"],
        "analysis_position": row["analysis_position"],
        "method_version": row["method_version"],
    }
    if with_analysis:
        out["analysis"] = json.loads(row["analysis"])
    return out


def decisions(
    conn: sqlite3.Connection, test: str, with_analysis: bool = False
) -> list[dict[str, Any]]:
    """Every decision recorded for ``test``, oldest first."""
    rows = select(conn, "SELECT * FROM ab_decisions WHERE test = ? ORDER BY position", (test,))
    return [_decision(r, with_analysis) for r in rows]


def latest_decision(conn: sqlite3.Connection, test: str) -> dict[str, Any] | None:
    """The most recent decision recorded for ``test`` (without its analysis), or None."""
    rows = select(
        conn, "SELECT * FROM ab_decisions WHERE test = ? ORDER BY position DESC LIMIT 1", (test,)
    )
    return _decision(rows[0], False) if rows else None


def latest_decisions(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Test name → its most recent decision (without the analysis), for tests that have one."""
    rows = select(
        conn,
        "SELECT d.* FROM ab_decisions d JOIN (SELECT test, max(position) AS position FROM ab_decisions "
        "GROUP BY test) latest ON d.position = latest.position ORDER BY d.position",
    )
    return {r["test"]: _decision(r, False) for r in rows}


def describe(decision: dict[str, Any]) -> str:
    """One line for terminals: ``ship warm (against the recommendation: continue) by ann at 2025-03-03 10:12``."""
    what = {
        "ship": f"ship {decision['variant']}",
        "keep_control": f"keep control ({decision['variant']})",
        "stop": "stopped without a choice",
    }[decision["choice"]]
    if decision["against_recommendation"]:
        rec = decision["recommendation"]
        said = rec["decision"] + (
            f" {rec['variant']}" if rec["decision"] == "ship" and rec["variant"] else ""
        )
        what += f" (against the recommendation: {said})"
    when = decision["recorded_at"][:16].replace("T", " ")
    line = (
        f"{what} by {decision['actor'] or 'unknown'} at {when} UTC (event #{decision['position']})"
    )
    if decision["note"]:
        line += f": {decision['note']}"
    return line
