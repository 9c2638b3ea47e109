"""The eval read model kept by delta (issue #25): however a log is split into batches it
folds to the same tables, and the totals in ``eval_runs`` are what its rows count.

Events are folded straight through ``EvalsProjection.apply`` (so the cases the domain
never records, such as the same attempt twice, are folded too), then through the ledger
(``record_batch``: rollouts, retries and verdicts in the executor's batches) against a
rebuild."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialbook.domain.canonical import canonical_json
from trialbook.projections.evals import RECOUNT_SQL, TABLES, EvalsProjection
from trialbook.store.base import RecordedEvent

CASES = ("a", "b", "c", "d")
RUNS = ("r1", "r2")


def dump(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


def fresh() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    EvalsProjection().create(conn)
    return conn


def recorded(position: int, stream: str, type_: str, data: dict[str, Any]) -> RecordedEvent:
    return RecordedEvent(
        position, f"e{position}", stream, position, type_, 1, canonical_json(data), "{}",
        f"2026-01-01T00:00:{position % 60:02d}Z", "", "",
    )  # fmt: skip


costs = st.one_of(st.none(), st.floats(0, 2, allow_nan=False), st.integers(0, 3))
tokens = st.one_of(st.none(), st.integers(0, 500))

rollout = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["RolloutCompleted", "RolloutFailed"]),
        "run": st.sampled_from(RUNS),
        "case_id": st.sampled_from(CASES),
        "epoch": st.integers(1, 2),
        # attempts repeat and go back: folds the domain never records are folded too
        "attempt": st.integers(1, 3),
        "cost_usd": costs,
        "prompt_tokens": tokens,
        "completion_tokens": tokens,
    }
)
verdict = st.fixed_dictionaries(
    {
        "kind": st.just("VerdictRecorded"),
        "run": st.sampled_from(RUNS),
        "case_id": st.sampled_from(CASES),
        "epoch": st.integers(1, 2),
        "scorer": st.sampled_from(["equals", "judge"]),
        "repeat": st.integers(0, 1),
        "score": st.floats(0, 1),
    }
)
status = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["RunInterrupted", "RunResumed", "RunFinished", "RunStarted"]),
        "run": st.sampled_from(RUNS),
    }
)


def to_events(steps: list[dict[str, Any]]) -> list[RecordedEvent]:
    """Each run starts first; then the steps, one event each, in order."""
    out: list[RecordedEvent] = []

    def add(stream: str, type_: str, data: dict[str, Any]) -> None:
        out.append(recorded(len(out) + 1, stream, type_, data))

    def start(run: str) -> None:
        add(
            f"eval-run:{run}",
            "RunStarted",
            {
                "name": run, "suite": "s", "suite_version": 1, "suite_hash": "h",
                "case_ids": list(CASES), "target": {"kind": "python"},
                "settings": {"epochs": 2}, "scorers": ["equals"],
            },
        )  # fmt: skip

    add("eval-suite:s", "SuiteRegistered", {"name": "s", "version": 1, "hash": "h", "cases": []})
    for run in RUNS:
        start(run)
    for s in steps:
        stream, kind = f"eval-run:{s['run']}", s["kind"]
        if kind == "RunStarted":
            start(s["run"])  # the same run started again (the domain refuses it)
        elif kind == "VerdictRecorded":
            add(
                stream,
                kind,
                {k: s[k] for k in ("case_id", "epoch", "scorer", "repeat", "score")}
                | {"run_id": s["run"], "passed": s["score"] >= 0.5, "evaluation": [], "flags": []},
            )
        elif kind.startswith("Rollout"):
            data = {k: v for k, v in s.items() if k not in ("kind", "run")}
            if kind == "RolloutCompleted":
                data["output"] = "ok"
            else:
                data["error"] = "boom"
            add(stream, kind, data)
        else:
            add(stream, kind, {"reason": "stop"} if kind == "RunInterrupted" else {})
    return out


def fold(events: list[RecordedEvent], cuts: list[int]) -> sqlite3.Connection:
    conn, p, at = fresh(), EvalsProjection(), 0
    for cut in [*sorted(set(cuts)), len(events)]:
        if cut > at:
            p.apply(conn, events[at:cut])
            at = cut
    return conn


def check_totals(conn: sqlite3.Connection) -> None:
    """Every run's stored totals are its rows counted (costs: summed in another order)."""
    for (run_id,) in conn.execute("SELECT run_id FROM eval_runs").fetchall():
        stored = conn.execute(
            "SELECT completed, failed, attempts, cost_usd, prompt_tokens, completion_tokens, "
            "verdicts FROM eval_runs WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        counted = conn.execute(RECOUNT_SQL, (run_id,)).fetchone()
        assert stored[:3] == counted[:3] and stored[4:] == counted[4:], (stored, counted)
        if counted[3] is None:
            assert stored[3] is None
        else:
            assert math.isclose(stored[3], counted[3], rel_tol=1e-12, abs_tol=1e-12)


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(st.one_of(rollout, rollout, verdict, status), max_size=40),
    cuts=st.lists(st.integers(0, 45), max_size=8),
)
def test_any_split_into_batches_folds_to_the_tables_of_one_batch(
    steps: list[dict[str, Any]], cuts: list[int]
) -> None:
    events = to_events(steps)
    whole = fold(events, [])
    assert dump(fold(events, cuts)) == dump(whole)
    assert dump(fold(events, list(range(len(events))))) == dump(whole)  # one event at a time
    check_totals(whole)


