"""The eval read model: suites, runs, rollouts and verdicts as browsable tables.

Tables:

- ``eval_suites``: one row per suite version (name, version, hash, number of
  cases, source file, registered_at, position).
- ``eval_runs``: one row per run: name, suite and version, target description
  and settings (JSON), scorer descriptions (JSON), status (``running``,
  ``interrupted``, ``finished``), total / completed / failed pairs, attempts,
  cost, tokens, started_at / finished_at, the last interruption reason, and
  ``runner``: the process (``{"host", "pid"}`` as JSON) that started or last
  resumed the run, from that event's metadata (NULL if it did not say).
- ``eval_rollouts``: one row per rollout attempt (run, case, epoch, attempt),
  with ``case_index`` (the case's place in the suite), ``status``
  (``completed`` / ``failed``), the output as JSON when small or its
  ``output_blob`` hash, latency (NULL for a ``cached`` rollout: not measured),
  tokens, cost, score, reward, error, tries, ``metrics`` (JSON, further numbers
  the target reported), ``cached`` (1: read from the response cache), and
  ``is_latest``: 1 on the attempt that is the pair's outcome (a completed
  attempt stays the outcome), so ``WHERE is_latest = 1`` gives one row per
  (case, epoch).
- ``eval_verdicts``: one row per verdict event (keyed by its position), with
  ``is_latest`` 1 on the last verdict per (run, scorer, case, epoch, repeat):
  a rescore replaces the earlier one there, and both stay in the table.
  ``score`` is normalised to 0–1; ``raw_score`` is on the scorer's scale
  ``scale_low``–``scale_high`` (0–1 for an event that recorded none).
- ``eval_run_cases``: each run's case ids with their place in the suite, so a
  rollout finds its ``case_index`` by key. (They are not a JSON list in
  ``eval_runs``: its row is rewritten with the totals after every batch, and a
  row that long cost O(cases) to read and rewrite, over 1 MB at 100,000 cases.)

No statement a rollout or a verdict runs reads or rewrites more than a few
rows, however large its run (issue #25; ``bench/eval_scale.py`` measures it):
each finds its rows by their whole key, and the counts and sums in
``eval_runs`` are kept by delta: each batch reads the run's row once, adds what each event changed
(in position order, so the sums are the same floats however the log is split
into batches) and writes it back, in the same transaction as the rows. Only a
fold that replaces a row already there (the same rollout attempt or verdict
position folded again, which the domain never records) recounts the run from
its rows, exactly as a rebuild folding the same events does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from trialbook.domain.canonical import canonical_json
from trialbook.projections.base import TableProjection
from trialbook.store.base import RecordedEvent

TABLES = ("eval_suites", "eval_runs", "eval_rollouts", "eval_verdicts", "eval_run_cases")

DDL = [
    """CREATE TABLE IF NOT EXISTS eval_suites (
        name TEXT NOT NULL, version INTEGER NOT NULL, hash TEXT NOT NULL, cases INTEGER NOT NULL,
        source TEXT, description TEXT, registered_at TEXT NOT NULL, position INTEGER NOT NULL,
        PRIMARY KEY (name, version))""",
    """CREATE TABLE IF NOT EXISTS eval_runs (
        run_id TEXT PRIMARY KEY, name TEXT NOT NULL, suite TEXT NOT NULL, suite_version INTEGER NOT NULL,
        suite_hash TEXT NOT NULL, target TEXT NOT NULL, settings TEXT NOT NULL,
        scorers TEXT NOT NULL, status TEXT NOT NULL, epochs INTEGER NOT NULL, total INTEGER NOT NULL,
        completed INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0, cost_usd REAL, prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0, verdicts INTEGER NOT NULL DEFAULT 0,
        trialbook_version TEXT, git_sha TEXT, started_at TEXT NOT NULL, finished_at TEXT,
        interrupt_reason TEXT, runner TEXT, last_position INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS eval_rollouts (
        run_id TEXT NOT NULL, case_id TEXT NOT NULL, epoch INTEGER NOT NULL, attempt INTEGER NOT NULL,
        case_index INTEGER NOT NULL, status TEXT NOT NULL, is_latest INTEGER NOT NULL,
        output TEXT, output_blob TEXT, trace_blob TEXT, latency_s REAL, prompt_tokens INTEGER,
        completion_tokens INTEGER, cost_usd REAL, score REAL, reward REAL, model TEXT, error TEXT,
        error_kind TEXT, status_code INTEGER, tries INTEGER NOT NULL, position INTEGER NOT NULL,
        recorded_at TEXT NOT NULL, cached INTEGER NOT NULL DEFAULT 0, metrics TEXT,
        PRIMARY KEY (run_id, case_id, epoch, attempt))""",
    # each pair's outcome in the order a run is read (epoch, suite order). Partial: a retry
    # that becomes the outcome takes the old outcome's entry out and puts its own in the same
    # place, one index page, where an is_latest column in the key moved an entry across the
    # index (a page far away in a large run)
    "CREATE INDEX IF NOT EXISTS eval_rollouts_outcomes "
    "ON eval_rollouts (run_id, epoch, case_index, case_id, attempt) WHERE is_latest = 1",
    """CREATE TABLE IF NOT EXISTS eval_verdicts (
        position INTEGER PRIMARY KEY, run_id TEXT NOT NULL, case_id TEXT NOT NULL, epoch INTEGER NOT NULL,
        scorer TEXT NOT NULL, repeat INTEGER NOT NULL, score REAL, raw_score REAL, passed INTEGER,
        abstained INTEGER NOT NULL, error TEXT, evaluation TEXT NOT NULL, result TEXT, flags TEXT NOT NULL,
        usage TEXT, judge_prompt_tokens INTEGER, judge_completion_tokens INTEGER, judge_cost_usd REAL,
        scale_low REAL NOT NULL DEFAULT 0, scale_high REAL NOT NULL DEFAULT 1,
        raw_blob TEXT, is_latest INTEGER NOT NULL, recorded_at TEXT NOT NULL)""",
    # a run's verdicts in log order (appended at its end, never moved by a rescore)
    "CREATE INDEX IF NOT EXISTS eval_verdicts_run ON eval_verdicts (run_id, position)",
    # each new verdict marks the one it replaces: without the whole key that UPDATE scanned
    # every earlier verdict of the run (quadratic in the run's size). Partial, like
    # eval_rollouts_outcomes: the replaced verdict's entry leaves, the new one takes its place
    "CREATE INDEX IF NOT EXISTS eval_verdicts_latest "
    "ON eval_verdicts (run_id, scorer, case_id, epoch, repeat) WHERE is_latest = 1",
    # a rollout's case_index by key: reading the run's case_ids JSON and indexing it cost
    # O(cases) per batch (quadratic in the run's size)
    """CREATE TABLE IF NOT EXISTS eval_run_cases (
        run_id TEXT NOT NULL, case_id TEXT NOT NULL, case_index INTEGER NOT NULL,
        PRIMARY KEY (run_id, case_id)) WITHOUT ROWID""",
]

ROLLOUT_TYPES = ("RolloutCompleted", "RolloutFailed")
RUN_STATUS = {"RunInterrupted": "interrupted", "RunResumed": "running", "RunFinished": "finished"}


def _json(value: Any) -> str | None:
    return None if value is None else canonical_json(value)


def _scale(value: Any) -> tuple[float, float]:
    """A verdict's recorded scale; an event without one is on 0–1."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    return 0.0, 1.0


def _runner(e: RecordedEvent) -> str | None:
    """The process that recorded ``e`` (metadata ``process``), as JSON, if it said."""
    process = e.metadata.get("process")
    return _json(process) if isinstance(process, dict) else None


#: the status of a pair's latest attempt, read when a retry is folded. ``+is_latest`` keeps
#: SQLite from choosing eval_rollouts_outcomes (run_id, epoch, …), which scans every latest
#: rollout of the epoch (a retry cost 11 ms at 30,000 cases); the primary key's prefix
#: (run_id, case_id, epoch) finds the pair's few attempts directly
LATEST_STATUS_SQL = (
    "SELECT status FROM eval_rollouts WHERE run_id = ? AND case_id = ? AND epoch = ? "
    "AND +is_latest = 1"
)

#: a retry that becomes the pair's outcome: its earlier attempts stop being the latest
UNMARK_LATEST_ROLLOUT_SQL = (
    "UPDATE eval_rollouts SET is_latest = 0 WHERE run_id = ? AND case_id = ? AND epoch = ?"
)

#: a new verdict replaces the pair's latest one (the whole key: eval_verdicts_latest)
UNMARK_LATEST_VERDICT_SQL = (
    "UPDATE eval_verdicts SET is_latest = 0 WHERE run_id = ? AND scorer = ? AND case_id = ? "
    "AND epoch = ? AND repeat = ? AND is_latest = 1"
)

_ROLLOUT_COLUMNS = (
    "run_id, case_id, epoch, attempt, case_index, status, is_latest, output, output_blob, "
    "trace_blob, latency_s, prompt_tokens, completion_tokens, cost_usd, score, reward, model, "
    "error, error_kind, status_code, tries, position, recorded_at, cached, metrics"
)
#: a rollout row; its case_index is found by key in eval_run_cases (-1: not a case of the run).
#: ``{verb}`` is INSERT (nothing is replaced: the usual case) or INSERT OR REPLACE
_INSERT_ROLLOUT = (
    "{verb} INTO eval_rollouts (" + _ROLLOUT_COLUMNS + ") VALUES (?, ?, ?, ?, "
    "coalesce((SELECT case_index FROM eval_run_cases WHERE run_id = ? AND case_id = ?), -1), "
    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?){conflict}"
)
INSERT_ROLLOUT_SQL = _INSERT_ROLLOUT.format(verb="INSERT", conflict=" ON CONFLICT DO NOTHING")
REPLACE_ROLLOUT_SQL = _INSERT_ROLLOUT.format(verb="INSERT OR REPLACE", conflict="")

