"""Rendering for ``trialbook eval``: the run table, its footer, CSV and Markdown, case and compare lines.

Pure functions from the dicts the application layer returns (:mod:`ledger.evals`) to text;
the click commands in :mod:`shell.commands.eval` print what these return.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from trialbook.domain.verdict_values import on_scale
from trialbook.shell.render import fmt, pct, table

RESUME_HINT = "resume it with `trialbook eval resume {run}`"


def short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status(run_: dict[str, Any]) -> str:
    return "stalled" if run_.get("runner") == "gone" else str(run_["status"])


def stalled(run_id: str) -> str:
    return (
        f"Run {run_id} is marked running but the process running it has ended "
        f"(crashed or killed): {RESUME_HINT.format(run=run_id)}."
    )


def usd(value: float | None) -> str:
    """A rollout's cost: six decimals (fractions of a cent are common), '-' when unknown."""
    return "-" if value is None else f"{value:.6f}"


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}ms"


def shown_score(v: dict[str, Any]) -> str:
    """A verdict's score as shown: on its scorer's scale (``6/10``), a 0–1 score as it is."""
    scale = v.get("scale")
    if v.get("error") or v.get("raw_score") is None or not scale or list(scale) == [0, 1]:
        return fmt(v["score"])
    return on_scale(v["raw_score"], (scale[0], scale[1]))


def shown_mean(sc: dict[str, Any]) -> str:
    """A scorer's mean as shown: on its scale when it has one, else the normalised mean."""
    scale = sc.get("scale")
    if sc.get("mean_on_scale") is None or not scale or list(scale) == [0, 1]:
        return fmt(sc["mean"])
    return on_scale(sc["mean_on_scale"], (scale[0], scale[1]))


def scorer_cell(v: dict[str, Any] | None) -> str:
    if not v:
        return "-"
    if v.get("scoring_error"):
        return f"ERROR {short(v['error'] or '', 40)}".rstrip()
    mark = {True: "pass", False: "FAIL", None: "abst"}[v["passed"]]
    score = "-" if v["score"] is None else shown_score(v)
    return f"{score} {mark}"


def table_rows(data: dict[str, Any]) -> tuple[list[list[Any]], list[str]]:
    names = data["scorer_names"]
    headers = ["case", "epoch", "score", "reward", "latency", "tokens", "cost", *names, "error"]
    rows = []
    for r in data["rollouts"]:
        outcome = r["status"] if r["status"] == "failed" else "ok"
        rows.append(
            [
                r["case_id"],
                r["epoch"],
                fmt(r["score"]),
                fmt(r["reward"]),
                ms(r["latency_s"]),
                fmt(r["tokens"]),
                usd(r["cost_usd"]),
                *(scorer_cell(r["verdicts"].get(n)) for n in names),
                short(r["error"], 60) if r["error"] else ("-" if outcome == "ok" else outcome),
            ]
        )
    s = data["summary"]
    rows.append(
        [
            "average",
            "",
            fmt(s["mean_score"]),
            fmt(s["mean_reward"]),
            ms(s["mean_latency_s"]),
            fmt(s["mean_tokens"]),
            usd(s["mean_cost_usd"]),
            *(shown_mean(data["scorers"][n]) for n in names),
            "",
        ]
    )
    return rows, headers