def test_a_rollout_finds_its_case_index_by_key() -> None:
    events = to_events(
        [{"kind": "RolloutCompleted", "run": "r1", "case_id": "c", "epoch": 1, "attempt": 1}]
    )
    conn = fold(events, [])
    assert conn.execute("SELECT case_id, case_index FROM eval_rollouts").fetchall() == [("c", 2)]


def test_a_retry_replacing_a_failure_moves_the_counts() -> None:
    def step(kind: str, attempt: int) -> dict[str, Any]:
        return {"kind": kind, "run": "r1", "case_id": "a", "epoch": 1, "attempt": attempt,
                "cost_usd": 0.25, "prompt_tokens": 10}  # fmt: skip

    events = to_events([step("RolloutFailed", 1), step("RolloutCompleted", 2)])
    conn = fold(events, [4])  # the retry in a batch of its own
    row = conn.execute(
        "SELECT completed, failed, attempts, cost_usd, prompt_tokens FROM eval_runs "
        "WHERE run_id = 'r1'"
    ).fetchone()
    assert row == (1, 0, 2, 0.5, 20)


# --------------------------------------------------------------------------- through the ledger


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    fails=st.lists(st.booleans(), min_size=1, max_size=12),
    batch=st.integers(1, 5),
    rescore=st.booleans(),
)
def test_recording_through_the_ledger_equals_a_rebuild(
    tmp_path_factory: Any, fails: list[bool], batch: int, rescore: bool
) -> None:
    from trialbook.domain.evals import RecordVerdicts, RegisterSuite, RunSettings, plan_run
    from trialbook.domain.suites import Case
    from trialbook.domain.verdict_values import Verdict
    from trialbook.ledger import Ledger
    from trialbook.runners.eval_scoring import verdict_events
    from trialbook.runners.eval_session import record_batch
    from trialbook.runners.executor import RolloutJob, RolloutOutcome, make_jobs
    from trialbook.runners.ledger_recorder import LedgerRecorder
    from trialbook.runners.targets import TargetReply

    db: Path = tmp_path_factory.mktemp("props") / "t.db"
    cases = [Case(id=f"c{i}", input=str(i)) for i in range(len(fails))]

    def outcome(job: RolloutJob, fail: bool) -> RolloutOutcome:
        if fail:
            return RolloutOutcome(job, None, error="503", error_kind="http_status", latency_s=0.1)
        reply = TargetReply(output=job.case.id, latency_s=0.1, prompt_tokens=3, cost_usd=0.1)
        return RolloutOutcome(job, reply, latency_s=0.1)

    with Ledger(db) as ledger:
        rec = LedgerRecorder(ledger)
        rec.handle(RegisterSuite(name="s", cases=tuple(cases)))
        rec.handle(
            plan_run(
                rec.suite_state("s"),
                run_id="r",
                target={"kind": "python"},
                trialbook_version="t",
                settings=RunSettings(),
            )
        )
        jobs = make_jobs(cases)
        firsts = [outcome(j, f) for j, f in zip(jobs, fails, strict=True)]
        retries = [
            outcome(RolloutJob(o.job.case, o.job.epoch, 2, o.job.seed), False)
            for o in firsts
            if not o.ok
        ]
        verdicts = {
            (o.case_id, o.job.epoch, o.job.attempt): [Verdict.scored("equals", 1.0)]
            for o in firsts + retries
            if o.ok
        }
        write = record_batch(rec, "r", verdicts)
        for group in (firsts, retries):
            for i in range(0, len(group), batch):
                write(group[i : i + batch])
        if rescore:
            events = verdict_events(rec.put_blob, "r", "c0", 1, [Verdict.scored("equals", 0.0)])
            rec.handle(RecordVerdicts(run_id="r", session="rescore", verdicts=tuple(events)))
        before = dump(ledger.store.conn)
        check_totals(ledger.store.conn)
        run = ledger.store.conn.execute(
            "SELECT completed, failed, attempts, verdicts FROM eval_runs"
        ).fetchone()
        assert run == (len(fails), 0, len(fails) + sum(fails), len(fails) + rescore)
        ledger.rebuild_projections(["evals"])
        assert dump(ledger.store.conn) == before
        assert ledger.store.conn.execute(
            "SELECT case_id FROM eval_run_cases ORDER BY case_index"
        ).fetchall() == [(c.id,) for c in cases]


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.one_of(rollout, verdict), max_size=30), case_id=st.sampled_from(CASES))
def test_one_cases_rows_read_by_key_are_the_runs_rows_of_that_case(
    steps: list[dict[str, Any]], case_id: str
) -> None:
    # ``eval show RUN --case ID`` reads the case by key instead of the whole run
    from trialbook.projections import eval_queries

    conn = fold(to_events(steps), [])
    for run in RUNS:
        rows = eval_queries.rollout_rows(conn, run)
        assert eval_queries.rollout_rows(conn, run, case_id) == [
            r for r in rows if r["case_id"] == case_id
        ]
        for every in (False, True):
            vs = eval_queries.verdicts(conn, run, all_verdicts=every)
            assert eval_queries.verdicts(conn, run, all_verdicts=every, case_id=case_id) == [
                v for v in vs if v.case_id == case_id
            ]


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.one_of(rollout, verdict), max_size=30))
def test_scorer_names_are_the_latest_verdicts_scorers_in_first_seen_order(
    steps: list[dict[str, Any]],
) -> None:
    # ``eval compare`` picks its basis from the names alone, without decoding every verdict
    from trialbook.projections import eval_queries

    conn = fold(to_events(steps), [])
    for run in RUNS:
        seen = [v.scorer for v in eval_queries.verdicts(conn, run)]
        assert eval_queries.scorer_names(conn, run) == list(dict.fromkeys(seen))