_INSERT_VERDICT = (
    "{verb} INTO eval_verdicts (position, run_id, case_id, epoch, scorer, repeat, score, "
    "raw_score, passed, abstained, error, evaluation, result, flags, usage, judge_prompt_tokens, "
    "judge_completion_tokens, judge_cost_usd, raw_blob, is_latest, recorded_at, scale_low, "
    "scale_high) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)"
    "{conflict}"
)
INSERT_VERDICT_SQL = _INSERT_VERDICT.format(verb="INSERT", conflict=" ON CONFLICT DO NOTHING")
REPLACE_VERDICT_SQL = _INSERT_VERDICT.format(verb="INSERT OR REPLACE", conflict="")

#: the run's totals as stored (read once per batch that touches the run, by its key)
TOTALS_SQL = (
    "SELECT completed, failed, attempts, cost_usd, prompt_tokens, completion_tokens, verdicts "
    "FROM eval_runs WHERE run_id = ?"
)
#: the run's totals counted from its rows: O(rows), so only when a fold replaced a row
RECOUNT_SQL = """SELECT
    (SELECT count(*) FROM eval_rollouts r
     WHERE r.run_id = ?1 AND r.is_latest = 1 AND r.status = 'completed'),
    (SELECT count(*) FROM eval_rollouts r
     WHERE r.run_id = ?1 AND r.is_latest = 1 AND r.status = 'failed'),
    (SELECT count(*) FROM eval_rollouts r WHERE r.run_id = ?1),
    (SELECT sum(cost_usd) FROM eval_rollouts r WHERE r.run_id = ?1),
    (SELECT coalesce(sum(prompt_tokens), 0) FROM eval_rollouts r WHERE r.run_id = ?1),
    (SELECT coalesce(sum(completion_tokens), 0) FROM eval_rollouts r WHERE r.run_id = ?1),
    (SELECT count(*) FROM eval_verdicts v WHERE v.run_id = ?1)"""
