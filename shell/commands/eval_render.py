"""Rendering for ``trialbook eval``: the run table, its footer, CSV and Markdown, case and compare lines.

Pure functions from the dicts the application layer returns (:mod:`ledger.evals`) to text;
the click commands in :mod:`shell.commands.eval` print what these return.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import Any

from trialbook.domain.units import format_cost
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


#: what the judge cost reads when the judge's tokens are known but no price was
JUDGE_NO_PRICE = "unknown (no price known: give the judge price_in and price_out)"


def judge_cost(sc: dict[str, Any]) -> str:
    """A scorer's judge cost: the sum of its priced verdicts, or that no price was known.

    A judge without ``price_in``/``price_out`` (and whose gateway reports no cost)
    records tokens but no cost; that reads :data:`JUDGE_NO_PRICE`, never ``$0.00``.
    """
    if sc.get("judge_cost_reported"):
        return format_cost(sc["judge_cost_usd"])
    return JUDGE_NO_PRICE


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
                format_cost(r["cost_usd"]),
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
            format_cost(s["mean_cost_usd"]),
            *(shown_mean(data["scorers"][n]) for n in names),
            "",
        ]
    )
    return rows, headers


#: how many cases a findings line lists before "… and N more" (``--json`` has them all)
LIST_LIMIT = 10


def case_order(case_id: str) -> tuple[Any, ...]:
    """A sort key for case ids: by their text, runs of digits by value (``c2`` before ``c10``)."""
    return tuple(
        (0, int(part), part) if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", case_id)
        if part
    )


def listed(items: list[str], limit: int = LIST_LIMIT, sep: str = ", ") -> str:
    """The first ``limit`` items joined, then "… and N more" for the rest."""
    shown = sep.join(items[:limit])
    rest = len(items) - limit
    return shown + (f" … and {rest} more" if rest > 0 else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def scorer_line(name: str, sc: dict[str, Any]) -> str:
    """A scorer's headline: mean, pass rate with its 95% interval, and what it left out."""
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
        line += f" · pass@{pk['k']} {pct(pk['pass_at_k'])} · pass^{pk['k']} {pct(pk['pass_hat_k'])}"
    if sc["judge_prompt_tokens"] or sc["judge_completion_tokens"] or sc.get("judge_cost_reported"):
        line += (
            f" · judge tokens {sc['judge_prompt_tokens']}+{sc['judge_completion_tokens']}"
            f" · judge cost {judge_cost(sc)}"
        )
    return line


def _target_line(s: dict[str, Any]) -> str:
    return (
        f"target pass rate (score ≥ 0.7): {pct(s['target_pass_rate'])}"
        if s["mean_score"] is not None
        else "target pass rate: - (the target reported no scores)"
    )


def headline_lines(data: dict[str, Any]) -> list[str]:
    """The run's headline scores (``eval run`` ends with them): each scorer's, else the target's."""
    lines = [scorer_line(n, data["scorers"][n]) for n in data["scorer_names"]]
    if not lines or data["summary"]["mean_score"] is not None:
        lines.insert(0, _target_line(data["summary"]))
    return lines


def summary_lines(data: dict[str, Any]) -> list[str]:
    """Counts, the target's pass rate, latency, tokens and cost, then each scorer's headline."""
    s = data["summary"]
    run_ = data["run"]
    lines = [
        f"{s['completed']} completed, {s['failed']} failed"
        + (f", {s['pending']} pending" if s["pending"] else "")
        + f" of {run_['total']} · status {run_['status']}",
        _target_line(s),
        f"latency p50 {ms(s['latency_p50_s'])} · p95 {ms(s['latency_p95_s'])} · p99 {ms(s['latency_p99_s'])}",
        f"tokens {s['prompt_tokens']} in + {s['completion_tokens']} out · cost "
        + format_cost(s["cost_usd"]),
    ]
    lines += [scorer_line(n, data["scorers"][n]) for n in data["scorer_names"]]
    return lines


