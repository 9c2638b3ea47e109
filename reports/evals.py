"""The decision report of an eval run, against a baseline run: ``trialbook report eval RUN --baseline RUN``.

Reads ``eval show`` (:func:`trialbook.ledger.evals.run_report`) and, with a
baseline, ``eval compare`` (:func:`trialbook.ledger.eval_compare.compare`: the
pairs by case and epoch, the paired interval and the always-valid analysis of
the per-case differences), now or on the runs' streams replayed to a position.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trialbook.reports.common import Builder, actors, mean, quantile, ranges, say

if TYPE_CHECKING:
    from trialbook.ledger import Ledger

SHOW = "evals.show"
COMPARE = "evals.compare"
#: the lift plot: ``interval_history`` of the comparison's analysis input
#: (:func:`trialbook.ledger.eval_compare.analysis_input`), replayed
HISTORY = "evals.history"
ROLLOUTS = ["RolloutCompleted", "RolloutFailed"]
DECISION_WORDS = {"continue": "keep_collecting"}
#: a run whose scorers agree on fewer than this share of rollouts is only partly ready
AGREEMENT_READY = 0.8


def _compare(
    ledger: Ledger, run: str, baseline: str, position: int, live: bool
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``eval compare baseline run``'s document and the lift history of its always-valid
    analysis (None with fewer than 2 pairs), read in one transaction or replayed view."""
    from trialbook.ledger.evals import require_run
    from trialbook.projections.evals import EvalsProjection
    from trialbook.projections.replay import replay_to

    require_run(ledger, baseline)
    if live:
        with ledger.store.read_transaction() as conn:
            return _read(conn, run, baseline)
    view = replay_to(ledger.store, [EvalsProjection()], position)
    try:
        return _read(view.conn, run, baseline)
    finally:
        view.close()


