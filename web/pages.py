"""The pages: pure functions from the dicts of :mod:`web.reads` to HTML.

Every figure cell carries its raw number in ``data-value`` (as JSON writes it),
so the page can be checked against the CLI's ``--json`` exactly; the text
shown is formatted like the CLI's tables. Everything user-provided goes
through :func:`web.html.el`, which escapes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from trialbook.domain.units import MetricUnits as Units  # the CLI's and the reports' too
from trialbook.domain.units import format_cost, guardrail_texts, p_text, pct
from trialbook.web import svg
from trialbook.web.html import Safe, el, join, link, url

DECISION_TITLES = {
    "ship": "Ship {variant}",
    "keep_control": "Keep control ({variant})",
    "continue": "Keep collecting",
    "no_difference": "No meaningful difference",
    "blocked": "Blocked by a data-quality alert",
}
STRIP_LABELS = {
    "continue": "keep collecting",
    "ship": "ship a variant",
    "keep_control": "keep control",
    "no_difference": "no meaningful difference",
    "blocked": "blocked by an alert",
}
#: a canary's strip: the stage rule's word after each result (the report's recommendation)
CANARY_STRIP = {
    "ship": "ship: the rule lets it advance or complete",
    "keep_collecting": "keep collecting",
    "halt": "halt: a guardrail is breached, or it was halted",
    "rollback": "rolled back",
}
CHOICES = {"ship": "ship {variant}", "keep_control": "keep control ({variant})", "stop": "stop"}


# --------------------------------------------------------------------------- formatting


def num(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


#: a cost, as the CLI prints it (``$0.000018``, ``$1,234.50``, ``-`` when unknown)
usd = format_cost


def judge_cost(sc: dict[str, Any]) -> str:
    """A scorer's judge cost: its priced verdicts' sum; "no price" for a judge that has tokens
    but no price (as ``eval show`` says); "-" for a scorer that asked no judge."""
    if sc.get("judge_cost_reported"):
        return usd(sc.get("judge_cost_usd"))
    return "no price" if sc.get("judge_prompt_tokens") or sc.get("judge_completion_tokens") else "-"


def when(text: str | None) -> str:
    return "-" if not text else text[:19].replace("T", " ")


def badge(text: str, kind: str | None = None) -> Safe:
    return el("span", text.replace("_", " "), class_=f"badge {kind or text}")


def decision_text(rec: dict[str, Any] | None) -> str:
    if not rec or not rec.get("decision"):
        return "-"
    return DECISION_TITLES.get(rec["decision"], rec["decision"]).format(variant=rec.get("variant"))


def fig(text: str, value: Any = None, **attrs: Any) -> Safe:
    """A numeric cell: ``text`` shown, the raw ``value`` in ``data-value``."""
    return el("td", text, class_="num", data_value=value, **attrs)


def table(
    headers: Sequence[Any], rows: Sequence[Safe], *, id: str | None = None, sortable: bool = False,
    numeric: Sequence[int] = (), empty: str = "Nothing here yet.",
) -> Safe:  # fmt: skip
    if not rows:
        return el("p", empty, class_="empty")
    head = el(
        "thead",
        el(
            "tr",
            *(el("th", h, class_="num" if i in numeric else None) for i, h in enumerate(headers)),
        ),
    )
    return el(
        "div",
        el("table", head, el("tbody", *rows), id=id, class_="sortable" if sortable else None),
        class_="table-wrap",
    )


def stat(label: str, value: str, raw: Any = None, key: str | None = None) -> Safe:
    return el(
        "div",
        el("div", label, class_="k"),
        el("div", value, class_="v", data_value=raw, data_key=key),
        class_="stat",
    )


def pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


# --------------------------------------------------------------------------- the frame


NAV = (
    ("tests", "A/B tests", "/"),
    ("runs", "Eval runs", "/runs"),
    ("canaries", "Canaries", "/canaries"),
    ("log", "Log", "/log"),
)


def layout(
    title: str,
    *content: Any,
    active: str,
    position: int,
    database: str,
    crumbs: Sequence[tuple[str, str]] = (),
    poll_ms: int = 2000,
) -> str:
    """A whole page: the header (navigation, database, log head, the live switch) and ``content``."""
    nav = el(
        "nav",
        *(
            link(href, label, class_="active" if key == active else None)
            for key, label, href in NAV
        ),
    )
    head = el(
        "div",
        el("span", "db ", el("code", database.rsplit("/", 1)[-1]), title=database),
        el("span", "log head ", el("code", f"#{position}", id="head-position")),
        el(
            "label",
            el("input", type="checkbox", id="live", checked=True),
            " live",
            title="Refresh this page when new events are recorded",
        ),
        class_="head",
    )
    trail = (
        el("div", *(join(link(h, t), " / ") for t, h in crumbs), class_="crumbs")
        if crumbs
        else None
    )
    body = el(
        "body",
        el(
            "header",
            link("/", "trialbook", class_="brand"),
            nav,
            head,
            class_="top",
        ),
        el("main", trail, *content),
        el("script", src="/static/app.js"),
        data_position=position,
        data_poll=poll_ms,
    )
    return (
        "<!doctype html>\n"
        + el(
            "html",
            el(
                "head",
                el("meta", charset="utf-8"),
                el("meta", name="viewport", content="width=device-width, initial-scale=1"),
                el("title", f"{title} · trialbook"),
                el("link", rel="stylesheet", href="/static/app.css"),
                el("link", rel="icon", href="/static/icon.svg", type="image/svg+xml"),
            ),
            body,
            lang="en",
        )
        + "\n"
    )


def message_page(title: str, text: str, **frame: Any) -> str:
    return layout(title, el("h1", title), el("div", el("p", text), class_="card"), **frame)


# --------------------------------------------------------------------------- A/B tests


def tests_page(items: list[dict[str, Any]], **frame: Any) -> str:
    rows = []
    for t in items:
        name = t["name"]
        rec = t["recommendation"]
        d = t["decision"]
        decided = (
            link(
                url("tests", name, "decisions", d["position"]),
                CHOICES[d["choice"]].format(variant=d["variant"]),
            )
            if d
            else "-"
        )
        status = "archived" if t["archived"] else ("concluded" if d else "active")
        rows.append(
            el(
                "tr",
                el("td", link(url("tests", name), name, class_="test-link")),
                el("td", badge(status, "archived" if t["archived"] else "ok" if d else "running")),
                el("td", ", ".join(t["variants"])),
                el("td", t["metric"]),
                fig(f"{t['results']:,}", t["results"]),
                el(
                    "td",
                    badge(decision_text(rec), rec["decision"])
                    if rec
                    else el("span", t["error"] or "-", class_="muted"),
                    data_sort=rec["decision"] if rec else "",
                ),
                el("td", decided),
                el("td", when(t["created_at"]), class_="small"),
                data_test=name,
            )
        )
    return layout(
        "A/B tests",
        el("h1", "A/B tests"),
        el("p", f"{len(items)} test{'s' if len(items) != 1 else ''}, archived ones included. "
           "The recommendation is the current analysis; the decision is the last one recorded.", class_="sub"),
        el(
            "div",
            table(
                ["test", "status", "variants", "metric", "results", "recommendation", "decision", "created (UTC)"],
                rows, id="tests", sortable=True, numeric=(4,),
                empty="No A/B tests yet. Create one with: trialbook ab create NAME --variants a,b",
            ),
            class_="card",
        ),
        active="tests",
        **frame,
    )  # fmt: skip


def _variant_rows(doc: dict[str, Any], u: Units) -> list[Safe]:
    holm = doc["settings"].get("holm_family", 1) > 1
    rows = []
    for v in doc["variants"]:
        name = v["name"]
        cells = [
            el("td", name, el("span", " (control)", class_="muted") if v["is_control"] else None),
            fig(f"{v['n']:,}", v["n"], data_field="n"),
            fig(u.value(v["estimate"]), v["estimate"], data_field="estimate"),
        ]
        if v["is_control"]:
            cells += [el("td", "-", class_="num")] * (4 + holm)
            cells += [fig(pct(v["p_best"]), v["p_best"], data_field="p_best"), el("td", "-")]
        else:
            rel = "" if v["relative_lift"] is None else f" ({v['relative_lift'] * 100:+.1f}%)"
            cells += [
                fig(u.diff(v["lift"]) + rel, v["lift"], data_field="lift"),
                fig(u.interval(v["ci"]), v["ci"], data_field="ci"),
                fig(p_text(v["p_value"]), v["p_value"], data_field="p_value"),
                *([fig(p_text(v["p_value_adjusted"]), v["p_value_adjusted"], data_field="p_value_adjusted")] if holm else []),
                fig(pct(v["p_beats_control"]), v["p_beats_control"], data_field="p_beats_control"),
                fig(pct(v["p_best"]), v["p_best"], data_field="p_best"),
                el("td", badge(v["status"]) if v["status"] else "-"),
            ]  # fmt: skip
        rows.append(el("tr", *cells, data_variant=name))
    return rows


def _plot(doc: dict[str, Any], hist: dict[str, Any] | None, u: Units) -> Safe:
    if hist is None or not hist["n"]:
        return el("p", "No results yet: nothing to plot.", class_="muted")
    series = [{"name": name, **s} for name, s in hist["variants"].items()]
    margin = None
    m = doc["settings"].get("equivalence_margin")
    if m and not str(m).endswith("%"):
        try:
            margin = float(str(m).removesuffix("pp")) / (100 if str(m).endswith("pp") else 1)
        except ValueError:
            margin = None
    plot = svg.interval_plot(
        hist["n"], series, fmt=u.tick, decisions=hist["decision"], margin=margin,
        y_label=f"{doc['metric']} lift vs {doc['control']}",
    )  # fmt: skip
    seen = list(dict.fromkeys(hist["decision"]))
    legend = el(
        "div",
        *(el("span", el("span", class_=f"swatch sw-{d}"), STRIP_LABELS.get(d, d)) for d in seen),
        class_="legend-row",
    )  # fmt: skip
    shown = len(hist["n"])
    note = (
        f"After each of {hist['results']:,} results"
        + (
            " (every look drawn)"
            if shown == hist["results"]
            else f" ({shown} evenly spaced looks drawn)"
        )
        + f": the lift and its always-valid {doc['ci_level'] * 100:.4g}% interval, as `ab analyze` "
        "would have shown it then, and under the plot the recommendation at each look "
        "(`ab analyze --history`). The interval stays valid however often you look."
    )
    return join(plot, legend, el("p", note, class_="small muted"))


def _guardrails(doc: dict[str, Any]) -> Safe:
    rows = []
    for g in doc["guardrails"]:
        worsening, ci, limit = guardrail_texts(g)
        rows.append(
            el(
                "tr",
                el("td", g["metric"]),
                el("td", g["variant"]),
                el("td", badge(g["status"])),
                fig(worsening, g["worsening"], data_field="worsening"),
                fig(ci, g["ci"], data_field="ci"),
                fig(limit, g["limit"]),
                data_guardrail=f"{g['metric']}:{g['variant']}",
            )
        )
    return table(
        ["metric", "variant", "status", "worsening", "always-valid interval", "limit"], rows,
        numeric=(3, 4, 5), empty="No guardrails on this test.",
    )  # fmt: skip


def _alerts(doc: dict[str, Any]) -> Safe:
    if not doc["alerts"]:
        return el(
            "p",
            "None: the sample ratio, missing and failed results look as planned.",
            class_="muted",
        )
    return el(
        "ul",
        *(
            el("li", badge("blocking", "blocked") if a["blocking"] else badge("warning", "unclear"), " ",
               a["message"], data_alert=a["kind"])
            for a in doc["alerts"]
        ),
    )  # fmt: skip


def _decisions(name: str, decisions: list[dict[str, Any]]) -> Safe:
    rows = []
    for d in decisions:
        audit = d.get("audit") or {}
        if audit.get("reproduces"):
            status = badge("reproduces")
        elif audit:
            status = badge("does not reproduce", "differs")
        else:
            status = el("span", "-", class_="muted")
        rec = d["recommendation"]
        rows.append(
            el(
                "tr",
                el("td", link(url("tests", name, "decisions", d["position"]), f"#{d['position']}", class_="decision-link")),
                el("td", CHOICES[d["choice"]].format(variant=d["variant"])),
                el("td", decision_text(rec), " ", badge("against", "differs") if d["against_recommendation"] else None),
                el("td", d["note"] or "-", class_="note"),
                el("td", d["actor"] or "-"),
                el("td", when(d["recorded_at"]), class_="small"),
                fig(f"#{d['analysis_position']}", d["analysis_position"]),
                el("td", status),
                data_decision=d["position"],
            )
        )  # fmt: skip
    return table(
        ["event", "choice", "recommended then", "note", "by", "recorded (UTC)", "analysis at", "audit"],
        rows, numeric=(6,), empty="No decision recorded yet: `trialbook ab conclude` records one.",
    )  # fmt: skip


def _summary(rows: list[dict[str, Any]]) -> Safe:
    body = [
        el(
            "tr",
            el(
                "td",
                r["variant"],
                el("span", " (control)", class_="muted") if r["control"] else None,
            ),
            fig(f"{r['results']:,}", r["results"]),
            fig(pct(r["success_rate"]), r["success_rate"]),
            fig(pct(r["mean_error_rate"]), r["mean_error_rate"]),
            fig(num(r["mean_completion_time"]), r["mean_completion_time"]),
            fig(num(r["mean_messages"]), r["mean_messages"]),
            fig(f"{r['total_tokens']:,}", r["total_tokens"]),
            fig(usd(r["total_cost"]), r["total_cost"]),
            data_variant=r["variant"],
        )
        for r in rows
    ]
    return table(
        ["variant", "results", "success", "error rate", "completion time", "messages", "tokens", "cost"],
        body, numeric=range(1, 8),
    )  # fmt: skip


def _recent(results: list[dict[str, Any]]) -> Safe:
    rows = [
        el(
            "tr",
            fig(f"#{r['position']}", r["position"]),
            el("td", r["variant"]),
            el("td", "-" if r["success"] is None else badge("pass" if r["success"] else "fail")),
            fig(num(r.get("completion_time")), r.get("completion_time")),
            el("td", r.get("case_id") or "-"),
            el("td", "; ".join(r.get("error_messages") or []) or "-", class_="small"),
            el("td", r.get("notes") or "-", class_="note"),
        )
        for r in reversed(results)
    ]
    return table(
        ["event", "variant", "success", "time", "case", "errors", "notes"], rows, numeric=(0, 3)
    )


def test_page(data: dict[str, Any], recent: list[dict[str, Any]], **frame: Any) -> str:
    t = data["test"]
    name = t["name"]
    doc = data["analysis"]
    header = [
        el("h1", name, " ", badge("archived") if t["archived"] else None),
        el("p", t["description"], class_="sub") if t["description"] else None,
    ]
    if doc is None:
        return layout(
            name, *header,
            el("div", el("p", data["error"] or "This test cannot be analysed yet."), class_="card"),
            el("div", el("h2", "Decisions"), _decisions(name, data["decisions"]), class_="card"),
            active="tests", crumbs=[("A/B tests", "/")], **frame,
        )  # fmt: skip
    u = Units(doc["kind"])
    holm = doc["settings"].get("holm_family", 1) > 1
    level = f"{doc['ci_level'] * 100:.4g}%"
    results = sum(v["results"] for v in doc["variants"])
    direction = "lower" if doc["lower_is_better"] else "higher"
    rec = doc["recommendation"]
    header.append(
        el(
            "p",
            f"{doc['metric']} ({doc['kind']}, {direction} is better) · control {doc['control']} · "
            f"{results:,} results · analysed at log position {doc['position']} · alpha {doc['alpha']:g} · "
            f"method version {doc['method_version']}",
            class_="sub",
        )
    )
    headers = [
        "variant", "n", doc["metric"], f"lift vs {doc['control']}", f"always-valid {level} interval",
        "p", *(["p (Holm)"] if holm else []), f"P(beats {doc['control']})", "P(best)", "status",
    ]  # fmt: skip
    fixed = [
        el(
            "li",
            f"{v['name']}: {v['fixed_horizon']['method']}: {u.diff(v['fixed_horizon']['lift'])}, "
            f"{level} interval {u.interval(v['fixed_horizon']['ci'])}, p {p_text(v['fixed_horizon']['p_value'])}",
        )
        for v in doc["variants"]
        if not v["is_control"] and v["fixed_horizon"]
    ]
    paired = [
        el(
            "li",
            f"{v['name']} vs {doc['control']}: {v['paired']['pairs']:,} pairs, "
            + ("used for the decision" if v["paired"]["used_for_decision"] else "not used (too few results pair up)")
            + f"; mean difference {u.diff(v['paired']['lift'])}, always-valid interval "
            f"{u.interval(v['paired']['ci'])}, p {p_text(v['paired']['p_value'])}",
        )
        for v in doc["variants"]
        if not v["is_control"] and v["paired"]
    ]  # fmt: skip
    return layout(
        name,
        *header,
        el(
            "div",
            el("div", "Recommendation: ", decision_text(rec), class_="title", data_decision=rec["decision"]),
            el("div", rec["reason"], class_="reason"),
            class_=f"card reco {rec['decision']}",
            id="recommendation",
        ),
        el("div", el("h2", "Lift and always-valid interval after every result"), _plot(doc, data["history"], u), class_="card", id="history"),
        el(
            "div",
            el("h2", "Variants"),
            table(headers, _variant_rows(doc, u), id="variants", numeric=range(1, len(headers) - 1)),
            el("p", "Method: ", doc["method"], class_="small muted"),
            el("details", el("summary", "Fixed-horizon figures (valid for one look at a sample size fixed in advance)"), el("ul", *fixed), class_="small") if fixed else None,
            el("details", el("summary", "Paired by case id"), el("ul", *paired), class_="small", open=True) if paired else None,
            class_="card",
        ),
        el(
            "div",
            el("div", el("h2", "Guardrails"), _guardrails(doc), class_="card", id="guardrails"),
            el("div", el("h2", "Alerts"), _alerts(doc), class_="card", id="alerts"),
            class_="two",
        ),
        el("div", el("h2", "Decisions"), _decisions(name, data["decisions"]), class_="card", id="decisions"),
        el("div", el("h2", "Per-variant figures"), _summary(data["summary"]), class_="card", id="summary"),
        el("div", el("h2", f"Latest results ({len(recent)})"), _recent(recent), class_="card", id="results"),
        el("p", link(url("api", "tests", name), "this analysis as JSON"), " (what `trialbook ab analyze ",
           name, " --json` prints) · ", link(url("api", "tests", name, "history"), "trajectory as JSON"),
           class_="small muted"),
        active="tests",
        crumbs=[("A/B tests", "/")],
        **frame,
    )  # fmt: skip


def decision_page(
    name: str, decision: dict[str, Any], audit: dict[str, Any] | None, **frame: Any
) -> str:
    """One recorded decision: what was chosen, on which analysis, and whether it reproduces."""
    d = decision
    title = f"{name}: decision #{d['position']}"
    facts = el(
        "div",
        stat("choice", CHOICES[d["choice"]].format(variant=d["variant"])),
        stat("recommended then", decision_text(d["recommendation"])),
        stat("analysis at position", f"#{d['analysis_position']}", d["analysis_position"]),
        stat("method version", d["method_version"]),
        stat("by", d["actor"] or "-"),
        stat("recorded (UTC)", when(d["recorded_at"])),
        class_="grid",
    )
    parts: list[Any] = [
        el("h1", title),
        el("div", facts, el("p", "Note: ", d["note"], class_="note") if d["note"] else None,
           el("p", badge("against the recommendation", "differs")) if d["against_recommendation"] else None,
           class_="card"),
    ]  # fmt: skip
    if audit is not None:
        ok = audit["reproduces"]
        parts.append(
            el(
                "div",
                el("h2", "Audit"),
                el(
                    "p",
                    badge("reproduces") if ok else badge("does not reproduce", "differs"),
                    " The log was replayed to position ",
                    f"#{audit['analysis_position']}",
                    " and the analysis recomputed with the options recorded with the decision: "
                    + ("every number equals the recorded one." if ok else "it differs from the recorded one."),
                    id="audit-status",
                    data_reproduces="true" if ok else "false",
                ),
                el("p", "Recorded by the command: ", el("code", audit["command"])) if audit.get("command") else None,
                el("p", audit["error"], class_="muted") if audit.get("error") else None,
                _audit_figures(audit),
                el("ul", *(el("li", el("code", x["path"]), ": recorded ", json.dumps(x.get("recorded")),
                              ", recomputed ", json.dumps(x.get("recomputed"))) for x in audit["differences"]))
                if audit["differences"] else None,
                _now(audit.get("now")),
                class_="card",
            )
        )  # fmt: skip
    return layout(
        title,
        *parts,
        active="tests",
        crumbs=[("A/B tests", "/"), (name, url("tests", name))],
        **frame,
    )


def _audit_figures(audit: dict[str, Any]) -> Safe | None:
    recorded = audit["recorded"]["figures"]
    recomputed = (audit.get("recomputed") or {}).get("figures") or []
    by_name = {f.get("name"): f for f in recomputed}
    rows = []
    for f in recorded:
        r = by_name.get(f.get("name"), {})
        rows.append(
            el(
                "tr",
                el("td", f.get("name")),
                *(fig(_plain(f.get(k)), f.get(k)) for k in ("n", "estimate", "lift", "p_value")),
                *(fig(_plain(r.get(k)), r.get(k)) for k in ("n", "estimate", "lift", "p_value")),
            )
        )
    return table(
        ["variant", "n", "estimate", "lift", "p", "n now", "estimate now", "lift now", "p now"],
        rows, numeric=range(1, 9),
    )  # fmt: skip


def _plain(x: Any) -> str:
    if isinstance(x, list):
        return " to ".join(_plain(v) for v in x)
    return num(x, 6)


def _now(now: dict[str, Any] | None) -> Safe | None:
    if not now:
        return None
    if "error" in now:
        return el("p", "Now: ", now["error"], class_="muted")
    agrees = now["agrees_with_decision"]
    return el(
        "p",
        f"Now (position #{now['position']}, {now['results']:,} results) the analysis recommends: ",
        decision_text(now["recommendation"]),
        " — ",
        "it agrees with the decision." if agrees else "it no longer agrees with the decision.",
    )


# --------------------------------------------------------------------------- eval runs


def _run_status(r: dict[str, Any]) -> Safe:
    status = "stalled" if r.get("runner") == "gone" else r["status"]
    return badge(status)


def runs_page(items: list[dict[str, Any]], **frame: Any) -> str:
    previous: dict[str, str] = {}  # run -> the run of the same suite started before it
    for r in reversed(items):  # oldest first
        last = previous.get("suite:" + r["suite"])
        if last is not None:
            previous[r["run_id"]] = last
        previous["suite:" + r["suite"]] = r["run_id"]
    rows = [
        el(
            "tr",
            el("td", link(url("runs", r["run_id"]), r["run_id"], class_="run-link")),
            el("td", r["name"] or "-"),
            el("td", f"{r['suite']} v{r['suite_version']}"),
            el("td", _run_status(r)),
            fig(f"{r['completed']:,}/{r['total']:,}", r["completed"]),
            fig(f"{r['failed']:,}", r["failed"]),
            fig(usd(r["cost_usd"]), r["cost_usd"]),
            el("td", when(r["started_at"]), class_="small"),
            el(
                "td",
                link(url("compare", a=previous[r["run_id"]], b=r["run_id"]), f"against {previous[r['run_id']]}",
                     class_="compare-link")
                if r["run_id"] in previous else "-",
            ),
            data_run=r["run_id"],
        )
        for r in items
    ]  # fmt: skip
    options = [
        el("option", f"{r['run_id']} ({r['suite']} v{r['suite_version']})", value=r["run_id"])
        for r in items
    ]
    compare = (
        el(
            "form",
            el("label", "baseline (A)", el("select", *options, name="a")),
            el("label", "candidate (B)", el("select", *options, name="b")),
            el("button", "Compare", type="submit"),
            action="/compare", method="get", class_="filters",
        )
        if len(items) >= 2 else None
    )  # fmt: skip
    return layout(
        "Eval runs",
        el("h1", "Eval runs"),
        el("p", f"{len(items)} run{'s' if len(items) != 1 else ''}, newest first.", class_="sub"),
        el("div", table(["run", "name", "suite", "status", "completed", "failed", "cost", "started (UTC)", "wins and losses"],
                        rows, id="runs", sortable=True, numeric=(4, 5, 6),
                        empty="No eval runs yet; start one with `trialbook eval run SUITE --target SPEC`."),
           class_="card"),
        el("div", el("h2", "Compare two runs"), compare, class_="card") if compare else None,
        active="runs",
        **frame,
    )  # fmt: skip


def _outcome(r: dict[str, Any], names: list[str]) -> str:
    if r["status"] != "completed":
        return "error"
    marks = [r["verdicts"].get(n) for n in names]
    if any(m and m.get("scoring_error") for m in marks):
        return "error"
    passes = [m["passed"] for m in marks if m and m.get("passed") is not None]
    if passes:
        return "pass" if all(passes) else "fail"
    if r["score"] is not None:
        return "pass" if r["score"] >= 0.5 else "fail"
    return "none"


def _scorer_cell(v: dict[str, Any] | None) -> Safe:
    if not v:
        return el("td", "-", class_="muted")
    if v.get("scoring_error"):
        return el(
            "td", badge("error"), " ", (v.get("error") or "")[:80], class_="small", data_sort="-1"
        )
    mark = {True: "pass", False: "fail", None: "abstain"}[v["passed"]]
    score = "-" if v["score"] is None else num(v["score"], 3)
    return el("td", score, " ", badge(mark, mark if mark != "abstain" else "unclear"),
              data_sort=v["score"] if v["score"] is not None else "", data_value=v["score"])  # fmt: skip


def run_page(data: dict[str, Any], others: list[dict[str, Any]], **frame: Any) -> str:
    run = data["run"]
    run_id = run["run_id"]
    s = data["summary"]
    names = data["scorer_names"]
    target = run["target"] or {}
    sub = (
        f"suite {run['suite']} v{run['suite_version']} · target {target.get('kind', '?')} · "
        f"{run['epochs']} epoch(s) · started {when(run['started_at'])} UTC"
        + (f" · finished {when(run['finished_at'])}" if run.get("finished_at") else "")
    )
    stats = el(
        "div",
        stat("rollouts", f"{s['rollouts']:,} / {run['total']:,}", s["rollouts"], "rollouts"),
        stat("completed", f"{s['completed']:,}", s["completed"], "completed"),
        stat("failed", f"{s['failed']:,}", s["failed"], "failed"),
        stat("pending", f"{s['pending']:,}", s["pending"], "pending"),
        stat("mean score", num(s["mean_score"], 3), s["mean_score"], "mean_score"),
        stat("target pass rate", pct(s["target_pass_rate"]), s["target_pass_rate"], "target_pass_rate"),
        stat("latency p50", ms(s["latency_p50_s"]), s["latency_p50_s"], "latency_p50_s"),
        stat("latency p95", ms(s["latency_p95_s"]), s["latency_p95_s"], "latency_p95_s"),
        stat("latency p99", ms(s["latency_p99_s"]), s["latency_p99_s"], "latency_p99_s"),
        stat("tokens", f"{s['prompt_tokens'] + s['completion_tokens']:,}", s["prompt_tokens"] + s["completion_tokens"], "tokens"),
        stat("cost", usd(s["cost_usd"]), s["cost_usd"], "cost_usd"),
        class_="grid",
    )  # fmt: skip
    scorers = data["scorers"]
    scorer_rows = []
    for n in names:
        sc = scorers.get(n) or {}
        interval = sc.get("pass_interval") or [None, None]
        pk = sc.get("pass_at_k")
        scorer_rows.append(
            el(
                "tr",
                el("td", n),
                fig(f"{sc.get('scored', 0):,}", sc.get("scored")),
                fig(num(sc.get("mean"), 3), sc.get("mean"), data_field="mean"),
                fig(pct(sc.get("pass_rate")), sc.get("pass_rate"), data_field="pass_rate"),
                fig("-" if interval[0] is None else f"{interval[0] * 100:.1f}% to {interval[1] * 100:.1f}%", interval, data_field="pass_interval"),
                fig(f"{sc.get('abstained', 0):,}", sc.get("abstained")),
                fig(f"{sc.get('errors', 0):,}", sc.get("errors")),
                fig(f"{pct(pk['pass_at_k'])} / {pct(pk['pass_hat_k'])}" if pk else "-", pk["pass_at_k"] if pk else None),
                fig(judge_cost(sc), sc.get("judge_cost_usd")),
                data_scorer=n,
            )
        )  # fmt: skip
    rates = [
        {"name": n, "rate": (scorers.get(n) or {}).get("pass_rate"), "ci": (scorers.get(n) or {}).get("pass_interval")}
        for n in names
    ]  # fmt: skip
    agreement_rows = [
        el(
            "tr",
            el("td", a["scorer_a"]), el("td", a["scorer_b"]),
            fig(f"{a['n']:,}", a["n"]), fig(pct(a["percent"]), a["percent"]),
            fig(num(a["kappa"], 3), a["kappa"]), fig(f"{len(a['disagreements']):,}", len(a["disagreements"])),
        )
        for a in data["agreements"]
    ]  # fmt: skip
    latencies = [
        r["latency_s"]
        for r in data["rollouts"]
        if r["status"] == "completed" and r["latency_s"] is not None
    ]
    hist = svg.histogram(
        [x * 1000 for x in latencies], fmt=lambda v: f"{v:.0f}", unit="rollouts", x_label="latency (ms)",
        width=480, height=240,
        markers=[(label, s[key] * 1000) for label, key in (("p50", "latency_p50_s"), ("p95", "latency_p95_s"))
                 if s[key] is not None],
    )  # fmt: skip
    rows = []
    for r in data["rollouts"]:
        outcome = _outcome(r, names)
        rows.append(
            el(
                "tr",
                el("td", link(url("runs", run_id, "cases", r["case_id"]), r["case_id"], class_="case-link")),
                fig(str(r["epoch"]), r["epoch"]),
                el("td", badge(outcome, {"none": "unclear"}.get(outcome))),
                fig(num(r["score"], 3), r["score"], data_field="score"),
                fig(num(r["reward"], 3), r["reward"]),
                fig(ms(r["latency_s"]), r["latency_s"], data_field="latency_s"),
                fig(num(r["tokens"]), r["tokens"]),
                fig(usd(r["cost_usd"]), r["cost_usd"]),
                *(_scorer_cell(r["verdicts"].get(n)) for n in names),
                el("td", (r["error"] or "")[:120] or "-", class_="small error-text"),
                data_case=r["case_id"], data_epoch=r["epoch"], data_outcome=outcome,
                data_score=r["score"], data_error="1" if (r["error"] or outcome == "error") else "0",
            )
        )  # fmt: skip
    filters = el(
        "form",
        el("label", "case", el("input", type="search", name="q", placeholder="case id contains…")),
        el("label", "outcome", el("select", el("option", "all", value=""), el("option", "pass", value="pass"),
                                   el("option", "fail", value="fail"), el("option", "error", value="error"),
                                   name="outcome")),
        el("label", "score at least", el("input", type="number", name="min_score", step="any", size="6")),
        el("label", el("span", "errors only"), el("input", type="checkbox", name="errors")),
        el("span", "", class_="shown small muted"),
        class_="filters", data_table="rollouts",
    )  # fmt: skip
    baseline = [o for o in others if o["run_id"] != run_id]
    compare = (
        el(
            "form",
            el("input", type="hidden", name="b", value=run_id),
            el("label", "against baseline", el("select", *(el("option", o["run_id"], value=o["run_id"]) for o in baseline), name="a")),
            el("button", "Wins and losses", type="submit"),
            action="/compare", method="get", class_="filters",
        )
        if baseline else None
    )  # fmt: skip
    flaky = data["flaky_cases"]
    return layout(
        f"Run {run_id}",
        el("h1", f"Run {run_id}", " ", _run_status(run), el("span", f" {run['name']}", class_="muted") if run.get("name") and run["name"] != run_id else None),
        el("p", sub, class_="sub"),
        el("div", stats, class_="card", id="summary"),
        compare and el("div", compare, class_="card"),
        el(
            "div",
            el("div", el("h2", "Pass rates (95% Wilson intervals)"), svg.rate_plot(rates, width=480) if names else el("p", "No scorer verdicts yet.", class_="muted"), class_="card", id="pass-rates"),
            el("div", el("h2", "Latency"), hist, class_="card", id="latency"),
            class_="two",
        ),
        el("div", el("h2", "Scorers"), table(["scorer", "scored", "mean", "pass rate", "interval", "abstained", "errors", "pass@k / pass^k", "judge cost"], scorer_rows, id="scorers", numeric=range(1, 9), empty="No verdicts."), class_="card"),
        el("div", el("h2", "Agreement between scorers"), table(["scorer", "with", "rollouts", "agreement", "Cohen's kappa", "disagreements"], agreement_rows, numeric=range(2, 6)), class_="card") if agreement_rows else None,
        el("div", el("h2", "Flaky cases"), el("ul", *(el("li", link(url("runs", run_id, "cases", c["case_id"]), c["case_id"]), f" ({c['scorer']}): passed epochs {c['passed_epochs']}, failed {c['failed_epochs']}") for c in flaky)), class_="card") if flaky else None,
        el("div", el("h2", f"Rollouts ({len(rows):,})"), filters,
           table(["case", "epoch", "outcome", "score", "reward", "latency", "tokens", "cost", *names, "error"], rows,
                 id="rollouts", sortable=True, numeric=range(1, 8), empty="No rollouts recorded yet."),
           class_="card"),
        el("p", link(url("api", "runs", run_id), "this run as JSON"), f" (what `trialbook eval show {run_id} --json` prints)", class_="small muted"),
        active="runs",
        crumbs=[("Eval runs", "/runs")],
        **frame,
    )  # fmt: skip


def case_page(data: dict[str, Any], **frame: Any) -> str:
    run = data["run"]
    run_id, case_id = run["run_id"], data["case_id"]
    case = data["case"]
    parts: list[Any] = [
        el("h1", case_id),
        el(
            "p",
            f"case of run {run_id} · suite {run['suite']} v{run['suite_version']}",
            class_="sub",
        ),
    ]
    if case is not None:
        parts.append(
            el(
                "div",
                el("h2", "Input"), el("pre", pretty(case["input"]), class_="case-input"),
                el("h2", "Expected") if case.get("expected") is not None else None,
                el("pre", pretty(case["expected"])) if case.get("expected") is not None else None,
                el("h2", "Criteria") if case.get("criteria") else None,
                el("ul", *(el("li", c) for c in case.get("criteria") or ())) if case.get("criteria") else None,
                class_="card", id="case",
            )
        )  # fmt: skip
    for r in data["rollouts"]:
        parts.append(
            el(
                "div",
                el("h2", f"Epoch {r['epoch']} (attempt {r['attempt']}) ", badge(r["status"], "ok" if r["status"] == "completed" else "failed")),
                el("p", f"latency {ms(r['latency_s'])} · score {num(r['score'], 3)} · tokens "
                   f"{num((r['prompt_tokens'] or 0) + (r['completion_tokens'] or 0))} · cost {usd(r['cost_usd'])}"
                   + (f" · model {r['model']}" if r.get("model") else ""), class_="small muted"),
                el("p", badge("error"), " ", r["error"], class_="rollout-error") if r["error"] else None,
                el("h2", "Output"), el("pre", pretty(r["output"]) if r["output"] is not None else "(no output)", class_="rollout-output"),
                el("details", el("summary", "Trace"), el("pre", pretty(r["trace"]))) if r.get("trace") is not None else None,
                class_="card rollout", data_epoch=r["epoch"],
            )
        )  # fmt: skip
    rows = []
    for v in data["verdicts"]:
        head = [el("td", v["scorer"]), fig(str(v["epoch"]), v["epoch"]), fig(str(v["repeat"]), v["repeat"]),
                fig(num(v["score"], 3), v["score"]),
                el("td", "-" if v["passed"] is None else badge("pass" if v["passed"] else "fail"))]  # fmt: skip
        if not v["evaluation"]:
            rows.append(
                el(
                    "tr",
                    *head,
                    el("td", "-"),
                    el("td", "-"),
                    el("td", v["error"] or v["result"] or "", class_="reason"),
                )
            )
        for c in v["evaluation"]:
            rows.append(
                el("tr", *head, el("td", c["criteria"]), el("td", badge("pass" if c["passed"] else "fail")),
                   el("td", c["reason"], class_="reason"))
            )  # fmt: skip
    parts.append(
        el("div", el("h2", "Verdicts"),
           table(["scorer", "epoch", "repeat", "score", "passed", "criterion", "ok", "reason"], rows,
                 id="verdicts", numeric=(1, 2, 3), empty="No verdicts for this case."),
           el("p", *(el("span", el("b", v["scorer"]), ": ", v["result"], " ") for v in data["verdicts"] if v.get("result")), class_="small"),
           class_="card")
    )  # fmt: skip
    return layout(
        f"{case_id} · run {run_id}", *parts, active="runs",
        crumbs=[("Eval runs", "/runs"), (f"Run {run_id}", url("runs", run_id))], **frame,
    )  # fmt: skip


def compare_page(data: dict[str, Any], **frame: Any) -> str:
    a, b = data["run_a"], data["run_b"]
    paired = data.get("paired") or {}

    def pair_rows(items: list[dict[str, Any]]) -> list[Safe]:
        return [
            el(
                "tr",
                el("td", p["case_id"]),
                fig(str(p["epoch"]), p["epoch"]),
                fig(num(p["a_score"], 3), p["a_score"]),
                fig(num(p["b_score"], 3), p["b_score"]),
                el("td", badge(p["outcome"], {"win": "pass", "loss": "fail", "tie": "keep_control"}[p["outcome"]])),
                el("td", link(url("runs", a, "cases", p["case_id"]), "A"), " · ", link(url("runs", b, "cases", p["case_id"]), "B")),
                data_case=p["case_id"], data_outcome=p["outcome"],
            )
            for p in items
        ]  # fmt: skip

    order = {"loss": 0, "win": 1, "tie": 2}
    rows = sorted(
        data["rows"], key=lambda p: (order[p["outcome"]], p["b_score"] - p["a_score"], p["case_id"])
    )
    headers = ["case", "epoch", f"A {a}", f"B {b}", "outcome", "open"]
    analysis = data.get("analysis")
    facts = el(
        "div",
        stat("pairs", f"{data['pairs']:,}", data["pairs"], "pairs"),
        stat("wins", f"{data['wins']:,}", data["wins"], "wins"),
        stat("losses", f"{data['losses']:,}", data["losses"], "losses"),
        stat("ties", f"{data['ties']:,}", data["ties"], "ties"),
        stat("pass rate A", pct(data["a_pass_rate"]), data["a_pass_rate"], "a_pass_rate"),
        stat("pass rate B", pct(data["b_pass_rate"]), data["b_pass_rate"], "b_pass_rate"),
        stat("mean difference B − A", num(paired.get("lift"), 3), paired.get("lift"), "paired_lift"),
        stat("95% interval (paired t)", "-" if not paired.get("ci") else f"{paired['ci'][0]:+.3f} to {paired['ci'][1]:+.3f}",
             paired.get("ci"), "paired_ci"),
        class_="grid",
    )  # fmt: skip
    failed = [
        el("tr", el("td", f["case_id"]), fig(str(f["epoch"]), f["epoch"]), el("td", f["failed_in"]),
           el("td", f["a_error"] or "-", class_="small"), el("td", f["b_error"] or "-", class_="small"))
        for f in data["failed_rollouts"]
    ]  # fmt: skip
    return layout(
        f"{b} vs {a}",
        el("h1", f"{b} against {a}"),
        el("p", f"B = {b} paired with A = {a} by (case, epoch) on {data['basis']}; "
           f"{data['only_in_a']} only in A, {data['only_in_b']} only in B.", class_="sub"),
        el("div", facts, el("div", svg.outcome_bar(data["wins"], data["ties"], data["losses"]), class_="outcome-wrap"), class_="card", id="compare-summary"),
        el("div", el("h2", "Paired analysis"), el("p", decision_text(analysis["recommendation"]), ": ", analysis["recommendation"]["reason"]), class_="card") if analysis else None,
        el("div", el("h2", f"Regressions ({len(data['regressions'])})"), el("p", "Passed in A, fail in B.", class_="small muted"),
           table(headers, pair_rows(data["regressions"]), id="regressions", numeric=(1, 2, 3), empty="No regressions."), class_="card"),
        el("div", el("h2", f"Improvements ({len(data['improvements'])})"),
           table(headers, pair_rows(data["improvements"]), id="improvements", numeric=(1, 2, 3), empty="No improvements."), class_="card"),
        el("div", el("h2", "Rollouts that failed"), table(["case", "epoch", "failed in", "A error", "B error"], failed, numeric=(1,)), class_="card") if failed else None,
        el("div", el("h2", f"Every pair ({len(rows):,}), losses first"), table(headers, pair_rows(rows), id="pairs", sortable=True, numeric=(1, 2, 3)), class_="card"),
        el("p", link(url("api", "compare", a=a, b=b), "this comparison as JSON"), f" (what `trialbook eval compare {a} {b} --json` prints)", class_="small muted"),
        active="runs",
        crumbs=[("Eval runs", "/runs"), (f"Run {a}", url("runs", a)), (f"Run {b}", url("runs", b))],
        **frame,
    )  # fmt: skip


# --------------------------------------------------------------------------- the log


def changed(e: dict[str, Any]) -> tuple[str, str] | None:
    """``(label, href)`` of the page showing what event ``e`` changed, if there is one."""
    stream = e["stream_id"]
    kind, _, key = stream.partition(":")
    if kind == "ab":
        if e["type"] == "TestConcluded":
            return f"decision on {key}", url("tests", key, "decisions", e["position"])
        return f"test {key}", url("tests", key)
    if kind == "eval-run":
        case = e["data"].get("case_id") if isinstance(e["data"], dict) else None
        if isinstance(case, str):
            return f"case {case}", url("runs", key, "cases", case)
        return f"run {key}", url("runs", key)
    if kind == "suite":
        return f"suite {key}", "/runs"
    if kind == "canary":
        return f"canary {key}", url("canaries", key)
    return None


def _brief(data: dict[str, Any], width: int = 90) -> str:
    text = ", ".join(f"{k}={v}" for k, v in data.items() if not isinstance(v, (dict, list)) or v)
    return text if len(text) <= width else text[: width - 1] + "…"


def log_page(data: dict[str, Any], verify: dict[str, Any] | None, **frame: Any) -> str:
    f = data["filters"]
    rows = []
    for e in data["events"]:
        target = changed(e)
        rows.append(
            el(
                "tr",
                fig(link(url("events", e["position"]), f"#{e['position']}"), e["position"]),
                el("td", when(e["recorded_at"]), class_="small"),
                el("td", link(url("log", stream=e["stream_id"]), e["stream_id"])),
                fig(str(e["version"]), e["version"]),
                el("td", link(url("log", type=e["type"]), e["type"])),
                el("td", e["metadata"].get("actor", "-")),
                el("td", link(target[1], target[0], class_="changed") if target else "-"),
                el("td", _brief(e["data"]), class_="small"),
                data_position=e["position"],
            )
        )  # fmt: skip
    head = data["head"]
    if verify is None:
        check = el("p", "Not verified yet.", class_="muted")
    elif verify["ok"]:
        check = el(
            "p", badge("verified", "ok"),
            f" {verify['events']:,} events in {verify['streams']:,} streams: the hash chain, every stream's "
            "versions and the append-only guards are intact (what `trialbook events verify` checks).",
            id="verify", data_ok="true",
        )  # fmt: skip
    else:
        first = verify["problems"][0]
        check = el(
            "p", badge("verification failed", "broken"),
            f" at position {first['position']} ({first['kind']}): {first['message']}",
            id="verify", data_ok="false",
        )  # fmt: skip
    filters = el(
        "form",
        el("label", "stream", el("input", type="search", name="stream", value=f["stream"] or "", placeholder="ab:checkout-flow")),
        el("label", "type", el("select", el("option", "any", value=""),
                                *(el("option", t, value=t, selected=t == f["type"]) for t in data["types"]), name="type")),
        el("label", "actor", el("input", type="search", name="actor", value=f["actor"] or "")),
        el("button", "Filter", type="submit"),
        link("/log", "clear"),
        action="/log", method="get", class_="filters",
    )  # fmt: skip
    older = (
        link(url("log", stream=f["stream"], type=f["type"], actor=f["actor"], before=data["events"][-1]["position"]), "older events →")
        if data["more"] and data["events"] else None
    )  # fmt: skip
    return layout(
        "Log",
        el("h1", "The event log"),
        el("div", el("p", f"Head: position #{head['position']}, hash ", el("code", head["hash"], id="head-hash")), check, class_="card"),
        el("div", filters,
           table(["#", "recorded (UTC)", "stream", "v", "type", "actor", "changed", "data"], rows, id="events",
                 numeric=(0, 3), empty="No events match."),
           el("p", older) if older else None, class_="card"),
        active="log",
        **frame,
    )  # fmt: skip


def event_page(e: dict[str, Any], **frame: Any) -> str:
    target = changed(e)
    return layout(
        f"Event #{e['position']}",
        el("h1", f"Event #{e['position']}: {e['type']}"),
        el("p", f"stream {e['stream_id']} v{e['version']} · recorded {when(e['recorded_at'])} UTC · schema v{e['schema_version']}", class_="sub"),
        el("div", el("p", "Changed: ", link(target[1], target[0], class_="changed")) if target else None,
           el("h2", "Data"), el("pre", pretty(e["data"])), el("h2", "Metadata"), el("pre", pretty(e["metadata"])),
           el("p", "event id ", el("code", e["event_id"]), " · hash ", el("code", e["hash"]), " · previous ",
              el("code", e["prev_hash"]), class_="small muted"),
           class_="card"),
        active="log",
        crumbs=[("Log", "/log")],
        **frame,
    )  # fmt: skip


# --------------------------------------------------------------------------- canaries


CANARY_BADGES = {"running": "running", "completed": "ok", "halted": "fail", "rolled_back": "fail"}


def _canary_badge(status: str) -> Safe:
    return badge(status, CANARY_BADGES.get(status, status))


def _share(p: float | None) -> str:
    return "-" if p is None else f"{p:g}%"


def _canary_amount(g: dict[str, Any], x: float | None) -> str:
    """A guardrail's figure as ``canary status`` prints it (points, percent or units)."""
    from trialbook.domain.metrics import METRICS
    from trialbook.domain.stats.canary import amount

    metric = METRICS.get(g["metric"])
    if metric is None:
        return num(x)
    return amount(metric, g["relative"], x)


