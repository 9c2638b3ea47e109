"""``eval show RUN --columns synth``: the seed tool's results table, rendered.

Pure: the dict :func:`trialbook.ledger.evals.seed_report` returns in, lines of text out.
"""

from __future__ import annotations

from typing import Any

from trialbook.domain.units import format_cost
from trialbook.shell.render import fmt, table

#: ``--columns`` values
COLUMN_SETS = ("default", "synth")


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name == "latency_ms":
        return f"{value:.0f}"
    if name == "cost_usd":
        return format_cost(value)
    if name == "tokens":
        return f"{value:.0f}" if isinstance(value, float) else str(value)
    if name == "error":
        text = " ".join(str(value).split())
        return text if len(text) <= 60 else text[:59] + "…"
    return str(fmt(value)) if isinstance(value, float) else str(value)


def synth_table_lines(report: dict[str, Any]) -> list[str]:
    """The table (one row per rollout, then ``average``) and a line on cached rollouts."""
    columns: list[str] = list(report["columns"])
    epochs = {r["epoch"] for r in report["rows"]}
    headers = (["epoch"] if len(epochs) > 1 else []) + columns
    rows: list[list[Any]] = []
    for r in report["rows"]:
        cells = [_cell(c, r[c]) for c in columns]
        if r["cached"]:
            cells[0] = f"{cells[0]}*"
        rows.append(([str(r["epoch"])] if len(epochs) > 1 else []) + cells)
    average = report["average"]
    rows.append(
        ([""] if len(epochs) > 1 else [])
        + ["average"]
        + [_cell(c, average.get(c)) for c in columns[1:-1]]
        + [""]
    )
    align = "r" * (len(headers) - 1) + "l"
    lines = [table(rows, headers, align=align)]
    cached = report["cached"]
    if cached:
        lines.append(
            f"* {cached} of {len(report['rows'])} rollouts read from the response cache "
            "(not called now; their latency was not measured)"
        )
    return lines