_WRITE_TOTALS = (
    "UPDATE eval_runs SET completed = ?, failed = ?, attempts = ?, cost_usd = ?, "
    "prompt_tokens = ?, completion_tokens = ?, verdicts = ?, last_position = ? WHERE run_id = ?"
)


class _Totals:
    """One run's counts and sums in ``eval_runs``, changed event by event during a batch."""

    __slots__ = ("completed", "failed", "attempts", "cost", "prompt", "completion", "verdicts")

    def __init__(self, row: Sequence[Any]) -> None:
        (
            self.completed,
            self.failed,
            self.attempts,
            self.cost,
            self.prompt,
            self.completion,
            self.verdicts,
        ) = row

    def latest(self, status: str, change: int) -> None:
        """A row of ``status`` became (+1) or stopped being (-1) its pair's outcome."""
        if status == "completed":
            self.completed += change
        elif status == "failed":
            self.failed += change

    def attempt(self, cost: Any, prompt: Any, completion: Any) -> None:
        """One more rollout row (its cost and tokens, each possibly unknown)."""
        self.attempts += 1
        if cost is not None:
            # a sum in position order: the same float whatever the batches were
            self.cost = float(cost) if self.cost is None else self.cost + cost
        if prompt is not None:
            self.prompt += prompt
        if completion is not None:
            self.completion += completion

    def row(self) -> tuple[Any, ...]:
        return (
            self.completed,
            self.failed,
            self.attempts,
            self.cost,
            self.prompt,
            self.completion,
            self.verdicts,
        )