def canaries_page(items: list[dict[str, Any]], **frame: Any) -> str:
    rows = [
        el(
            "tr",
            el("td", link(url("canaries", c["name"]), c["name"], class_="canary-link")),
            el("td", f"{c['candidate']} vs {c['control']}"),
            el("td", _canary_badge(c["status"])),
            fig(f"{c['stage']}/{len(c['stages'])} ({_share(c['percent'])})", c["stage"], data_field="stage"),
            fig(_share(c["exposure_percent"]), c["exposure_percent"], data_field="exposure_percent"),
            fig(f"{c['results']:,}", c["results"], data_field="results"),
            el("td", when(c["created_at"]), class_="small"),
            data_canary=c["name"],
        )
        for c in items
    ]  # fmt: skip
    return layout(
        "Canaries",
        el("h1", "Canaries"),
        el("p", f"{len(items)} canar{'ies' if len(items) != 1 else 'y'}, oldest first "
           "(what `trialbook canary list` prints).", class_="sub"),
        el("div", table(
            ["canary", "candidate vs control", "status", "stage", "exposure", "results", "created (UTC)"],
            rows, id="canaries", sortable=True, numeric=(3, 4, 5),
            empty="No canaries yet. Plan one with: trialbook canary create NAME --control A --candidate B",
        ), class_="card"),
        active="canaries",
        **frame,
    )  # fmt: skip