def footer_lines(data: dict[str, Any]) -> list[str]:
    s = data["summary"]
    run_ = data["run"]
    lines = [
        f"{s['completed']} completed, {s['failed']} failed"
        + (f", {s['pending']} pending" if s["pending"] else "")
        + f" of {run_['total']} · status {run_['status']}",
        f"target pass rate (score ≥ 0.7): {pct(s['target_pass_rate'])}"
        if s["mean_score"] is not None
        else "target pass rate: - (the target reported no scores)",
        f"latency p50 {ms(s['latency_p50_s'])} · p95 {ms(s['latency_p95_s'])} · p99 {ms(s['latency_p99_s'])}",
        f"tokens {s['prompt_tokens']} in + {s['completion_tokens']} out · cost "
        + ("-" if s["cost_usd"] is None else f"${s['cost_usd']:.4f}"),
    ]
    for name in data["scorer_names"]:
        sc = data["scorers"][name]
        lo, hi = sc["pass_interval"]
        line = (
            f"{name}: mean {shown_mean(sc)} · pass {pct(sc['pass_rate'])} "
            f"(95% CI {pct(lo)}–{pct(hi)}, n={sc['scored']})"
        )
        if sc["abstained"]:
            line += f" · {sc['abstained']} abstained"
        if sc["errors"]:
            line += f" · {sc['errors']} scoring errors"
        if sc["repeat_sd"] is not None:
            line += f" · repeat sd {fmt(sc['repeat_sd'])}"
        pk = sc.get("pass_at_k")
        if pk and pk["k"] > 1:
            line += (
                f" · pass@{pk['k']} {pct(pk['pass_at_k'])} · pass^{pk['k']} {pct(pk['pass_hat_k'])}"
            )
        if sc["judge_prompt_tokens"] or sc["judge_completion_tokens"] or sc["judge_cost_usd"]:
            line += (
                f" · judge tokens {sc['judge_prompt_tokens']}+{sc['judge_completion_tokens']}"
                f" · judge cost ${sc['judge_cost_usd']:.4f}"
            )
        lines.append(line)
    failed_by_case: dict[str, set[str]] = {}
    for r in data["rollouts"]:
        for name, v in r["verdicts"].items():
            if v["failed_criteria"]:
                failed_by_case.setdefault(r["case_id"], set()).update(
                    f"{name}: {c}" for c in v["failed_criteria"]
                )
    for case_id, crit in failed_by_case.items():
        lines.append(f"failed criteria of {case_id}: " + "; ".join(sorted(crit)))
    if data["flaky_cases"]:
        lines.append(
            "flaky cases: "
            + ", ".join(
                f"{c['case_id']} ({c['scorer']}: passed epochs {fmt(c['passed_epochs'])}, failed {fmt(c['failed_epochs'])})"
                for c in data["flaky_cases"]
            )
        )
    if data["judge_disagreements"]:
        lines.append(
            "judge repeats disagree on: "
            + ", ".join(
                f"{d['case_id']}#{d['epoch']} ({d['scorer']} {d['passes']} pass/{d['fails']} fail)"
                for d in data["judge_disagreements"]
            )
        )
    for a in data["agreements"]:
        lines.append(
            f"agreement {a['scorer_a']} vs {a['scorer_b']}: {pct(a['percent'])} of {a['n']} · "
            f"kappa {fmt(a['kappa'])}"
            + (f" · {a['scoring_errors']} scoring errors left out" if a["scoring_errors"] else "")
        )
    return lines


