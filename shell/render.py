"""Rendering of read results for the terminal: aligned tables, numbers and JSON."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from typing import Any

import click

from trialbook.domain.units import pct as pct  # the one percentage format, re-exported


def color() -> bool | None:
    """click's ``color=`` for this process: False when ``NO_COLOR`` is set (https://no-color.org).

    None leaves click's own rule (colour on a terminal, none when piped).
    """
    return False if os.environ.get("NO_COLOR") else None


def fmt(value: Any, digits: int = 3) -> str:
    """A cell: '-' for missing, compact floats, yes/no for booleans."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return (
            f"{value:.{digits}g}"
            if abs(value) < 1e-3 or abs(value) >= 1e6
            else f"{value:.{digits}f}".rstrip("0").rstrip(".")
        )
    if isinstance(value, (list, tuple)):
        return ",".join(fmt(v) for v in value)
    return str(value)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], align: str | None = None) -> str:
    """A plain aligned table; ``align`` is a string of 'l'/'r' per column (numbers right by default)."""
    cells = [[fmt(c) if not isinstance(c, str) else c for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    if align is None:
        align = "".join(
            "r"
            if rows and all(isinstance(r[i], (int, float)) or r[i] is None for r in rows)
            else "l"
            for i in range(len(headers))
        )

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if a == "r" else v.ljust(w)
            for v, w, a in zip(values, widths, align, strict=False)
        ]
        return "  ".join(parts).rstrip()

    out = [click.style(line(list(headers)), bold=True), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def to_json(value: Any) -> str:
    """Pretty JSON for ``--json`` output (stable key order as built)."""
    return json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)


def echo_json(value: Any) -> None:
    click.echo(to_json(value))


def audit_head(subject: str, doc: dict[str, Any]) -> list[str]:
    """The first lines of an audit's terminal summary (a test's or a canary's): what was
    audited, at which position and method, and the hash chain's verdict when it was checked."""
    n = len(doc["decisions"])
    lines = [
        f"Audit of {subject}: {n} decision{'s' if n != 1 else ''}, log at position "
        f"{doc['audited_at_position']}, method version {doc['method_version_now']}."
    ]
    chain = doc["chain"]
    if chain.get("verified"):
        if chain["ok"]:
            lines.append(
                f"Hash chain verified up to position {chain['head_position']} "
                f"(head hash {chain['head_hash']})."
            )
        else:
            p = chain["first_problem"]
            lines.append(f"HASH CHAIN FAILS at position {p['position']}: {p['message']}")
    return lines


def emit(text: str, output: str | None, what: str) -> None:
    """Print a document, or write it to ``output`` (``--output/-o``) and say so on stderr:
    ``Wrote WHAT to FILE.``"""
    if output is None:
        click.echo(text, nl=False)
    else:
        from pathlib import Path

        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"Wrote {what} to {output}.", err=True)


def emit_audit(text: str, output: str | None, subject: str, problems: Sequence[str]) -> None:
    """Print an audit (or write it to ``output``, saying so on stderr), then fail with the
    problems it found, if any: exit 1 after the audit is out (``audit report``, ``canary audit``)."""
    emit(text, output, f"the audit of {subject}")
    if problems:
        raise click.ClickException("; ".join(problems))