DECIDED = {
    "advanced": "advanced",
    "halted": "halted",
    "rolled_back": "rolled back",
    "completed": "completed",
}


def _stage_plot(info: dict[str, Any], decisions: list[dict[str, Any]], head: int) -> Safe:
    """The candidate's share after each decision, over log positions: a step line with a dot per decision."""
    width, height, left, right, top, bottom = 760, 200, 56, 16, 12, 34
    start, end = info["created_position"], max(head, info["created_position"] + 1)
    steps: list[tuple[int, float, str]] = [(start, info["stages"][0], "created")]
    for d in decisions:
        if d["kind"] == "advanced" and d["to_stage"]:
            share = info["stages"][d["to_stage"] - 1]
        elif d["kind"] == "completed":
            share = 100.0
        else:
            share = 0.0
        steps.append((d["position"], share, d["kind"]))
    px = (width - left - right) / (end - start)
    ph = height - top - bottom

    def x(p: int) -> float:
        return round(left + (p - start) * px, 1)

    def y(v: float) -> float:
        return round(top + ph * (1 - v / 100), 1)

    parts: list[Any] = []
    for tick in (0.0, 50.0, 100.0):
        parts.append(
            el("line", x1=left, x2=width - right, y1=y(tick), y2=y(tick), stroke="#e2e8f0")
        )
        parts.append(
            el("text", f"{tick:g}%", x=left - 6, y=y(tick) + 4, text_anchor="end", class_="tick")
        )
    line = f"M{x(steps[0][0])},{y(steps[0][1])}"
    for p, v, _ in steps[1:]:
        line += f" H{x(p)} V{y(v)}"
    line += f" H{x(end)}"
    parts.append(
        el("path", d=line, stroke="#2563eb", stroke_width="2", fill="none", class_="stage-line")
    )
    for p, v, kind in steps:
        parts.append(el("circle", el("title", f"#{p}: {DECIDED.get(kind, kind)} → {v:g}%"),
                        cx=x(p), cy=y(v), r=4, fill="#0f172a", data_position=p, class_="stage-step"))  # fmt: skip
    parts.append(el("text", f"#{start}", x=left, y=height - 10, class_="tick"))
    parts.append(
        el("text", f"#{end}", x=width - right, y=height - 10, text_anchor="end", class_="tick")
    )
    parts.append(
        el(
            "text",
            "log position",
            x=(left + width) / 2,
            y=height - 10,
            text_anchor="middle",
            class_="tick",
        )
    )
    return el("svg", *parts, viewBox=f"0 0 {width} {height}", width="100%", role="img",
              aria_label="candidate share over log positions", class_="plot")  # fmt: skip


