"""The decision report of a canary: ``trialbook report canary NAME``.

Reads ``canary status --json`` (:func:`trialbook.ledger.canary.status`, now or as
of a position) and the canary's events up to the position it saw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trialbook.reports.common import Builder, actors, mean, quantile, ranges, say

if TYPE_CHECKING:
    from trialbook.ledger import Ledger

READ = "canary.status"
#: the primary comparison after every result (:func:`trialbook.ledger.canary.history`)
HISTORY = "canary.history"
#: the stage rule's next action -> the report's recommendation
ACTIONS = {"advance": "ship", "complete": "ship", "wait": "keep_collecting", "halt": "halt"}
ENDED = {"completed": "ship", "halted": "halt", "rolled_back": "rollback"}


def look_word(status: str, action: str) -> str:
    """The report's recommendation for a canary in ``status`` whose stage rule says ``action``."""
    word = ENDED.get(status) if action == "none" else ACTIONS.get(action, "keep_collecting")
    return word or "keep_collecting"


def build(
    ledger: Ledger,
    name: str,
    *,
    at: int | None = None,
    as_of: str | None = None,
    latency_budget: float | None = None,
    cost_budget: float | None = None,
) -> dict[str, Any]:
    """The report document of canary ``name`` (see docs/reports.md for its keys)."""
    from trialbook.domain.canary import is_proportion, stream_for
    from trialbook.domain.catalog import read_as
    from trialbook.domain.metrics import METRICS
    from trialbook.domain.stats.canary import ALERT_P
    from trialbook.ledger import canary as app
    from trialbook.web.reads import PLOT_LOOKS

    doc = app.status(ledger, name, at=at, as_of=as_of)
    position = int(doc["position"])
    head = ledger.store.get(position) if position else None
    b = Builder("canary", name, position, head.recorded_at if head else None)
    b.doc["as_of"] = as_of
    b.doc["generated_by"] = {"method_version": doc["method_version"], "analysis": "canary status"}
    stream = stream_for(name)
    events = list(ledger.store.read_all(until_position=position, stream_id=stream))
    every = [e.position for e in events]
    results = []
    decisions = []
    created = None
    for e in events:
        data = read_as(e.type, e.schema_version, e.data)[1]
        if e.type == "CanaryResultAdded":
            results.append((e.position, data))
        elif e.type == "CanaryCreated":
            created = (e.position, data)
        else:
            decisions.append({"position": e.position, "choice": e.type.removeprefix("Canary").lower(),
                              "variant": None, "actor": e.metadata.get("actor")})  # fmt: skip
    who, first, last, versions = actors(e for e in events if e.type == "CanaryResultAdded")
    control, candidate = doc["control"], doc["candidate"]
    b.doc["scope"] = {
        "compared": [control, candidate],
        "control": control,
        "on": f"live traffic by {doc['unit']}, stages {', '.join(f'{s:g}%' for s in doc['stages'])} "
        f"(now stage {doc['stage']}, {doc['percent']:g}%, {doc['status']})",
        "metric": doc["metric"]["metric"],
        "guardrails": [g["metric"] for g in doc["guardrails"]],
        "definition": created[0] if created else None,
        "from": first,
        "to": last,
        "by": who,
        "decisions": decisions,
        "cites": ranges(every),
    }

    # ------------------------------------------------------------------ figures
    for stage in doc["results"]["by_stage"]:
        n = stage["stage"]
        for arm in (control, candidate):
            mine = [p for p, d in results if d.get("stage") == n and d.get("variant") == arm]
            b.figure(f"results.{n}.{arm}", f"results of {arm} at stage {n}", len(mine), mine or [every[0]],
                     {"count": True}, select={"stream": stream, "type": "CanaryResultAdded",
                                              "data": {"stage": n, "variant": arm}})  # fmt: skip
        b.figure(f"srm_p.{n}", f"sample-ratio p at stage {n}", stage["srm_p"], every,
                 {"replay": READ, "path": ["results", "by_stage", {"stage": n}, "srm_p"]}, unit="p")  # fmt: skip
    m = doc["metric"]

    def diff_unit(metric: str) -> str:
        """Differences of a proportion are in points (as ``canary status`` prints them)."""
        return "points" if metric in METRICS and is_proportion(METRICS[metric]) else "difference"

    for field in ("difference", "ci", "p_value"):
        b.figure(f"metric.{field}", f"{m['metric']} {field.replace('_', ' ')} ({candidate} - {control})",
                 m[field], every, {"replay": READ, "path": ["metric", field]},
                 unit="p" if field == "p_value" else diff_unit(m["metric"]))  # fmt: skip
    for g in doc["guardrails"]:
        for field in ("worsening", "ci"):
            b.figure(f"guardrail.{g['metric']}.{field}", f"{g['metric']} worsening" + (" (interval)" if field == "ci" else ""),
                     g[field], every, {"replay": READ, "path": ["guardrails", {"metric": g["metric"]}, field]},
                     unit="change" if g["relative"] else diff_unit(g["metric"]))  # fmt: skip
    lat: dict[str, list[tuple[int, float]]] = {}
    cost: dict[str, list[tuple[int, float]]] = {}
    for arm in (control, candidate):
        lat[arm] = [
            (p, float(d["completion_time"]))
            for p, d in results
            if d.get("variant") == arm and d.get("completion_time") is not None
        ]
        cost[arm] = [
            (p, float(d["cost"]))
            for p, d in results
            if d.get("variant") == arm and d.get("cost") is not None
        ]
        sel = {"stream": stream, "type": "CanaryResultAdded", "data": {"variant": arm}}
        if lat[arm]:
            b.figure(f"latency_p95.{arm}", f"completion_time p95 of {arm}", quantile([x for _, x in lat[arm]], 0.95),
                     [p for p, _ in lat[arm]], {"quantile": 0.95, "field": "completion_time"}, select={**sel, "has": "completion_time"})  # fmt: skip
        if cost[arm]:
            b.figure(f"cost_mean.{arm}", f"mean cost of {arm}", mean([x for _, x in cost[arm]]),
                     [p for p, _ in cost[arm]], {"mean": "cost"}, select={**sel, "has": "cost"}, unit="usd")  # fmt: skip

    # ------------------------------------------------------------------ readiness
    minimum = doc["settings"]["min_results"]
    stage_n = doc["stage"]
    here = b.value(f"results.{stage_n}.{candidate}") if doc["results"]["by_stage"] else 0
    keys = (
        [f"results.{stage_n}.{a}" for a in (control, candidate)]
        if doc["results"]["by_stage"]
        else []
    )
    b.row("enough_results", "Enough results", "ready" if here >= minimum else "partial" if here else "gap",
          f"stage {stage_n}: {here} candidate results of the {minimum} the stage rule needs, "
          f"{b.text(keys[0]) if keys else 0} control", figures=keys)  # fmt: skip
    srm_keys = [f"srm_p.{s['stage']}" for s in doc["results"]["by_stage"]]
    bad = [s for s in doc["results"]["by_stage"] if s["srm_p"] is not None and s["srm_p"] < ALERT_P]
    tested = [s for s in doc["results"]["by_stage"] if s["srm_p"] is not None]
    b.row("sample_ratio", "Sample-ratio check", "gap" if bad else "ready" if tested else "partial",
          ("mismatch at stage " + ", ".join(str(s["stage"]) for s in bad)) if bad else
          "no results yet" if not tested else
          "per-stage always-valid p " + ", ".join(f"{b.text(k)}" for k in srm_keys) + f" (alert below {ALERT_P:g})",
          figures=srm_keys)  # fmt: skip
    status = {"better": "ready", "worse": "ready", "unclear": "partial"}.get(m["status"], "partial")
    if m["ci"] is None:
        status = "gap"
    b.row("primary", f"Primary metric ({m['metric']})", status,
          f"{candidate} - {control}: {b.text('metric.difference')}, always-valid interval {b.text('metric.ci')}, "
          f"p {b.text('metric.p_value')} ({m['status']})", figures=["metric.difference", "metric.ci", "metric.p_value"])  # fmt: skip
    for g in doc["guardrails"]:
        k = f"guardrail.{g['metric']}"
        b.row(k, f"Guardrail {g['metric']}", {"ok": "ready", "unclear": "partial"}.get(g["status"], "gap"),
              f"{g['status']}: worsening {b.text(k + '.worsening')}, interval {b.text(k + '.ci')}, limit {g['text'].split(':', 1)[-1]}",
              figures=[k + ".worsening", k + ".ci"])  # fmt: skip
    for kind, per, key, given, what in (("latency", lat, "latency_p95", latency_budget, "completion_time p95"),
                                        ("cost", cost, "cost_mean", cost_budget, "mean cost")):  # fmt: skip
        have = [a for a in (control, candidate) if per[a]]
        observed = ", ".join(f"{a} {b.text(f'{key}.{a}')}" for a in have)
        if candidate not in have:
            b.row(f"{kind}_budget", f"{kind.title()} budget", "partial" if given is None else "gap",
                  f"no {'completion_time' if kind == 'latency' else 'cost'} recorded for {candidate}")  # fmt: skip
        elif given is None:
            b.row(f"{kind}_budget", f"{kind.title()} budget", "partial", f"no budget set; {what} {observed}",
                  figures=[f"{key}.{a}" for a in have])  # fmt: skip
        else:
            over = b.value(f"{key}.{candidate}") > given
            b.row(f"{kind}_budget", f"{kind.title()} budget", "gap" if over else "ready",
                  f"{what} {observed}; budget {say(given, 'usd' if kind == 'cost' else None)}", figures=[f"{key}.{a}" for a in have])  # fmt: skip
    tools = ", ".join(sorted(versions)) or "unknown"
    b.row("reproducibility", "Reproducibility", "ready" if created and len(versions) <= 1 else "partial",
          f"plan and salt fixed at #{created[0] if created else '?'} (sticky assignment); method {doc['method_version']}; "
          f"trialbook {tools}; replay with `trialbook canary status {name} --at {position}`",
          cites=[created[0]] if created else [])  # fmt: skip

    # ------------------------------------------------------------------ recommendation
    nxt = doc["next"]
    word = look_word(doc["status"], nxt["action"])
    changes = {
        "ship": ["a guardrail breaking or a sample-ratio mismatch at the next stage would halt it"],
        "keep_collecting": [f"{max(0, minimum - here)} more candidate results at stage {stage_n}, with the guardrails holding"],
        "halt": ["a new canary (or a fixed candidate); a halted canary only rolls back"],
        "rollback": ["a new canary with a fixed candidate"],
    }[word]  # fmt: skip
    b.recommend(
        word,
        nxt["reason"],
        changes,
        candidate if word == "ship" else None,
        cites=every,
        basis={"replay": READ, "path": ["next", "reason"]},
    )
    hist = app.history(ledger, name, until=position, max_looks=PLOT_LOOKS, events=events)
    b.doc["plots"] = {
        "lift": {**hist, "decision": [look_word(st, a) for st, a in zip(hist["status"], hist["action"], strict=True)],
                 "variant": [candidate if look_word(st, a) == "ship" else None
                             for st, a in zip(hist["status"], hist["action"], strict=True)],
                 "results": len(results), "metric": m["metric"], "kind": m["kind"],
                 "basis": {"replay": HISTORY}, "cites": ranges(every)},
        "cases": None,
        "latency_unit": "",
        "stages": {
            "rows": [{"name": f"stage {st['stage']} ({st['percent']:g}% planned)", "rate": st["candidate_share"],
                      "planned": st["percent"] / 100} for st in doc["results"]["by_stage"]],
            "cites": ranges(every), "basis": {"replay": READ, "path": ["results", "by_stage"]},
        },
        "latency": {a: {"values": [x for _, x in lat[a]], "cites": [[lat[a][0][0], lat[a][-1][0]]],
                        "select": {"stream": stream, "type": "CanaryResultAdded", "data": {"variant": a}, "has": "completion_time"},
                        "basis": {"values": "completion_time"}} for a in (control, candidate) if lat[a]},
    }  # fmt: skip
    return b.finish()