def _per_case(
    items: list[dict[str, Any]], what: Callable[[dict[str, Any]], str]
) -> tuple[int, str]:
    """How many cases ``items`` name, and the list ``case (what, what…)``, cases in suite order."""
    grouped: dict[str, list[str]] = {}
    for x in items:
        grouped.setdefault(x["case_id"], []).append(what(x))
    return len(grouped), listed(
        [f"{c} (" + ", ".join(sorted(grouped[c])) + ")" for c in sorted(grouped, key=case_order)]
    )


def _epochs(epochs: list[int]) -> str:
    return "#" + ",".join(str(e) for e in sorted(epochs))


def findings_lines(data: dict[str, Any]) -> list[str]:
    """What went wrong, compactly: failing cases, their failed criteria, flaky cases, judge
    disagreements (each sorted by case id, grouped by case with its scorers, counts first,
    cut after :data:`LIST_LIMIT` cases with "… and N more"), then agreement between scorers."""
    lines = []
    failing: dict[str, dict[str, list[int]]] = {}
    criteria: dict[str, set[str]] = {}
    target_failed: dict[str, list[int]] = {}
    for r in data["rollouts"]:
        if r["status"] != "completed":
            target_failed.setdefault(r["case_id"], []).append(r["epoch"])
        for name, v in r["verdicts"].items():
            if v["passed"] is False:
                failing.setdefault(r["case_id"], {}).setdefault(name, []).append(r["epoch"])
            if v["failed_criteria"]:
                criteria.setdefault(r["case_id"], set()).update(
                    f"{name}: {c}" for c in v["failed_criteria"]
                )
    if target_failed:
        n = sum(len(e) for e in target_failed.values())
        lines.append(
            f"failed rollouts: {_plural(n, 'rollout')} of {_plural(len(target_failed), 'case')}: "
            + listed(
                [f"{c}{_epochs(target_failed[c])}" for c in sorted(target_failed, key=case_order)]
            )
        )
    if failing:
        n = sum(len(e) for by in failing.values() for e in by.values())
        lines.append(
            f"failing: {_plural(len(failing), 'case')} ({_plural(n, 'failed verdict')}): "
            + listed(
                [
                    f"{c} ("
                    + ", ".join(
                        f"{name} {_epochs(failing[c][name])}" for name in sorted(failing[c])
                    )
                    + ")"
                    for c in sorted(failing, key=case_order)
                ]
            )
        )
    if criteria:
        by_criterion: dict[str, list[str]] = {}
        for c, crit in criteria.items():
            for one in crit:
                by_criterion.setdefault(one, []).append(c)
        ordered = sorted(by_criterion.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        for criterion, cs in ordered[:LIST_LIMIT]:
            lines.append(
                f"failed criterion {criterion} — {_plural(len(cs), 'case')}: "
                + listed(sorted(cs, key=case_order))
            )
        if len(ordered) > LIST_LIMIT:
            lines.append(
                f"… and {len(ordered) - LIST_LIMIT} more failed criteria in "
                f"{_plural(len(criteria), 'case')} (see --json or --case ID)"
            )
    if data["flaky_cases"]:
        n, text = _per_case(
            data["flaky_cases"],
            lambda c: (
                f"{c['scorer']} pass {_epochs(c['passed_epochs'])} fail {_epochs(c['failed_epochs'])}"
            ),
        )
        lines.append(
            f"flaky cases: {_plural(n, 'case')} pass in some epochs and fail in others: " + text
        )
    if data["judge_disagreements"]:
        n, text = _per_case(
            data["judge_disagreements"],
            lambda d: f"{d['scorer']} #{d['epoch']} {d['passes']} pass/{d['fails']} fail",
        )
        lines.append(f"judge repeats disagree on {_plural(n, 'case')}: " + text)
    for a in data["agreements"]:
        lines.append(
            f"agreement {a['scorer_a']} vs {a['scorer_b']}: {pct(a['percent'])} of {a['n']} · "
            f"kappa {fmt(a['kappa'])}"
            + (f" · {a['scoring_errors']} scoring errors left out" if a["scoring_errors"] else "")
        )
    return lines


def footer_lines(data: dict[str, Any]) -> list[str]:
    """Every line ``eval show`` prints besides the table: :func:`summary_lines`, :func:`findings_lines`."""
    return summary_lines(data) + findings_lines(data)


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


CASE_HEADERS = ["scorer", "epoch", "repeat", "score", "passed", "criterion", "ok", "reason"]


def case_rows(detail: dict[str, Any]) -> list[list[Any]]:
    """One row per criterion of every verdict of the case (a verdict without criteria: one row)."""
    rows = []
    for v in detail["verdicts"]:
        head = [v["scorer"], v["epoch"], v["repeat"], shown_score(v), fmt(v["passed"])]
        if not v["evaluation"]:
            rows.append([*head, "-", "-", v["error"] or v["result"] or ""])
        for c in v["evaluation"]:
            rows.append([*head, c["criteria"], fmt(c["passed"]), c["reason"]])
    return rows


def case_csv(detail: dict[str, Any]) -> str:
    """``eval show RUN --case ID --csv``: the case's criterion rows (with the case id) as CSV."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["case", *CASE_HEADERS])
    for row in case_rows(detail):
        w.writerow([detail["case_id"], *row])
    return buf.getvalue()


def case_markdown(detail: dict[str, Any]) -> str:
    """``eval show RUN --case ID --markdown``: the case's criterion rows as a Markdown table."""
    return markdown(case_rows(detail), CASE_HEADERS)


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
    rows = case_rows(detail)
    if rows:
        lines.append(
            table(
                rows,
                CASE_HEADERS,
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


def pairs_text(data: dict[str, Any]) -> str:
    """ "50 cases × 2 epochs" when the pairs fill that grid, else "N pairs of C cases (E epochs)"."""
    pairs, cases, epochs = data["pairs"], data.get("cases"), data.get("epochs")
    if cases is None or epochs is None:
        return _plural(pairs, "pair")
    if cases * epochs == pairs:
        return f"{_plural(cases, 'case')} × {_plural(epochs, 'epoch')}"
    return f"{_plural(pairs, 'pair')} of {_plural(cases, 'case')} ({_plural(epochs, 'epoch')})"


def compare_lines(data: dict[str, Any], run_a: str, run_b: str, into_ab: str | None) -> list[str]:
    """``eval compare``: the pairs, wins and losses, regressions, paired statistics, recommendation."""
    lines = []
    lines.append(
        f"{run_b} against {run_a} on {data['basis']} · {pairs_text(data)}"
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
            by_case: dict[str, list[int]] = {}
            for p in items:
                by_case.setdefault(p["case_id"], []).append(p["epoch"])
            lines.append(
                f"{label}: {_plural(len(items), 'pair')} in {_plural(len(by_case), 'case')}: "
                + listed([f"{c}{_epochs(by_case[c])}" for c in sorted(by_case, key=case_order)])
            )
    if data["failed_rollouts"]:
        failed = sorted(
            data["failed_rollouts"], key=lambda f: (case_order(f["case_id"]), f["epoch"])
        )
        lines.append(
            "failed rollouts (target errors, not scored, left out of the pairs): "
            + listed([f"{f['case_id']}#{f['epoch']} in {f['failed_in']}" for f in failed])
        )
    errs = data["scoring_errors"]
    if errs["a"] or errs["b"]:
        lines.append(f"scoring errors left out: {errs['a']} in {run_a}, {errs['b']} in {run_b}")
    fixed = data["paired"]
    clustered = data.get("clustered")
    if clustered and data["pairs"] > clustered["clusters"] >= 1:
        ci = clustered["ci"]
        lines.append(
            f"paired difference: {fmt(clustered['lift'])} over {clustered['pairs']} pairs of "
            f"{clustered['clusters']} cases · "
            + (
                f"{clustered['level']:.0%} CI {fmt(ci[0])} to {fmt(ci[1])} "
                f"(cluster-robust by case, t with {clustered['clusters'] - 1} df)"
                if ci
                else f"CI - ({clustered['note']})"
            )
        )
    elif fixed["pairs"]:
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
        if clustered and data["pairs"] > clustered["clusters"] >= 1:
            lines[-1] += " · pairs each case × epoch as independent (read the clustered interval)"
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