def marker_text(m: dict[str, Any]) -> str:
    """A canary decision on its plot: ``advanced to 50%``, ``halted``, ``rolled back``, ``completed``."""
    if m["kind"] == "advanced":
        return f"advanced to {m['percent']:g}%"
    return str(m["kind"]).replace("_", " ")


def _canary_plot(doc: dict[str, Any], hist: dict[str, Any] | None, u: Units) -> Safe:
    """The primary comparison after every result, with its decisions (the report's ``plots.lift``)."""
    if hist is None or not hist["n"]:
        return el("p", "No results yet: nothing to plot.", class_="muted")
    series = [{"name": name, **s} for name, s in hist["variants"].items()]
    plot = svg.interval_plot(
        hist["n"], series, fmt=u.tick, decisions=hist["decision"],
        markers=[(m["n"], marker_text(m)) for m in hist["markers"]],
        y_label=f"{doc['metric']['metric']} lift vs {doc['control']}",
    )  # fmt: skip
    legend = el(
        "div",
        *(el("span", el("span", class_=f"swatch sw-{d}"), CANARY_STRIP.get(d, d))
          for d in dict.fromkeys(hist["decision"])),
        class_="legend-row",
    )  # fmt: skip
    shown, total = len(hist["n"]), hist["n"][-1]
    note = (
        f"After each of {total:,} results"
        + (" (every look drawn)" if shown == total else f" ({shown} evenly spaced looks drawn)")
        + f": {doc['candidate']} minus {doc['control']}, stratified by stage, and its always-valid "
        f"{(1 - hist['level']) * 100:.4g}% interval, as `canary status` would have shown it then; "
        "under the plot the stage rule's word at each look, and a line at each decision recorded."
    )
    return join(plot, legend, el("p", note, class_="small muted"))


