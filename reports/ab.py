"""The decision report of an A/B test: ``trialbook report ab NAME``.

Reads the analysis ``ab analyze --json`` gives (now, or as of a time or position,
through :mod:`trialbook.ledger.analysis`), the test's events up to the position
that analysis saw, and turns them into the report of :mod:`trialbook.reports.common`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trialbook.reports.common import Builder, actors, mean, quantile, ranges, say

if TYPE_CHECKING:
    from trialbook.ledger import Ledger

#: the analysis a ``replay`` figure of an A/B report is read from
READ = "ab.analyze"
HISTORY = "ab.history"
DECISION_WORDS = {"continue": "keep_collecting"}


def _g(guardrails: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """The guardrails on ``metric``."""
    return [g for g in guardrails if g["metric"] == metric]


def build(
    ledger: Ledger,
    name: str,
    *,
    at: int | None = None,
    as_of: str | None = None,
    latency_budget: float | None = None,
    cost_budget: float | None = None,
) -> dict[str, Any]:
    """The report document of A/B test ``name`` (see docs/reports.md for its keys)."""
    from trialbook.domain.ab import stream_for
    from trialbook.domain.catalog import read_as
    from trialbook.domain.stats import analyze, interval_history
    from trialbook.ledger.analysis import analysis_document, analysis_input, snapshot
    from trialbook.web.reads import PLOT_LOOKS

    # exactly `ab analyze`'s document (ledger.analysis.analyze_test, spelled out to keep its snapshot)
    snap = snapshot(ledger, name, at=at, as_of=as_of)
    doc = analysis_document(analyze(analysis_input(snap)), snap.position)
    position = int(doc["position"])
    head = ledger.store.get(position) if position else None
    b = Builder("ab", name, position, head.recorded_at if head else None)
    b.doc["as_of"] = as_of
    b.doc["generated_by"] = {"method_version": doc["method_version"], "analysis": "ab analyze"}

    events = list(ledger.store.read_all(until_position=position, stream_id=stream_for(name)))
    # what the analysis rests on: the definition and the results (not the decisions taken on it)
    everything = [e.position for e in events if e.type != "TestConcluded"]
    stream = stream_for(name)
    results: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    created = None
    decisions = []
    archived: dict[str, Any] | None = None
    for e in events:
        data = read_as(e.type, e.schema_version, e.data)[1]
        if e.type == "TestArchived":
            archived = {"position": e.position, "actor": e.metadata.get("actor")}
        elif e.type == "TestRestored":
            archived = None
        if e.type == "ResultAdded":
            results.setdefault(data.get("variant", "?"), []).append((e.position, data))
        elif e.type == "TestCreated":
            created = (e.position, data)
        elif e.type == "TestConcluded":
            decisions.append(
                {
                    "position": e.position,
                    "choice": data["choice"],
                    "variant": data.get("variant"),
                    "actor": e.metadata.get("actor"),
                    "against_recommendation": bool(data.get("against_recommendation")),
                }
            )
    result_events = [e for e in events if e.type == "ResultAdded"]
    who, first, last, versions = actors(result_events)
    control = doc["control"]
    names = [v["name"] for v in doc["variants"]]
    b.doc["scope"] = {
        "compared": names,
        "control": control,
        "on": "recorded sessions (traffic)",
        "metric": doc["metric"],
        "lower_is_better": doc["lower_is_better"],
        "guardrails": sorted({g["metric"] for g in doc["guardrails"]}),
        "definition": created[0] if created else None,
        "from": first,
        "to": last,
        "by": who,
        "decisions": decisions,
        "archived": archived,
        "cites": ranges(everything),
    }

    # ------------------------------------------------------------------ figures
    binary = doc["kind"] == "binary"
    for v in doc["variants"]:
        vn = v["name"]
        mine = [p for p, _ in results.get(vn, [])]
        b.figure(
            f"results.{vn}", f"results of {vn}", len(mine), mine, {"count": True},
            select={"stream": stream, "type": "ResultAdded", "data": {"variant": vn}},
        )  # fmt: skip
        b.figure(
            f"estimate.{vn}", f"{doc['metric']} of {vn}", v["estimate"], everything,
            {"replay": READ, "path": ["variants", {"name": vn}, "estimate"]},
            unit="share" if binary else None,
        )  # fmt: skip
        if v["is_control"]:
            continue
        for field, label in (("lift", "lift"), ("ci", "always-valid interval"), ("p_value", "p")):
            b.figure(
                f"{field}.{vn}", f"{label} of {vn} vs {control}", v[field], everything,
                {"replay": READ, "path": ["variants", {"name": vn}, field]},
                unit="p" if field == "p_value" else "points" if binary else "difference",
            )  # fmt: skip
    for g in doc["guardrails"]:
        for field in ("worsening", "ci"):
            b.figure(
                f"guardrail.{g['metric']}.{g['variant']}.{field}",
                f"{g['metric']} worsening of {g['variant']}" + (" (interval)" if field == "ci" else ""),
                g[field], everything,
                {"replay": READ, "path": ["guardrails", {"metric": g["metric"], "variant": g["variant"]}, field]},
                unit="change" if g["relative"] else "difference",
            )  # fmt: skip
    lat: dict[str, list[tuple[int, float]]] = {}
    cost: dict[str, list[tuple[int, float]]] = {}
    for vn in names:
        lat[vn] = [
            (p, float(d["completion_time"]))
            for p, d in results.get(vn, [])
            if d.get("completion_time") is not None
        ]
        cost[vn] = [
            (p, float(d["cost"])) for p, d in results.get(vn, []) if d.get("cost") is not None
        ]
        if lat[vn]:
            for q in (0.5, 0.95):
                b.figure(
                    f"latency_p{round(q * 100)}.{vn}", f"completion_time p{round(q * 100)} of {vn}",
                    quantile([x for _, x in lat[vn]], q), [p for p, _ in lat[vn]],
                    {"quantile": q, "field": "completion_time"},
                    select={"stream": stream, "type": "ResultAdded", "data": {"variant": vn}, "has": "completion_time"},
                )  # fmt: skip
        if cost[vn]:
            b.figure(
                f"cost_mean.{vn}", f"mean cost of {vn}", mean([x for _, x in cost[vn]]),
                [p for p, _ in cost[vn]], {"mean": "cost"},
                select={"stream": stream, "type": "ResultAdded", "data": {"variant": vn}, "has": "cost"},
                unit="usd",
            )  # fmt: skip

    # ------------------------------------------------------------------ readiness
    settings = doc["settings"]
    others = [v for v in doc["variants"] if not v["is_control"]]
    counts = {v["name"]: v["results"] for v in doc["variants"]}
    total = sum(counts.values())
    low = min(counts.values()) if counts else 0
    planned = settings.get("tuning")
    count_keys = [f"results.{n}" for n in names]
    listed = ", ".join(f"{b.text(f'results.{n}')} {n}" for n in names)
    if low < settings["min_results"]:
        status, text = (
            "gap",
            f"{listed}: fewer than the {settings['min_results']} per variant needed",
        )
    elif planned and total < planned:
        status, text = (
            "partial",
            f"{listed}: {total} of the {planned:g} results the design plans for",
        )
    else:
        status, text = (
            "ready",
            f"{listed}" + (f": the {planned:g} planned results are in" if planned else ""),
        )
    b.row("enough_results", "Enough results", status, text, figures=count_keys)

    alerts = doc["alerts"]
    srm = [a for a in alerts if a["kind"] == "sample_ratio_mismatch"]
    b.row(
        "sample_ratio", "Sample-ratio check",
        "gap" if srm else "ready" if total else "partial",
        srm[0]["message"] if srm else "no results yet" if not total else f"{listed}: no mismatch with the planned split "
        f"(sequential multinomial test, alert below p {settings['alert_p']:g})",
        figures=count_keys,
    )  # fmt: skip
    quality = [a for a in alerts if a["kind"] != "sample_ratio_mismatch"]
    if quality:
        blocking = [a for a in quality if a["blocking"]]
        b.row(
            "data_quality", "Data-quality alerts", "gap" if blocking else "partial",
            "; ".join(a["message"] for a in quality), cites=everything,
        )  # fmt: skip

    decision = doc["recommendation"]["decision"]
    for v in others:
        vn = v["name"]
        keys = [f"lift.{vn}", f"ci.{vn}", f"p_value.{vn}", f"estimate.{vn}", f"estimate.{control}"]
        if v["ci"] is None:
            few = min(counts[vn], counts[control]) < settings["min_results"]
            said = [
                a["message"].removeprefix(f"{vn}: ")
                for a in alerts
                if a["message"].startswith(f"{vn}: ")
            ]
            why = (
                "too few results" if few else (said[0] if said else "the analysis defines none yet")
            )
            status, text = "gap", f"{vn} vs {control}: no interval yet ({why})"
        else:
            status = (
                "ready"
                if v["status"] in ("better", "worse", "equivalent")
                or decision in ("ship", "keep_control", "no_difference")
                else "partial"
            )
            text = (
                f"{vn} vs {control} on {doc['metric']}: {b.text(f'estimate.{vn}')} against "
                f"{b.text(f'estimate.{control}')}, lift {b.text(f'lift.{vn}')}, "
                f"always-valid {doc['ci_level'] * 100:g}% interval {b.text(f'ci.{vn}')}, "
                f"p {b.text(f'p_value.{vn}')} ({v['status'] or 'no call'})"
            )  # fmt: skip
        b.row(
            f"primary.{vn}", f"Primary metric ({doc['metric']}), {vn}", status, text, figures=keys
        )
    for g in doc["guardrails"]:
        key = f"guardrail.{g['metric']}.{g['variant']}"
        limit = f"{g['limit'] * 100:+g}%" if g["relative"] else f"{g['limit']:+g}"
        status = {"ok": "ready", "unclear": "partial"}.get(g["status"], "gap")
        b.row(
            key, f"Guardrail {g['metric']} ({g['variant']})", status,
            f"{g['status']}: worsening {b.text(key + '.worsening')}, interval {b.text(key + '.ci')}, limit {limit}",
            figures=[key + ".worsening", key + ".ci"],
        )  # fmt: skip
    paired = [v for v in others if v.get("paired")]
    if paired:
        keys, parts, used = [], [], True
        for v in paired:
            vn = v["name"]
            keys.append(b.figure(
                f"pairs.{vn}", f"case pairs of {vn} and {control}", v["paired"]["pairs"], everything,
                {"replay": READ, "path": ["variants", {"name": vn}, "paired", "pairs"]},
            ))  # fmt: skip
            used = used and bool(v["paired"].get("used_for_decision"))
            parts.append(
                f"{vn} {b.text(f'pairs.{vn}')} pairs"
                + ("" if v["paired"].get("used_for_decision") else " (too few to decide on)")
            )
        b.row("pairing", "Pairing by case", "ready" if used else "partial",
              f"paired by case id: {', '.join(parts)}", figures=keys)  # fmt: skip
    else:
        b.row(
            "pairing", "Pairing by case", "partial",
            "unpaired: the results carry no case id shared across variants (pairing would narrow the interval)",
            cites=[p for p, _ in sum(results.values(), [])],
        )  # fmt: skip

    def budget(
        kind: str,
        metric: str,
        per: dict[str, list[tuple[int, float]]],
        key: str,
        given: float | None,
        what: str,
    ) -> None:
        on = _g(doc["guardrails"], metric)
        limit = say(given, "usd" if kind == "cost" else None)
        shown = [n for n in names if per[n]]
        figures = [f"{key}.{n}" for n in shown]
        observed = ", ".join(f"{n} {b.text(f'{key}.{n}')}" for n in shown)
        if not shown:
            b.row(f"{kind}_budget", f"{kind.title()} budget", "partial" if given is None else "gap",
                  f"no {metric} recorded" + ("" if given is None else f"; the budget of {limit} cannot be checked"))  # fmt: skip
            return
        if given is not None:
            over = [n for n in shown if n != control and b.value(f"{key}.{n}") > given]
            b.row(f"{kind}_budget", f"{kind.title()} budget", "gap" if over else "ready",
                  f"{what} {observed}; budget {limit}" + (f": {', '.join(over)} over it" if over else ""),
                  figures=figures)  # fmt: skip
        elif on:
            worst = {"ok": "ready", "unclear": "partial"}
            status = max(
                (worst.get(g["status"], "gap") for g in on), key=["ready", "partial", "gap"].index
            )
            held = ", ".join(
                f"{g['variant']} {g['status']}, worsening interval "
                + b.text(f"guardrail.{metric}.{g['variant']}.ci")
                for g in on
            )
            b.row(f"{kind}_budget", f"{kind.title()} budget", status,
                  f"the {metric} guardrail is the budget ({held}); {what} {observed}",
                  figures=figures + [f"guardrail.{metric}.{g['variant']}.ci" for g in on])  # fmt: skip
        else:
            b.row(f"{kind}_budget", f"{kind.title()} budget", "partial",
                  f"no budget set; {what} {observed} (give --{kind}-budget or a {metric} guardrail)",
                  figures=figures)  # fmt: skip

    budget("latency", "completion_time", lat, "latency_p95", latency_budget, "completion_time p95")
    budget("cost", "cost", cost, "cost_mean", cost_budget, "mean cost")

    tools = ", ".join(sorted(versions)) or "unknown"
    b.row(
        "reproducibility", "Reproducibility",
        "ready" if len(versions) == 1 and created else "partial",
        f"definition at #{created[0] if created else '?'}; method {doc['method_version']}; "
        f"results written by trialbook {tools}; replay with `trialbook ab analyze {name} --at {position}`",
        cites=[created[0]] if created else [],
    )  # fmt: skip

    # ------------------------------------------------------------------ recommendation
    rec = doc["recommendation"]
    word = DECISION_WORDS.get(decision, decision)
    changes = []
    if decision == "ship":
        changes.append("a guardrail turning broken or a blocking data-quality alert would block it; "
                       "the interval is an intersection over every look, so more results narrow it but do not reverse it")  # fmt: skip
    elif decision == "continue":
        for v in others:
            pw = v.get("power") or {}
            if pw.get("more_per_variant"):
                changes.append(
                    f"about {pw['more_per_variant']} more results per variant for {v['name']} to detect the planned effect"
                )
            elif v["ci"] is not None:
                changes.append(f"{v['name']}'s interval {b.text('ci.' + v['name'])} excluding 0 (or falling within an equivalence margin)")  # fmt: skip
        if not changes:
            changes.append("more results: the interval narrows as results come in")
    elif decision == "blocked":
        changes.append(
            "the data-quality alert clearing (fix the assignment or the lost sessions, then record again)"
        )
    else:
        changes.append(
            "new results moving an interval across 0 or a margin (the call, once made, stays made)"
        )
    b.recommend(word, rec["reason"], changes, rec.get("variant"), cites=everything,
                basis={"replay": READ, "path": ["recommendation", "reason"]})  # fmt: skip

    # ------------------------------------------------------------------ plots
    total_results = sum(v.results for v in snap.variants)
    if snap.rows is None or len(snap.rows) != total_results:  # the analysis read no or some rows
        snap = snapshot(ledger, name, at=at, as_of=as_of, rows=True)
    hist = interval_history(analysis_input(snap), max_looks=PLOT_LOOKS)
    b.doc["plots"] = {
        "lift": {**hist, "results": len(snap.rows or ()), "metric": doc["metric"], "kind": doc["kind"],
                 "basis": {"replay": HISTORY}, "cites": ranges(everything)},
        "latency": {vn: {"values": [x for _, x in lat[vn]], "cites": [[lat[vn][0][0], lat[vn][-1][0]]],
                         "select": {"stream": stream, "type": "ResultAdded", "data": {"variant": vn}, "has": "completion_time"},
                         "basis": {"values": "completion_time"}} for vn in names if lat[vn]},
        "cases": _cases(doc, results, stream, paired),
    }  # fmt: skip
    return b.finish()


def case_outcomes(
    rows: list[tuple[str, str, float]], variant: str, control: str, lower_is_better: bool
) -> list[dict[str, Any]]:
    """Per case id: the mean of the metric for ``control`` (``a``) and ``variant`` (``b``) over
    ``rows`` (``(case_id, variant, value)``) and whether the variant wins, loses or ties there
    (cases both have, in the order first seen)."""
    sums: dict[str, dict[str, list[float]]] = {}
    for case, v, x in rows:
        if v in (variant, control):
            sums.setdefault(case, {}).setdefault(v, []).append(x)
    out = []
    for case, by in sums.items():
        if variant in by and control in by:
            a, b = sum(by[control]) / len(by[control]), sum(by[variant]) / len(by[variant])
            better = (b < a) if lower_is_better else (b > a)
            out.append({"case_id": case, "epoch": None, "a": a, "b": b,
                        "outcome": "tie" if a == b else "win" if better else "loss"})  # fmt: skip
    return out


def _cases(
    doc: dict[str, Any],
    results: dict[str, list[tuple[int, dict[str, Any]]]],
    stream: str,
    paired: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """The per-case wins and losses of the first paired variant against control (None if unpaired)."""
    if not paired:
        return None
    from trialbook.domain.metrics import observations

    variant, control, metric = paired[0]["name"], doc["control"], doc["metric"]
    rows, cited = [], []
    for v in (control, variant):
        for p, d in results.get(v, []):
            x = observations(d).get(metric)
            if d.get("case_id") is not None and x is not None:
                rows.append((str(d["case_id"]), v, float(x)))
                cited.append(p)
    out = case_outcomes(rows, variant, control, doc["lower_is_better"])
    outcomes = [r["outcome"] for r in out]
    return {
        "wins": outcomes.count("win"), "ties": outcomes.count("tie"), "losses": outcomes.count("loss"),
        "rows": out, "variant": variant,
        "cites": ranges(cited),
        "basis": {"cases": metric, "variant": variant, "control": control},
    }  # fmt: skip
