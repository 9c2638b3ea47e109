"""The report as one self-contained HTML file: no script, no network, plots as inline SVG.

Built with the web view's own pieces: :func:`trialbook.web.html.el` escapes every
string it is given (a test name, a variant, a case id is always text, never
markup), :mod:`trialbook.web.svg` draws the plots, and the view's stylesheet is
inlined. A Content Security Policy in the page forbids scripts and any fetch, so
the file renders the same from a laptop, a CI artifact or an air-gapped machine.
"""

from __future__ import annotations

import json
from typing import Any

from trialbook.reports.common import cite_text, fmt_value
from trialbook.reports.markdown import TITLES, decision_text
from trialbook.web import svg
from trialbook.web.assets import CSS
from trialbook.web.html import Safe, el
from trialbook.web.pages import Units, marker_text, ms

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
EXTRA_CSS = """
.badge.ready { background:#dcfce7; color:#166534; } .badge.partial { background:#fef9c3; color:#854d0e; }
.badge.gap { background:#fee2e2; color:#991b1b; } .badge.keep_collecting { background:#dbeafe; color:#1e40af; }
td.cites, td.basis { font-size:12px; color:#64748b; word-break:break-word; max-width:320px; }
"""


def _badge(text: str) -> Safe:
    return el("span", text.replace("_", " "), class_=f"badge {text}")


def _lift_plot(plot: dict[str, Any] | None) -> Safe | None:
    if not plot or not plot.get("n"):
        return None
    u = Units(plot.get("kind", "continuous"))
    series = [{"name": name, **s} for name, s in plot["variants"].items()]
    bounds = plot.get("bounds")
    note = ""
    if bounds:  # drawn within what the lift can be (the JSON keeps the intervals as computed)
        lo, hi = bounds
        series = [
            {**s, "ci": [None if c is None else [max(c[0], lo), min(c[1], hi)] for c in s["ci"]]}
            for s in series
        ]
        note = f" Intervals drawn within {u.diff(lo)} to {u.diff(hi)}, the range a lift can take."
    markers = [(m["n"], marker_text(m)) for m in plot.get("markers") or ()]
    if "markers" in plot:  # a canary: the stage rule's word under each look, its decisions as lines
        note += (" Candidate minus control, stratified by stage, as `canary status` computes it; the strip"
                 " is the stage rule's recommendation after each result, the lines the decisions recorded.")  # fmt: skip
    return el(
        "div",
        el("h2", "The lift and its always-valid interval after every result"),
        svg.interval_plot(plot["n"], series, fmt=u.tick, decisions=plot.get("decision"), markers=markers,
                          y_label=f"{plot.get('metric', '')} lift"),
        el("p", f"Rests on events {cite_text(plot['cites'])}.{note}", class_="small muted"),
        class_="card", id="plot-lift",
    )  # fmt: skip


def _latency(plot: dict[str, Any] | None, unit: str) -> Safe | None:
    if not plot:
        return None
    fmt = ms if unit == "seconds" else (lambda x: f"{x:.4g}")
    parts = []
    for name, p in plot.items():
        xs = p["values"]
        if not xs:
            continue
        parts.append(el("h3", name))
        parts.append(svg.histogram(xs, fmt=fmt, unit="results", x_label=p["basis"]["values"]))
        parts.append(
            el(
                "p",
                f"{len(xs)} values of {p['basis']['values']} from events {cite_text(p['cites'])}, "
                f"those of {name}.",
                class_="small muted",
            )
        )
    if not parts:
        return None
    return el("div", el("h2", "Latency distribution"), *parts, class_="card", id="plot-latency")


ORDER = {"loss": 0, "win": 1, "tie": 2}
#: badge classes of the view's stylesheet for a case's outcome
OUTCOMES = {"win": "better", "loss": "worse", "tie": "tie"}


def _cases(plot: dict[str, Any] | None) -> Safe | None:
    if not plot:
        return None
    rows = [
        el("tr", el("td", r["case_id"]), el("td", "-" if r["epoch"] is None else str(r["epoch"]), class_="num"),
           el("td", fmt_value(r["a"]), class_="num"), el("td", fmt_value(r["b"]), class_="num"),
           el("td", el("span", r["outcome"], class_=f"badge {OUTCOMES.get(r['outcome'], 'tie')}")),
           data_case=r["case_id"])
        for r in sorted(plot["rows"], key=lambda r: ORDER.get(r["outcome"], 1))
    ]  # fmt: skip
    return el(
        "div",
        el("h2", "Per-case wins and losses"),
        svg.outcome_bar(plot["wins"], plot["ties"], plot["losses"]),
        el("table", el("thead", el("tr", el("th", "case"), el("th", "epoch"), el("th", "baseline"),
                                      el("th", "candidate"), el("th", "outcome"))),
           el("tbody", *rows), id="case-outcomes") if rows else el("p", "No case changed.", class_="muted"),
        el("p", f"Rests on events {cite_text(plot['cites'])}.", class_="small muted"),
        class_="card", id="plot-cases",
    )  # fmt: skip