def canary_page(data: dict[str, Any], **frame: Any) -> str:
    info, doc, decisions = data["info"], data["status"], data["decisions"]
    name = info["name"]
    stages = info["stages"]
    res = doc["results"]
    m = doc["metric"]
    nxt = doc["next"]
    # when each stage began and ended: the creation, then each decision
    entered = [
        {
            "stage": 1,
            "position": info["created_position"],
            "at": info["created_at"],
            "how": "created",
        }
    ]
    for d in decisions:
        entered.append(
            {
                "stage": d["to_stage"],
                "position": d["position"],
                "at": d["recorded_at"],
                "how": d["kind"],
            }
        )
    by_stage = {s["stage"]: s for s in res["by_stage"]}
    stage_rows = []
    for i, e in enumerate(entered):
        s = by_stage.get(e["stage"]) if e["stage"] else None
        after = entered[i + 1] if i + 1 < len(entered) else None
        share = (
            _share(stages[e["stage"] - 1])
            if e["stage"]
            else ("100%" if e["how"] == "completed" else "0%")
        )
        stage_rows.append(el(
            "tr",
            el("td", DECIDED.get(e["how"], e["how"])),
            el("td", f"stage {e['stage']} ({share})" if e["stage"] else share + " (" + ("candidate" if e["how"] == "completed" else "control") + " for every unit)"),
            el("td", link(url("events", e["position"]), f"#{e['position']}"), class_="num", data_value=e["position"], data_field="position"),
            el("td", when(e["at"]), class_="small"),
            el("td", link(url("events", after["position"]), f"#{after['position']}") if after else "now", class_="num"),
            fig(f"{s['control']:,}" if s else "-", s["control"] if s else None, data_field="control"),
            fig(f"{s['candidate']:,}" if s else "-", s["candidate"] if s else None, data_field="candidate"),
            data_step=e["position"],
        ))  # fmt: skip
    arm_rows = [
        el(
            "tr",
            el("td", f"stage {s['stage']} ({_share(s['percent'])})"),
            fig(f"{s['control']:,}", s["control"], data_field="control"),
            fig(f"{s['candidate']:,}", s["candidate"], data_field="candidate"),
            fig(pct(s["candidate_share"]), s["candidate_share"], data_field="candidate_share"),
            fig(p_text(s["srm_p"]), s["srm_p"], data_field="srm_p"),
            data_stage=s["stage"],
        )
        for s in res["by_stage"]
    ]
    rails = []
    for g in doc["guardrails"]:
        ci = (
            "not yet defined"
            if g["ci"] is None
            else f"{_canary_amount(g, g['ci'][0])} to {_canary_amount(g, g['ci'][1])}"
        )
        rails.append(el(
            "tr",
            el("td", g["text"]),
            el("td", badge(g["status"])),
            fig(_canary_amount(g, g["worsening"]), g["worsening"], data_field="worsening"),
            fig(ci, g["ci"], data_field="ci"),
            fig(f"{g['level']:g}", g["level"], data_field="level"),
            fig(f"{g['n_control']:,}", g["n_control"], data_field="n_control"),
            fig(f"{g['n_candidate']:,}", g["n_candidate"], data_field="n_candidate"),
            el("td", g["summary"], class_="small"),
            data_guardrail=g["text"],
        ))  # fmt: skip
    decided = [
        el(
            "tr",
            el("td", link(url("events", d["position"]), f"#{d['position']}", class_="event-link")),
            el("td", DECIDED.get(d["kind"], d["kind"]), " ", badge("forced", "differs") if d["forced"] else None,
               " ", badge("automatic", "unclear") if d["automatic"] else None),
            el("td", f"{d['stage']} → {d['to_stage']}" if d["to_stage"] else str(d["stage"])),
            el("td", ", ".join(d["breached"]) or "-"),
            el("td", d["overrode"] or "-", class_="small"),
            el("td", d["note"] or "-", class_="note"),
            el("td", d["actor"] or "-"),
            el("td", when(d["recorded_at"]), class_="small"),
            fig(f"#{d['analysis_position']}", d["analysis_position"], data_field="analysis_position"),
            data_decision=d["position"],
        )
        for d in decisions
    ]  # fmt: skip
    u = Units(m["kind"])
    alerts = (
        el("ul", *(el("li", badge("blocking", "blocked") if a.get("blocking") else badge("warning", "unclear"), " ",
                      a.get("message", ""), data_alert=a.get("kind")) for a in doc["alerts"]))
        if doc["alerts"] else el("p", "None.", class_="muted")
    )  # fmt: skip
    return layout(
        name,
        el("h1", name, " ", _canary_badge(doc["status"])),
        el("p", info["description"], class_="sub") if info["description"] else None,
        el("p", f"{doc['candidate']} against {doc['control']} · per {doc['unit']} · stages "
           f"{' → '.join(_share(p) for p in stages)} · {info['min_results']:,} candidate results per stage · "
           f"alpha {info['alpha']:g} · status at log position {doc['position']} · method version {doc['method_version']}",
           class_="sub"),
        el("div", el("div", "Next: ", nxt["action"], class_="title", data_action=nxt["action"]),
           el("div", nxt["reason"], class_="reason"), class_="card reco", id="next"),
        el("div", el("h2", "Stages over time"), _stage_plot(info, decisions, doc["position"]),
           table(["what", "candidate share", "at event", "when (UTC)", "until", "control results", "candidate results"],
                 stage_rows, id="stages", numeric=(2, 4, 5, 6)), class_="card", id="timeline"),
        el("div",
           el("h2", f"Current stage: {doc['stage']} of {len(stages)}"),
           el("div", stat("exposure", _share(doc["exposure_percent"]), doc["exposure_percent"], "exposure_percent"),
              stat("control results (this stage)", f"{res['this_stage']['control']:,}", res["this_stage"]["control"], "this_stage.control"),
              stat("candidate results (this stage)", f"{res['this_stage']['candidate']:,}", res["this_stage"]["candidate"], "this_stage.candidate"),
              stat("results (all stages)", f"{res['total']:,}", res["total"], "total"), class_="grid"),
           table(["stage", "control", "candidate", "candidate share", "sample-ratio p"], arm_rows, id="arms", numeric=(1, 2, 3, 4)),
           class_="card", id="exposure"),
        el("div", el("h2", f"Primary metric: {m['metric']}"),
           el("div", stat(doc["control"], u.value(m["control"]), m["control"], "metric.control"),
              stat(doc["candidate"], u.value(m["candidate"]), m["candidate"], "metric.candidate"),
              stat("difference", u.diff(m["difference"]), m["difference"], "metric.difference"),
              stat("always-valid interval", u.interval(m["ci"]), m["ci"], "metric.ci"),
              stat("status", m["status"].replace("_", " ")), class_="grid"),
           _canary_plot(doc, data.get("history"), u), class_="card", id="metric"),
        el("div",
           el("div", el("h2", "Guardrails"), table(
               ["guardrail", "status", "worsening", "always-valid interval", "level", "control n", "candidate n", "summary"],
               rails, id="guardrails", numeric=(2, 3, 4, 5, 6), empty="No guardrails on this canary."), class_="card"),
           el("div", el("h2", "Alerts"), alerts, class_="card", id="alerts"),
           class_="two"),
        el("div", el("h2", "Decisions"), table(
            ["event", "decision", "stage", "breached", "overrode", "note", "by", "recorded (UTC)", "analysis at"],
            decided, id="decisions", numeric=(8,), empty="No decision recorded yet: `trialbook canary advance` records one."),
           class_="card"),
        el("p", link(url("api", "canaries", name), "this status as JSON"), " (what `trialbook canary status ",
           name, " --json` prints) · method: ", doc["settings"]["method"], class_="small muted"),
        active="canaries",
        crumbs=[("Canaries", "/canaries")],
        **frame,
    )  # fmt: skip