def _read(conn: Any, run: str, baseline: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    from trialbook.ledger import eval_compare

    cmp = eval_compare.compare(conn, baseline, run)
    return cmp, history(conn, baseline, run)


def history(conn: Any, baseline: str, run: str) -> dict[str, Any] | None:
    """The lift of ``run`` over ``baseline`` and its always-valid interval after every pair (the
    looks the web view plots), from the input ``eval compare``'s analysis reads."""
    from trialbook.domain.stats import interval_history
    from trialbook.ledger.eval_compare import analysis_input
    from trialbook.web.reads import PLOT_LOOKS

    inp = analysis_input(conn, baseline, run)
    if inp is None:
        return None
    return {**interval_history(inp, max_looks=PLOT_LOOKS), "results": len(inp.rows or ())}


def build(
    ledger: Ledger,
    run: str,
    *,
    baseline: str | None = None,
    at: int | None = None,
    as_of: str | None = None,
    latency_budget: float | None = None,
    cost_budget: float | None = None,
) -> dict[str, Any]:
    """The report document of eval run ``run`` (see docs/reports.md for its keys)."""
    from trialbook.domain.errors import InvalidCommand
    from trialbook.domain.evals import run_stream
    from trialbook.domain.stats import METHOD_VERSION
    from trialbook.ledger.evals import require_run, run_report
    from trialbook.projections.replay import resolve_position

    require_run(ledger, run)
    if baseline == run:
        raise InvalidCommand(f"--baseline {baseline!r} is the run itself; name another run")
    if baseline is not None:
        require_run(ledger, baseline)
    live = at is None and as_of is None
    position = resolve_position(ledger.store, at=at, as_of=as_of)
    shown = run_report(ledger, run, at=position if not live else None)
    head = ledger.store.get(position) if position else None
    b = Builder("eval", run, position, head.recorded_at if head else None)
    b.doc["as_of"] = as_of
    b.doc["baseline"] = baseline
    b.doc["generated_by"] = {
        "method_version": METHOD_VERSION,
        "analysis": "eval show, eval compare",
    }

    runs = [run] + ([baseline] if baseline else [])
    events: dict[str, list[Any]] = {}
    for r in runs:
        events[r] = list(ledger.store.read_all(until_position=position, stream_id=run_stream(r)))
        if not events[r]:
            raise InvalidCommand(f"eval run {r!r} had not started yet at position {position}")
    started = {r: next(e for e in events[r] if e.type == "RunStarted") for r in runs}
    every = sorted(e.position for r in runs for e in events[r])
    # the suite versions the runs ran (the replay of a comparison needs their registrations)
    suites = {(started[r].data["suite"], started[r].data.get("suite_version")) for r in runs}
    suite_positions = [
        e.position
        for e in ledger.store.read_all(until_position=position, types=["SuiteRegistered"])
        if (e.data.get("name"), e.data.get("version")) in suites
    ]
    info = shown["run"]
    who, first, last, versions = actors(
        sorted((e for r in runs for e in events[r]), key=lambda e: e.position)
    )
    b.doc["scope"] = {
        "compared": [baseline, run] if baseline else [run],
        "baseline": baseline,
        "on": f"suite {info['suite']} v{info['suite_version']}",
        "suite": {r: {"name": started[r].data["suite"], "hash": started[r].data.get("suite_hash"),
                      "version": started[r].data.get("suite_version")} for r in runs},
        "target": {r: started[r].data.get("target") for r in runs},
        "metric": "pass rate and score per case",
        "from": first,
        "to": last,
        "by": who,
        "decisions": [],
        "cites": ranges(every),
    }  # fmt: skip

    # ------------------------------------------------------------------ figures
    stream = {r: run_stream(r) for r in runs}
    latencies: dict[str, list[tuple[int, float]]] = {}
    costs: dict[str, list[tuple[int, float]]] = {}
    for r in runs:
        done = [e for e in events[r] if e.type == "RolloutCompleted"]
        failed = [e for e in events[r] if e.type == "RolloutFailed"]
        b.figure(f"completed.{r}", f"completed rollouts of {r}", len(done), [e.position for e in done],
                 {"count": True}, select={"stream": stream[r], "type": "RolloutCompleted", "data": {}})  # fmt: skip
        b.figure(f"failed.{r}", f"failed rollout attempts of {r}", len(failed), [e.position for e in failed] or [started[r].position],
                 {"count": True}, select={"stream": stream[r], "type": "RolloutFailed", "data": {}})  # fmt: skip
        latencies[r] = [
            (e.position, float(e.data["latency_s"]))
            for e in done
            if e.data.get("latency_s") is not None
        ]
        costs[r] = [
            (e.position, float(e.data["cost_usd"]))
            for e in done
            if e.data.get("cost_usd") is not None
        ]
        sel = {"stream": stream[r], "type": "RolloutCompleted", "data": {}}
        if latencies[r]:
            for q in (0.5, 0.95):
                b.figure(f"latency_p{round(q * 100)}.{r}", f"latency p{round(q * 100)} of {r} (s)",
                         quantile([x for _, x in latencies[r]], q), [p for p, _ in latencies[r]],
                         {"quantile": q, "field": "latency_s"}, select={**sel, "has": "latency_s"}, unit="seconds")  # fmt: skip
        if costs[r]:
            b.figure(f"cost_mean.{r}", f"mean cost of {r} (USD)", mean([x for _, x in costs[r]]),
                     [p for p, _ in costs[r]], {"mean": "cost_usd"}, select={**sel, "has": "cost_usd"}, unit="usd")  # fmt: skip
        verdicts = [e for e in events[r] if e.type == "VerdictRecorded"]
        for scorer in sorted({e.data["scorer"] for e in verdicts}):
            mine = [
                e
                for e in verdicts
                if e.data["scorer"] == scorer and e.data.get("passed") is not None
            ]
            if mine:
                b.figure(f"pass_rate.{r}.{scorer}", f"pass rate of {r} by {scorer}",
                         mean([float(e.data["passed"]) for e in mine]), [e.position for e in mine],
                         {"mean": "passed"}, select={"stream": stream[r], "type": "VerdictRecorded",
                                                     "data": {"scorer": scorer}, "has": "passed"}, unit="share")  # fmt: skip
        errors = [e for e in verdicts if e.data.get("error")]
        b.figure(f"scoring_errors.{r}", f"verdicts of {r} that are scoring errors", len(errors),
                 [e.position for e in errors] or [started[r].position], {"count": True},
                 select={"stream": stream[r], "type": "VerdictRecorded", "data": {}, "has": "error"})  # fmt: skip

    # ------------------------------------------------------------------ readiness
    done_n = b.value(f"completed.{run}")
    total = info["total"]
    status = "ready" if info["status"] == "finished" and done_n >= total else "partial"
    if done_n == 0:
        status = "gap"
    b.row("enough_results", "Enough results", status,
          f"{b.text(f'completed.{run}')} of {total} rollouts completed ({info['status']}), "
          f"{b.text(f'failed.{run}')} failed attempts", figures=[f"completed.{run}", f"failed.{run}"])  # fmt: skip

    cmp = None
    hist = None
    rec_doc: dict[str, Any] | None = None
    if baseline is None:
        b.row("primary", "Comparison with a baseline", "gap",
              "no baseline run: give --baseline RUN to compare case by case", cites=[started[run].position])  # fmt: skip
        b.row(
            "pairing",
            "Pairing by case",
            "gap",
            "nothing to pair without a baseline",
            cites=[started[run].position],
        )
    else:
        cmp, hist = _compare(ledger, run, baseline, position, live)
        va, vb = cmp["variants"]
        cites = every + suite_positions
        # a difference of pass/fail (completion) is in points, of scores in the score's unit
        diff_unit = "points" if cmp["basis"] == "completion" else "difference"
        for key, path, label in (
            ("pairs", ["pairs"], "pairs by case and epoch"),
            ("wins", ["wins"], f"cases {run} wins"),
            ("losses", ["losses"], f"cases {run} loses"),
            ("ties", ["ties"], "ties"),
            (
                "paired.lift",
                ["paired", "lift"],
                f"mean per-case {cmp['basis']} difference, {run} - {baseline}",
            ),
            ("paired.ci", ["paired", "ci"], "its paired t interval (fixed horizon)"),
        ):
            b.figure(
                key,
                label,
                _get(cmp, path),
                cites,
                {"replay": COMPARE, "path": path, "runs": [baseline, run]},
                unit=diff_unit if key.startswith("paired.") else None,
            )
        analysis = cmp["analysis"]
        if analysis is not None:
            v = next(x for x in analysis["variants"] if x["name"] == vb)
            for field in ("lift", "ci", "p_value"):
                step: list[Any] = ["analysis", "variants", {"name": vb}, field]
                b.figure(f"always_valid.{field}", f"always-valid {field.replace('_', ' ')} of {run} vs {baseline}",
                         v[field], cites, {"replay": COMPARE, "path": step, "runs": [baseline, run]},
                         unit="p" if field == "p_value" else diff_unit)  # fmt: skip
            rec_doc = analysis["recommendation"]
            decided = rec_doc["decision"] in ("ship", "keep_control", "no_difference")
            b.row("primary", f"Paired comparison ({cmp['basis']})",
                  "ready" if decided else ("partial" if v["ci"] is not None else "gap"),
                  f"{run} - {baseline}: {b.text('always_valid.lift')}, always-valid interval "
                  f"{b.text('always_valid.ci')}, p {b.text('always_valid.p_value')} ({v['status'] or 'no call'}); "
                  f"{b.text('wins')} wins, {b.text('losses')} losses, {b.text('ties')} ties",
                  figures=["always_valid.lift", "always_valid.ci", "always_valid.p_value", "wins", "losses", "ties"])  # fmt: skip
        else:
            b.row(
                "primary",
                f"Paired comparison ({cmp['basis']})",
                "gap",
                f"{b.text('pairs')} pairs: at least 2 are needed",
                figures=["pairs"],
            )
        unmatched = cmp["only_in_a"] + cmp["only_in_b"]
        b.row("pairing", "Pairing by case", "ready" if cmp["pairs"] and not unmatched else "partial" if cmp["pairs"] else "gap",
              f"{b.text('pairs')} pairs by case and epoch ({cmp['basis']}); paired interval {b.text('paired.ci')}"
              + (f"; {cmp['only_in_a']} only in {baseline}, {cmp['only_in_b']} only in {run}" if unmatched else ""),
              figures=["pairs", "paired.ci"])  # fmt: skip

    agreements = shown.get("agreements") or []
    if agreements:
        worst = min(agreements, key=lambda a: a["percent"] if a["percent"] is not None else -1)
        pick: list[Any] = [
            "agreements",
            {"scorer_a": worst["scorer_a"], "scorer_b": worst["scorer_b"]},
        ]
        b.figure("agreement.percent", f"share of rollouts {worst['scorer_a']} and {worst['scorer_b']} agree on",
                 worst["percent"], every_of(events[run]), {"replay": SHOW, "path": [*pick, "percent"], "runs": [run]}, unit="share")  # fmt: skip
        b.figure("agreement.kappa", "their Cohen's kappa", worst["kappa"], every_of(events[run]),
                 {"replay": SHOW, "path": [*pick, "kappa"], "runs": [run]})  # fmt: skip
        ok = worst["percent"] is not None and worst["percent"] >= AGREEMENT_READY
        b.row("judge_agreement", "Judge agreement", "ready" if ok else "partial",
              f"{worst['scorer_a']} and {worst['scorer_b']} agree on {b.text('agreement.percent')} of "
              f"{worst['n']} rollouts (kappa {b.text('agreement.kappa')}; ready from {AGREEMENT_READY:.0%})",
              figures=["agreement.percent", "agreement.kappa"])  # fmt: skip
    else:
        b.row(
            "judge_agreement",
            "Judge agreement",
            "partial",
            "one scorer: no second opinion to agree with",
            cites=[started[run].position],
        )
    errs = b.value(f"scoring_errors.{run}")
    b.row("scoring_errors", "Scoring errors", "ready" if errs == 0 else "partial",
          f"{b.text(f'scoring_errors.{run}')} verdicts of {run} are scoring errors",
          figures=[f"scoring_errors.{run}"])  # fmt: skip

    def budget(
        kind: str, per: dict[str, list[tuple[int, float]]], key: str, given: float | None, what: str
    ) -> None:
        have = [r for r in runs if per[r]]
        observed = ", ".join(f"{r} {b.text(f'{key}.{r}')}" for r in have)
        limit = say(given, "usd" if kind == "cost" else "seconds")
        figures = [f"{key}.{r}" for r in have]
        if run not in have:
            b.row(f"{kind}_budget", f"{kind.title()} budget", "partial" if given is None else "gap",
                  f"{run} reports no {what}", cites=[started[run].position])  # fmt: skip
        elif given is None:
            b.row(f"{kind}_budget", f"{kind.title()} budget", "partial",
                  f"no budget set (--{kind}-budget); {what} {observed}", figures=figures)  # fmt: skip
        else:
            over = b.value(f"{key}.{run}") > given
            b.row(f"{kind}_budget", f"{kind.title()} budget", "gap" if over else "ready",
                  f"{what} {observed}; budget {limit}" + (f": {run} is over it" if over else ""), figures=figures)  # fmt: skip

    budget("latency", latencies, "latency_p95", latency_budget, "latency p95")
    budget("cost", costs, "cost_mean", cost_budget, "mean cost")

    hashes = {started[r].data.get("suite_hash") for r in runs}
    settings_ok = all(
        started[r].data.get("settings") is not None and started[r].data.get("target") for r in runs
    )
    tools = ", ".join(sorted(versions)) or "unknown"
    problems = []
    if len(hashes) > 1:
        problems.append("the runs ran different suite versions")
    if len(versions) > 1:
        problems.append("several trialbook versions wrote them")
    if not settings_ok:
        problems.append("a run has no recorded target or settings")
    b.row("reproducibility", "Reproducibility", "partial" if problems else "ready",
          "; ".join([*problems, f"suite hash {', '.join(sorted(h[:12] for h in hashes if h))}",
                     f"target and settings recorded at #{', #'.join(str(started[r].position) for r in runs)}",
                     f"git {started[run].data.get('git_sha') or 'unknown'}", f"trialbook {tools}", f"method {METHOD_VERSION}"]),
          cites=[started[r].position for r in runs] + suite_positions)  # fmt: skip

    # ------------------------------------------------------------------ recommendation
    if baseline is None:
        b.recommend("no_baseline", f"Nothing to decide on {run} alone: compare it with a baseline run "
                    f"(trialbook report eval {run} --baseline RUN).", ["a --baseline run to compare against"])  # fmt: skip
    elif rec_doc is None:
        b.recommend("keep_collecting", f"Too few pairs ({cmp['pairs'] if cmp else 0}) to compare {run} with {baseline}.",
                    ["at least 2 cases scored in both runs"])  # fmt: skip
    else:
        word = DECISION_WORDS.get(rec_doc["decision"], rec_doc["decision"])
        variant = {cmp["variants"][0]: baseline, cmp["variants"][1]: run}.get(rec_doc.get("variant"), rec_doc.get("variant")) if cmp else None  # fmt: skip
        changes = []
        if cmp and cmp["regressions"]:
            changes.append(f"fixing the {len(cmp['regressions'])} regressed cases "
                           f"({', '.join(r['case_id'] for r in cmp['regressions'][:5])})")  # fmt: skip
        if word == "keep_collecting":
            changes.append(
                "more cases or epochs: the always-valid interval narrows as pairs come in"
            )
        elif word == "ship":
            changes.append("a regression appearing in more epochs, or a budget being exceeded")
        else:
            changes.append("a new candidate run whose per-case scores move the interval")
        b.recommend(word, rec_doc["reason"], changes, variant, cites=every + suite_positions,
                    basis={"replay": COMPARE, "path": ["analysis", "recommendation", "reason"], "runs": [baseline, run]})  # fmt: skip

    # ------------------------------------------------------------------ plots
    plots: dict[str, Any] = {
        "lift": None,
        "latency_unit": "seconds",
        "latency": {r: {"values": [x for _, x in latencies[r]], "cites": [[latencies[r][0][0], latencies[r][-1][0]]],
                        "select": {"stream": stream[r], "type": "RolloutCompleted", "data": {}, "has": "latency_s"},
                        "basis": {"values": "latency_s"}} for r in runs if latencies[r]},
        "cases": None,
    }  # fmt: skip
    if cmp is not None and hist is not None and cmp["analysis"] is not None:
        analysis = cmp["analysis"]
        # a difference of scores in [0, 1] (or of pass/fail) lies within -1 to 1: the range the
        # HTML draws the intervals in (eval compare limits its paired interval to it too)
        bounds = None if cmp["basis"] == "target_score" else [-1.0, 1.0]
        plots["lift"] = {**hist, "metric": analysis["metric"], "kind": analysis["kind"], "bounds": bounds,
                         "basis": {"replay": HISTORY, "runs": [baseline, run]},
                         "cites": ranges(every + suite_positions)}  # fmt: skip
    if cmp is not None:
        plots["cases"] = {
            "wins": cmp["wins"], "ties": cmp["ties"], "losses": cmp["losses"],
            "rows": [{"case_id": p["case_id"], "epoch": p["epoch"], "a": p["a_score"], "b": p["b_score"],
                      "outcome": p["outcome"]} for p in cmp["rows"]],
            "cites": ranges(every + suite_positions), "basis": {"replay": COMPARE, "path": ["rows"], "runs": [baseline, run]},
        }  # fmt: skip
    b.doc["plots"] = plots
    return b.finish()


def every_of(events: list[Any]) -> list[int]:
    return [e.position for e in events]


def _get(doc: Any, path: list[Any]) -> Any:
    """``doc`` at ``path``: keys, and ``{field: value}`` steps that pick the list item matching them."""
    for step in path:
        if isinstance(step, dict):
            doc = next(x for x in doc if all(x.get(k) == v for k, v in step.items()))
        else:
            doc = doc[step]
    return doc