def _stages(plot: dict[str, Any] | None) -> Safe | None:
    if not plot or not plot["rows"]:
        return None
    return el(
        "div",
        el("h2", "The candidate's share of results per stage"),
        svg.rate_plot([{"name": r["name"], "rate": r["rate"]} for r in plot["rows"]]),
        el("p", f"Against the share each stage plans; rests on events {cite_text(plot['cites'])}.",
           class_="small muted"),
        class_="card", id="plot-stages",
    )  # fmt: skip


def render(doc: dict[str, Any]) -> str:
    scope = doc["scope"]
    rec = doc["recommendation"]
    title = f"Decision report: {TITLES[doc['kind']]} {doc['subject']}"
    facts = []
    for key in ("compared", "control", "baseline", "on", "metric", "suite", "target"):
        value = scope.get(key)
        if value is None:
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        if isinstance(shown, dict):
            shown = json.dumps(shown, sort_keys=True)
        facts.append(el("tr", el("th", key), el("td", shown)))
    facts.append(
        el(
            "tr",
            el("th", "when"),
            el("td", f"{scope.get('from') or '-'} to {scope.get('to') or '-'}"),
        )
    )
    for who in scope.get("by", []):
        facts.append(
            el(
                "tr",
                el("th", "by"),
                el(
                    "td",
                    who["actor"],
                    f": {who['events']} events ",
                    el("span", cite_text(who["cites"]), class_="muted"),
                ),
            )
        )
    if scope.get("archived"):
        a = scope["archived"]
        facts.append(
            el(
                "tr",
                el("th", "archived"),
                el(
                    "td",
                    f"at #{a['position']}" + (f" by {a['actor']}" if a.get("actor") else ""),
                    f" (read-only; trialbook ab restore {doc['subject']} brings it back)",
                ),
                data_archived=str(a["position"]),
            )
        )
    matrix = [
        el("tr", el("td", r["criterion"]), el("td", _badge(r["status"])), el("td", r["summary"]),
           el("td", cite_text(r["cites"]), class_="cites"), data_row=r["id"], data_status=r["status"])
        for r in doc["matrix"]
    ]  # fmt: skip
    figures = [
        el("tr", el("td", el("code", f["key"])), el("td", f["label"]),
           el("td", fmt_value(f["value"], f["unit"]), class_="num", data_value=f["value"]),
           el("td", cite_text(f["cites"]), class_="cites"),
           el("td", json.dumps({"basis": f["basis"], "select": f["select"]}, sort_keys=True, ensure_ascii=False), class_="basis"),
           data_key=f["key"])
        for f in doc["figures"]
    ]  # fmt: skip
    plots = doc.get("plots") or {}
    seen = f"#{doc['position']}" + (f" (as of {doc['as_of']})" if doc.get("as_of") else "")
    body = el(
        "body",
        el("main",
           el("h1", title),
           el("p", f"Report schema {doc['schema_version']}, read at log position {seen}, "
                   f"recorded {doc['recorded_at'] or '-'}.", class_="sub"),
           el("div", el("div", "Recommendation: ", decision_text(rec), class_="title", id="decision",
                        data_decision=rec["decision"]),
              el("p", rec["reason"][:1].upper() + rec["reason"][1:], " ",
                 el("span", cite_text(rec["cites"]), class_="muted small") if rec["cites"] else None),
              el("p", el("strong", "Check: "), "passes" if doc["check"]["passed"] else "fails", ": ",
                 doc["check"]["reason"], id="check", data_passed=doc["check"]["passed"]),
              el("h3", "What would change it"), el("ul", *(el("li", c) for c in rec["would_change"])),
              class_=f"card reco {rec['decision']}"),
           el("div", el("h2", "Scope"), el("table", el("tbody", *facts)), class_="card", id="scope"),
           el("div", el("h2", "Readiness"),
              el("table", el("thead", el("tr", el("th", "criterion"), el("th", "status"), el("th", "summary"),
                                          el("th", "cites"))), el("tbody", *matrix), id="matrix"),
              class_="card"),
           _lift_plot(plots.get("lift")),
           _cases(plots.get("cases")),
           _stages(plots.get("stages")),
           _latency(plots.get("latency"), plots.get("latency_unit", "")),
           el("div", el("h2", "Figures"),
              el("p", "Each figure follows from the events it cites (docs/reports.md, basis).", class_="small muted"),
              el("div", el("table", el("thead", el("tr", el("th", "key"), el("th", "label"), el("th", "value", class_="num"),
                                                    el("th", "cites"), el("th", "basis"))),
                           el("tbody", *figures), id="figures"), class_="table-wrap"),
              class_="card"),
           ),
    )  # fmt: skip
    head = el(
        "head",
        el("meta", charset="utf-8"),
        el("meta", http_equiv="Content-Security-Policy", content=CSP),
        el("meta", name="viewport", content="width=device-width, initial-scale=1"),
        el("title", f"{title} · trialbook"),
        el("style", Safe(CSS + EXTRA_CSS)),
    )
    return "<!doctype html>\n" + el("html", head, body, lang="en") + "\n"
