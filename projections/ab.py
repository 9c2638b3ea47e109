"""The A/B read model: tests, variants, per-result rows and per-metric sufficient statistics.

Tables (browsable with sqlite-utils or Datasette):

- ``ab_tests``: one row per test (definition, archived flag, result count, positions).
- ``ab_variants``: one row per test × variant (control flag, planned share, result count).
- ``ab_results``: one row per result, keyed by its log position.
- ``ab_moments``: count, mean and M2 per test × variant × metric.
- ``ab_comoments``: co-moments per test × variant × pooled-ratio pair.

Statistics are folded with Welford's sequential update, one event at a time in
position order, so the stored numbers are bit-for-bit the same however the log
is split into batches (incremental appends and a rebuild agree exactly).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from domain.ab import ResultAdded
from domain.canonical import canonical_json
from domain.events import upcast
from domain.metrics import RATIO_PAIRS, observations
from store.base import RecordedEvent

RESULT_TYPE = ResultAdded.event_type
RESULT_VERSION = ResultAdded.schema_version

TABLES = ("ab_tests", "ab_variants", "ab_results", "ab_moments", "ab_comoments")

DDL = [
    """CREATE TABLE IF NOT EXISTS ab_tests (
        name TEXT PRIMARY KEY, stream_id TEXT NOT NULL, variants TEXT NOT NULL, control TEXT NOT NULL,
        metric TEXT NOT NULL, guardrails TEXT NOT NULL, split TEXT, task_id TEXT, description TEXT,
        prompt TEXT, category TEXT, difficulty TEXT, archived INTEGER NOT NULL DEFAULT 0,
        results INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, created_position INTEGER NOT NULL,
        last_position INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ab_variants (
        test TEXT NOT NULL, variant TEXT NOT NULL, ord INTEGER NOT NULL, is_control INTEGER NOT NULL,
        planned_share REAL, results INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (test, variant))""",
    """CREATE TABLE IF NOT EXISTS ab_results (
        position INTEGER PRIMARY KEY, test TEXT NOT NULL, variant TEXT NOT NULL, session_id TEXT,
        case_id TEXT, success INTEGER, tool_calls INTEGER, successful_calls INTEGER, errors INTEGER,
        completion_time REAL, messages INTEGER, corrections INTEGER, tokens INTEGER, cost REAL,
        score REAL, metrics TEXT, error_messages TEXT, notes TEXT, recorded_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS ab_results_test ON ab_results (test)",
    """CREATE TABLE IF NOT EXISTS ab_moments (
        test TEXT NOT NULL, variant TEXT NOT NULL, metric TEXT NOT NULL, n INTEGER NOT NULL,
        mean REAL NOT NULL, m2 REAL NOT NULL, PRIMARY KEY (test, variant, metric))""",
    """CREATE TABLE IF NOT EXISTS ab_comoments (
        test TEXT NOT NULL, variant TEXT NOT NULL, numerator TEXT NOT NULL, denominator TEXT NOT NULL,
        n INTEGER NOT NULL, mean_x REAL NOT NULL, mean_y REAL NOT NULL, m2_x REAL NOT NULL,
        m2_y REAL NOT NULL, c_xy REAL NOT NULL, PRIMARY KEY (test, variant, numerator, denominator))""",
]

RESULT_COLUMNS = (
    "position", "test", "variant", "session_id", "case_id", "success", "tool_calls", "successful_calls",
    "errors", "completion_time", "messages", "corrections", "tokens", "cost", "score", "metrics",
    "error_messages", "notes", "recorded_at",
)
_INSERT_RESULT = (
    f"INSERT INTO ab_results ({', '.join(RESULT_COLUMNS)}) VALUES ({', '.join('?' * len(RESULT_COLUMNS))})"
)


def test_name(stream_id: str) -> str:
    """The test name of an ``ab:<name>`` stream."""
    return stream_id[3:]


class ABProjection:
    """Folds A/B events into the ``ab_*`` tables."""

    name = "ab"
    version = 1
    handles = frozenset({"TestCreated", "ResultAdded", "TestArchived", "TestRestored"})

    def create(self, conn: sqlite3.Connection) -> None:
        for statement in DDL:
            conn.execute(statement)

    def drop(self, conn: sqlite3.Connection) -> None:
        for table in TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")

    def apply(self, conn: sqlite3.Connection, events: Sequence[RecordedEvent]) -> None:
        results: list[tuple[Any, ...]] = []
        moments: dict[tuple[str, str], dict[str, list[float]]] = {}
        comoments: dict[tuple[str, str, str, str], list[float]] = {}
        counts: dict[tuple[str, str], int] = {}
        last: dict[str, int] = {}
        for e in events:
            if e.type == RESULT_TYPE:
                # results arrive in runs: fold a run in memory, write it once
                test = test_name(e.stream_id)
                data = e.data
                if e.schema_version != RESULT_VERSION:
                    data = upcast(RESULT_TYPE, e.schema_version, data)
                self._fold_result(conn, test, e, data, results, moments, comoments)
                key = (test, data["variant"])
                counts[key] = counts.get(key, 0) + 1
                last[test] = e.position
                continue
            # a definition change: flush what was folded so far, in order
            self._flush(conn, results, moments, comoments, counts, last)
            results, moments, comoments, counts, last = [], {}, {}, {}, {}
            self._apply_definition(conn, e)
        self._flush(conn, results, moments, comoments, counts, last)

    # ------------------------------------------------------------------ definitions

    @staticmethod
    def _apply_definition(conn: sqlite3.Connection, e: RecordedEvent) -> None:
        test = test_name(e.stream_id)
        if e.type == "TestCreated":
            d = json.loads(e.data_json)
            conn.execute(
                "INSERT INTO ab_tests (name, stream_id, variants, control, metric, guardrails, split, task_id, "
                "description, prompt, category, difficulty, archived, results, created_at, created_position, "
                "last_position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?)",
                (
                    test, e.stream_id, canonical_json(d["variants"]), d["control"], d.get("metric", "success"),
                    canonical_json(d.get("guardrails", [])),
                    canonical_json(d["split"]) if d.get("split") is not None else None,
                    d.get("task_id"), d.get("description"), d.get("prompt"), d.get("category"),
                    d.get("difficulty"), e.recorded_at, e.position, e.position,
                ),
            )
            split = d.get("split") or {}
            conn.executemany(
                "INSERT INTO ab_variants (test, variant, ord, is_control, planned_share, results) "
                "VALUES (?, ?, ?, ?, ?, 0)",
                [
                    (test, v, i, int(v == d["control"]), split.get(v, 1 / len(d["variants"])))
                    for i, v in enumerate(d["variants"])
                ],
            )
        elif e.type in ("TestArchived", "TestRestored"):
            conn.execute(
                "UPDATE ab_tests SET archived = ?, last_position = ? WHERE name = ?",
                (int(e.type == "TestArchived"), e.position, test),
            )

    # ------------------------------------------------------------------ results

    @staticmethod
    def _fold_result(
        conn: sqlite3.Connection,
        test: str,
        e: RecordedEvent,
        d: dict[str, Any],
        results: list[tuple[Any, ...]],
        moments: dict[tuple[str, str], dict[str, list[float]]],
        comoments: dict[tuple[str, str, str, str], list[float]],
    ) -> None:
        variant = d["variant"]
        success = d.get("success")
        metrics = d.get("metrics")
        errors = d.get("error_messages")
        results.append((
            e.position, test, variant, d.get("session_id"), d.get("case_id"),
            None if success is None else int(success), d.get("tool_calls"), d.get("successful_calls"),
            d.get("errors", len(errors) if errors else None), d.get("completion_time"), d.get("messages"),
            d.get("corrections"), d.get("tokens"), d.get("cost"), d.get("score"),
            canonical_json(metrics) if metrics else None, canonical_json(errors) if errors else None,
            d.get("notes"), e.recorded_at,
        ))
        obs = observations(d)
        group = moments.get((test, variant))
        if group is None:
            group = moments[(test, variant)] = _load_moments(conn, test, variant)
        for metric, x in obs.items():
            acc = group.get(metric)
            if acc is None:
                acc = group[metric] = [0, 0.0, 0.0]
            # Welford's update, in position order
            n = acc[0] + 1
            mean = acc[1]
            delta = x - mean
            mean += delta / n
            acc[0] = n
            acc[1] = mean
            acc[2] += delta * (x - mean)
        for num, den in RATIO_PAIRS:
            if num in obs and den in obs:
                ckey = (test, variant, num, den)
                c = comoments.get(ckey)
                if c is None:
                    c = comoments[ckey] = _load_comoments(conn, ckey)
                x, y = obs[num], obs[den]
                n = c[0] + 1
                dx, dy = x - c[1], y - c[2]
                mx, my = c[1] + dx / n, c[2] + dy / n
                c[0], c[1], c[2] = n, mx, my
                c[3] += dx * (x - mx)
                c[4] += dy * (y - my)
                c[5] += dx * (y - my)

    @staticmethod
    def _flush(
        conn: sqlite3.Connection,
        results: list[tuple[Any, ...]],
        moments: dict[tuple[str, str], dict[str, list[float]]],
        comoments: dict[tuple[str, str, str, str], list[float]],
        counts: dict[tuple[str, str], int],
        last: dict[str, int],
    ) -> None:
        if not results:
            return
        conn.executemany(_INSERT_RESULT, results)
        conn.executemany(
            "INSERT OR REPLACE INTO ab_moments (test, variant, metric, n, mean, m2) VALUES (?, ?, ?, ?, ?, ?)",
            [(t, v, metric, int(a[0]), a[1], a[2]) for (t, v), group in moments.items() for metric, a in group.items()],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO ab_comoments (test, variant, numerator, denominator, n, mean_x, mean_y, "
            "m2_x, m2_y, c_xy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*k, int(v[0]), *v[1:]) for k, v in comoments.items()],
        )
        conn.executemany(
            "UPDATE ab_variants SET results = results + ? WHERE test = ? AND variant = ?",
            [(n, t, v) for (t, v), n in counts.items()],
        )
        per_test: dict[str, int] = {}
        for (t, _), n in counts.items():
            per_test[t] = per_test.get(t, 0) + n
        conn.executemany(
            "UPDATE ab_tests SET results = results + ?, last_position = ? WHERE name = ?",
            [(n, last[t], t) for t, n in per_test.items()],
        )


def _load_moments(conn: sqlite3.Connection, test: str, variant: str) -> dict[str, list[float]]:
    return {
        r[0]: [r[1], r[2], r[3]]
        for r in conn.execute(
            "SELECT metric, n, mean, m2 FROM ab_moments WHERE test = ? AND variant = ?", (test, variant)
        )
    }


def _load_comoments(conn: sqlite3.Connection, key: tuple[str, str, str, str]) -> list[float]:
    row = conn.execute(
        "SELECT n, mean_x, mean_y, m2_x, m2_y, c_xy FROM ab_comoments "
        "WHERE test = ? AND variant = ? AND numerator = ? AND denominator = ?",
        key,
    ).fetchone()
    return list(row) if row else [0, 0.0, 0.0, 0.0, 0.0, 0.0]