def rollouts_csv(rows: list[dict[str, Any]], names: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    from trialbook.projections.eval_queries import ROLLOUT_KEYS

    # every rollout column but the payloads (outputs, blobs, the model name)
    keys = [k for k in ROLLOUT_KEYS if k not in ("output", "output_blob", "trace_blob", "model")]
    w.writerow(
        [
            *keys,
            *(f"{n}:score" for n in names),
            *(f"{n}:passed" for n in names),
            *(f"{n}:error" for n in names),
        ]
    )
    for r in rows:
        vs = r["verdicts"]
        w.writerow(
            [("" if r[k] is None else r[k]) for k in keys]
            + [("" if vs.get(n, {}).get("score") is None else vs[n]["score"]) for n in names]
            + [("" if vs.get(n, {}).get("passed") is None else vs[n]["passed"]) for n in names]
            + [(vs[n]["error"] or "") if vs.get(n, {}).get("scoring_error") else "" for n in names]
        )
    return buf.getvalue()


def markdown(rows: list[list[Any]], headers: list[str]) -> str:
    def cell(v: Any) -> str:
        return (v if isinstance(v, str) else fmt(v)).replace("|", "\\|")

    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out.extend("| " + " | ".join(cell(v) for v in r) + " |" for r in rows)
    return "\n".join(out)


def render_plot(data: dict[str, Any], encoding: str | None = None) -> str:
    """The run's score and latency distributions (``eval show --plot``), as text lines."""
    import sys

    from trialbook.shell.textplot import can_draw, histogram_lines

    drawable = can_draw(encoding if encoding is not None else sys.stdout.encoding)
    rollouts = data["rollouts"]
    scores = [r["score"] for r in rollouts]
    latencies = [r["latency_s"] for r in rollouts]
    scored = sum(1 for s in scores if s is not None)
    timed = sum(1 for s in latencies if s is not None)
    out = [f"Scores of {scored:,} scored rollout{'s' if scored != 1 else ''}:"]
    out += ["  " + line for line in histogram_lines(scores, fmt, unicode=drawable)]
    out.append(f"Latency of {timed:,} rollout{'s' if timed != 1 else ''}:")
    out += ["  " + line for line in histogram_lines(latencies, ms, unicode=drawable)]
    return "\n".join(out)


def case_lines(case_id: str, detail: dict[str, Any]) -> list[str]:
    """``eval show RUN --case ID``: one line per rollout (with its output), then the criterion table."""
    lines = []
    for r in detail["rollouts"]:
        lines.append(
            f"{case_id} epoch {r['epoch']} (attempt {r['attempt']}): {r['status']} · "
            f"latency {ms(r['latency_s'])} · score {fmt(r['score'])}"
            + (f" · error {r['error']}" if r["error"] else "")
        )
        if r["output"] is not None:
            lines.append(f"  output: {short(json.dumps(r['output'], ensure_ascii=False), 200)}")
    rows = []
    for v in detail["verdicts"]:
        head = [v["scorer"], v["epoch"], v["repeat"], shown_score(v), fmt(v["passed"])]
        if not v["evaluation"]:
            rows.append([*head, "-", "-", v["error"] or v["result"] or ""])
        for c in v["evaluation"]:
            rows.append([*head, c["criteria"], fmt(c["passed"]), c["reason"]])
    if rows:
        lines.append(
            table(
                rows,
                ["scorer", "epoch", "repeat", "score", "passed", "criterion", "ok", "reason"],
                align="lrrrllll",
            )
        )
    return lines


def verdicts_table(data: dict[str, Any]) -> str:
    """``eval show --all-verdicts``: every verdict, also those a rescore replaced."""
    return table(
        [
            [
                v["position"],
                v["scorer"],
                v["case_id"],
                v["epoch"],
                v["repeat"],
                shown_score(v),
                fmt(v["passed"]),
                "yes" if v["latest"] else "no",
                v["recorded_at"],
            ]
            for v in data["verdicts"]
        ],
        [
            "position",
            "scorer",
            "case",
            "epoch",
            "repeat",
            "score",
            "passed",
            "latest",
            "recorded",
        ],
    )


def compare_lines(data: dict[str, Any], run_a: str, run_b: str, into_ab: str | None) -> list[str]:
    """``eval compare``: the pairs, wins and losses, regressions, paired statistics, recommendation."""
    lines = []
    lines.append(
        f"{run_b} against {run_a} on {data['basis']} · {data['pairs']} pairs"
        + (
            f" ({data['only_in_a']} only in {run_a}, {data['only_in_b']} only in {run_b})"
            if data["only_in_a"] or data["only_in_b"]
            else ""
        )
    )
    lines.append(
        f"wins {data['wins']} · losses {data['losses']} · ties {data['ties']} · pass rate "
        f"{pct(data['a_pass_rate'])} (n={data['a_scored']}) → "
        f"{pct(data['b_pass_rate'])} (n={data['b_scored']})"
    )
    for label in ("regressions", "improvements"):
        items = data[label]
        if items:
            lines.append(f"{label}: " + ", ".join(f"{p['case_id']}#{p['epoch']}" for p in items))
    if data["failed_rollouts"]:
        lines.append(
            "failed rollouts (target errors, not scored, left out of the pairs): "
            + ", ".join(
                f"{f['case_id']}#{f['epoch']} in {f['failed_in']}" for f in data["failed_rollouts"]
            )
        )
    errs = data["scoring_errors"]
    if errs["a"] or errs["b"]:
        lines.append(f"scoring errors left out: {errs['a']} in {run_a}, {errs['b']} in {run_b}")
    fixed = data["paired"]
    if fixed["pairs"]:
        ci = fixed["ci"]
        lines.append(
            f"paired difference: {fmt(fixed['lift'])} over {fixed['pairs']} pairs · "
            + (
                f"{fixed['level']:.0%} CI {fmt(ci[0])} to {fmt(ci[1])} (paired t, fixed-horizon)"
                if ci
                else f"CI - ({fixed['note']})"
            )
        )
    analysis = data["analysis"]
    if analysis is not None:
        b_row = next(v for v in analysis["variants"] if not v["is_control"])
        paired = b_row.get("paired") or {}
        ci = paired.get("ci") or b_row.get("ci")
        lines.append(
            f"always-valid {analysis['metric']}: lift {fmt(paired.get('lift', b_row.get('lift')))} "
            f"(CI {fmt(ci[0]) if ci else '-'} to {fmt(ci[1]) if ci else '-'}) · "
            f"p {fmt(paired.get('p_value', b_row.get('p_value')))} · {b_row.get('method') or ''}".rstrip(
                " ·"
            )
        )
        rec = analysis["recommendation"]
        lines.append(
            f"recommendation: {rec['decision']}"
            + (f" {rec['variant']}" if rec.get("variant") else "")
            + f" — {rec['reason']}"
        )
    if into_ab is not None:
        fed = data["into_ab"]
        lines.append(
            f"A/B test {into_ab}: {fed['added']} results added ({fed['skipped']} already there); "
            f"see `trialbook ab analyze {into_ab}`."
        )
    return lines
