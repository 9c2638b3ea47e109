"""The report as Markdown: scope, readiness matrix, recommendation, figures (each with its citation).

Numbers are written by :func:`trialbook.reports.common.fmt_value` and citations
by :func:`~trialbook.reports.common.cite_text` (``#2-301, #305``), so a reader or a
test can parse a figure row back: ``| key | label | value | cites | basis |``.
Table cells escape ``|`` and newlines, so a name cannot break the table.
"""

from __future__ import annotations

import json
from typing import Any

from trialbook.reports.common import cite_text, fmt_value

TITLES = {"ab": "A/B test", "eval": "Eval run", "canary": "Canary"}
MARKS = {"ready": "ready", "partial": "partial", "gap": "**gap**"}


def cell(value: Any) -> str:
    """Text safe inside a Markdown table cell (pipes escaped, newlines as spaces, no raw HTML)."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.split())


def decision_text(rec: dict[str, Any]) -> str:
    word = rec["decision"].replace("_", " ")
    return f"{word} {rec['variant']}" if rec["decision"] == "ship" and rec.get("variant") else word


def render(doc: dict[str, Any]) -> str:
    scope = doc["scope"]
    rec = doc["recommendation"]
    out = [f"# Decision report: {TITLES[doc['kind']]} {cell(doc['subject'])}", ""]
    seen = f"log position #{doc['position']}"
    if doc.get("as_of"):
        seen += f" (as of {doc['as_of']})"
    out += [
        f"Report schema {doc['schema_version']}, read at {seen}, recorded {doc['recorded_at'] or '-'}.",
        "",
        f"**Recommendation: {cell(decision_text(rec))}.** {cell(rec['reason'][:1].upper() + rec['reason'][1:])}"
        + (f" [{cite_text(rec['cites'])}]" if rec["cites"] else ""),
        "",
        f"**Check:** {'passes' if doc['check']['passed'] else 'fails'}: {cell(doc['check']['reason'])}",
        "",
        "## Scope",
        "",
    ]
    for key in ("compared", "control", "baseline", "on", "metric", "suite", "target"):
        if scope.get(key) is not None:
            value = scope[key]
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            out.append(
                f"- {key}: {cell(shown if not isinstance(shown, dict) else json.dumps(shown, sort_keys=True))}"
            )
    out.append(
        f"- from {scope.get('from') or '-'} to {scope.get('to') or '-'} [{cite_text(scope.get('cites', []))}]"
    )
    for who in scope.get("by", []):
        out.append(f"- by {cell(who['actor'])}: {who['events']} events [{cite_text(who['cites'])}]")
    for d in scope.get("decisions", []):
        out.append(
            f"- decision at #{d['position']}: {cell(d['choice'])}"
            + (f" {cell(d['variant'])}" if d.get("variant") else "")
            + (f" by {cell(d['actor'])}" if d.get("actor") else "")
        )
    if scope.get("archived"):
        a = scope["archived"]
        out.append(
            f"- archived at #{a['position']}"
            + (f" by {cell(a['actor'])}" if a.get("actor") else "")
            + f" (read-only; `trialbook ab restore {cell(doc['subject'])}` brings it back)"
        )
    out += ["", "## Readiness", "", "| criterion | status | summary | cites |", "|---|---|---|---|"]
    for r in doc["matrix"]:
        out.append(
            f"| {cell(r['criterion'])} | {MARKS[r['status']]} | {cell(r['summary'])} | {cite_text(r['cites'])} |"
        )
    out += ["", "## What would change it", ""]
    out += [f"- {cell(c)}" for c in rec["would_change"]] or ["- nothing recorded"]
    out += [
        "",
        "## Figures",
        "",
        "Each figure follows from the events it cites (see docs/reports.md, *basis*).",
        "",
        "| key | label | value | cites | select | basis |",
        "|---|---|---|---|---|---|",
    ]
    for f in doc["figures"]:
        basis = json.dumps(f["basis"], sort_keys=True, ensure_ascii=False)
        select = (
            "-"
            if f["select"] is None
            else f"`{cell(json.dumps(f['select'], sort_keys=True, ensure_ascii=False))}`"
        )
        out.append(
            f"| {cell(f['key'])} | {cell(f['label'])} | {fmt_value(f['value'], f['unit'])} | "
            f"{cite_text(f['cites'])} | {select} | `{cell(basis)}` |"
        )
    out += ["", "Plots: render this report with `--format html`.", ""]
    return "\n".join(out)