class EvalsProjection(TableProjection):
    """Suites, runs, rollouts and verdicts (see the module docstring)."""

    name = "evals"
    #: 2: eval_runs.runner (the process running the run);
    #: 3: an index on the verdicts' whole key;
    #: 4: eval_verdicts.scale_low and .scale_high (the scale raw_score is on);
    #: 5: eval_rollouts.cached and .metrics (a cached rollout's latency is NULL: not measured);
    #: 6: eval_run_cases (a rollout's case_index by key; eval_runs.case_ids dropped), totals
    #: kept by delta, partial indexes on the latest rollouts and verdicts, eval_verdicts_run
    #: on (run_id, position)
    version = 6
    handles = frozenset(
        {
            "SuiteRegistered",
            "RunStarted",
            *ROLLOUT_TYPES,
            "RunInterrupted",
            "RunResumed",
            "RunFinished",
            "VerdictRecorded",
        }
    )
    ddl = DDL
    tables = TABLES

    def apply(self, conn: sqlite3.Connection, events: Sequence[RecordedEvent]) -> None:
        #: run -> its position last touched in this batch
        touched: dict[str, int] = {}
        #: run -> its totals as this batch changed them (None: no such run row)
        totals: dict[str, _Totals | None] = {}

        def totals_of(run_id: str) -> _Totals | None:
            if run_id not in totals:
                row = conn.execute(TOTALS_SQL, (run_id,)).fetchone()
                totals[run_id] = None if row is None else _Totals(row)
            return totals[run_id]

        def recount(run_id: str) -> None:
            row = conn.execute(RECOUNT_SQL, (run_id,)).fetchone()
            totals[run_id] = _Totals(row) if totals_of(run_id) is not None else None

        for e in events:
            data = e.data
            if e.type == "SuiteRegistered":
                conn.execute(
                    "INSERT OR REPLACE INTO eval_suites (name, version, hash, cases, source, description, "
                    "registered_at, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        data["name"],
                        data["version"],
                        data["hash"],
                        len(data["cases"]),
                        data.get("source"),
                        data.get("description"),
                        e.recorded_at,
                        e.position,
                    ),
                )
                continue
            run_id = e.stream_id.removeprefix("eval-run:")
            touched[run_id] = e.position
            if e.type == "RunStarted":
                self._start(conn, e, run_id, data)
                totals.pop(run_id, None)
                # a run starts with nothing counted, unless rows of an earlier start of the
                # same id are there (the domain never starts a run twice)
                if conn.execute(
                    "SELECT 1 FROM eval_rollouts WHERE run_id = ?1 UNION ALL "
                    "SELECT 1 FROM eval_verdicts WHERE run_id = ?1 LIMIT 1",
                    (run_id,),
                ).fetchone():
                    recount(run_id)
            elif e.type in ROLLOUT_TYPES:
                if not self._rollout(conn, e, run_id, data, totals_of(run_id)):
                    recount(run_id)
            elif e.type == "VerdictRecorded":
                replaced = self._verdict(conn, e, run_id, data, totals_of(run_id))
                for other in replaced:
                    recount(other)
            else:
                status = RUN_STATUS[e.type]
                if e.type == "RunInterrupted":
                    conn.execute(
                        "UPDATE eval_runs SET status = ?, interrupt_reason = ? WHERE run_id = ?",
                        (status, data.get("reason"), run_id),
                    )
                elif e.type == "RunFinished":
                    conn.execute(
                        "UPDATE eval_runs SET status = ?, finished_at = ? WHERE run_id = ?",
                        (status, e.recorded_at, run_id),
                    )
                else:
                    conn.execute(
                        "UPDATE eval_runs SET status = ?, finished_at = NULL, runner = ? "
                        "WHERE run_id = ?",
                        (status, _runner(e), run_id),
                    )
        for run_id, position in touched.items():
            t = totals_of(run_id)
            if t is not None:
                conn.execute(_WRITE_TOTALS, (*t.row(), position, run_id))

    @staticmethod
    def _start(
        conn: sqlite3.Connection, e: RecordedEvent, run_id: str, data: dict[str, Any]
    ) -> None:
        settings = data["settings"]
        epochs = int(settings.get("epochs", 1))
        conn.execute(
            "INSERT OR REPLACE INTO eval_runs (run_id, name, suite, suite_version, suite_hash, "
            "target, settings, scorers, status, epochs, total, trialbook_version, git_sha, started_at, "
            "runner, last_position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                data["name"],
                data["suite"],
                data["suite_version"],
                data["suite_hash"],
                _json(data["target"]),
                _json(settings),
                _json(data.get("scorers") or []),
                epochs,
                epochs * len(data["case_ids"]),
                data.get("trialbook_version"),
                data.get("git_sha"),
                e.recorded_at,
                _runner(e),
                e.position,
            ),
        )
        conn.execute("DELETE FROM eval_run_cases WHERE run_id = ?", (run_id,))
        # a case id given twice keeps its last place, as a dict of the list would
        conn.executemany(
            "INSERT OR REPLACE INTO eval_run_cases (run_id, case_id, case_index) VALUES (?, ?, ?)",
            ((run_id, c, i) for i, c in enumerate(data["case_ids"])),
        )

    @staticmethod
    def _rollout(
        conn: sqlite3.Connection,
        e: RecordedEvent,
        run_id: str,
        d: dict[str, Any],
        totals: _Totals | None,
    ) -> bool:
        """Fold one rollout; False when it replaced a row already there (then recount the run)."""
        completed = e.type == "RolloutCompleted"
        status = "completed" if completed else "failed"
        case_id, epoch, attempt = d["case_id"], d["epoch"], d.get("attempt", 1)
        latest = 1
        if attempt > 1:
            rows = conn.execute(LATEST_STATUS_SQL, (run_id, case_id, epoch)).fetchall()
            if rows and rows[0][0] == "completed" and not completed:
                latest = 0  # a completed pair stays completed
            elif rows:
                conn.execute(UNMARK_LATEST_ROLLOUT_SQL, (run_id, case_id, epoch))
                if totals is not None:
                    for (was,) in rows:
                        totals.latest(was, -1)
        values = (
            run_id,
            case_id,
            epoch,
            attempt,
            run_id,
            case_id,
            status,
            latest,
            _json(d.get("output")) if completed else None,
            d.get("output_blob"),
            d.get("trace_blob"),
            None if d.get("cached") else d.get("latency_s"),
            d.get("prompt_tokens"),
            d.get("completion_tokens"),
            d.get("cost_usd"),
            d.get("score"),
            d.get("reward"),
            d.get("model"),
            d.get("error"),
            d.get("error_kind"),
            d.get("status_code"),
            d.get("tries", 1),
            e.position,
            e.recorded_at,
            int(bool(d.get("cached"))),
            _json(d.get("metrics")),
        )
        if conn.execute(INSERT_ROLLOUT_SQL, values).rowcount == 0:
            # this attempt is there already: the new row replaces it
            conn.execute(REPLACE_ROLLOUT_SQL, values)
            return False
        if totals is not None:
            if latest:
                totals.latest(status, +1)
            totals.attempt(d.get("cost_usd"), d.get("prompt_tokens"), d.get("completion_tokens"))
        return True

    @staticmethod
    def _verdict(
        conn: sqlite3.Connection,
        e: RecordedEvent,
        run_id: str,
        d: dict[str, Any],
        totals: _Totals | None,
    ) -> list[str]:
        """Fold one verdict; returns the runs to recount when it replaced a row already there."""
        conn.execute(
            UNMARK_LATEST_VERDICT_SQL,
            (run_id, d["scorer"], d["case_id"], d["epoch"], d.get("repeat", 0)),
        )
        usage = d.get("usage") or {}
        passed = d.get("passed")
        values = (
            e.position,
            run_id,
            d["case_id"],
            d["epoch"],
            d["scorer"],
            d.get("repeat", 0),
            d.get("score"),
            d.get("raw_score"),
            None if passed is None else int(bool(passed)),
            int(bool(d.get("abstained"))),
            d.get("error"),
            _json(d.get("evaluation") or []),
            d.get("result"),
            _json(d.get("flags") or []),
            _json(d.get("usage")),
            usage.get("prompt_tokens"),
            usage.get("completion_tokens"),
            usage.get("cost_usd"),
            d.get("raw_blob"),
            e.recorded_at,
            *_scale(d.get("scale")),
        )
        if conn.execute(INSERT_VERDICT_SQL, values).rowcount == 0:
            # a row at this position is there already: the new one replaces it
            row = conn.execute(
                "SELECT run_id FROM eval_verdicts WHERE position = ?", (e.position,)
            ).fetchone()
            conn.execute(REPLACE_VERDICT_SQL, values)
            return list(dict.fromkeys([run_id, row[0]]))
        if totals is not None:
            totals.verdicts += 1
        return []
