"""``trialbook audit``: does every recorded decision on a test still reproduce from the log?

For each ``TestConcluded`` event of a test, :func:`audit_test` replays the log
up to the position the decision's analysis saw (into a private database, see
``projections.replay``), recomputes the analysis with the options recorded in
it, and compares the two documents number by number. It also gathers the
evidence (the result events the analysis counted: who recorded them, when and
with which typed command), what the current data says, and whether the hash
chain of the whole file verifies. :func:`render_text` and
:func:`render_markdown` turn that document into a terminal summary and a
report that cites an event position for every number.

:func:`render_changes` serves ``ab analyze --diff-now``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from trialbook.shell.app import App
from trialbook.shell.commands.common import json_option, pass_app
from trialbook.shell.render import echo_json

if TYPE_CHECKING:
    from trialbook.ledger import Ledger

#: the per-variant figures shown side by side (recorded, recomputed, now)
FIGURES = ("n", "estimate", "lift", "ci", "p_value", "status")
MAX_SHOWN_DIFFERENCES = 6


# --------------------------------------------------------------------------- point in time


# --------------------------------------------------------------------------- comparing documents


def _label(item: Any, index: int) -> str:
    return str(item["name"]) if isinstance(item, dict) and "name" in item else str(index)


def compare(recorded: Any, recomputed: Any, path: str = "") -> list[dict[str, Any]]:
    """Every leaf where two analysis documents differ: ``{"path", "recorded", "recomputed"}``.

    List items are matched by their ``name`` when they have one (variants,
    metrics), else by index, so a path reads ``variants[warm].p_value``.
    Numbers must be equal exactly: the same method on the same events gives the
    same floating-point results.
    """
    if isinstance(recorded, dict) and isinstance(recomputed, dict):
        a, b = recorded, recomputed
        paths = {k: f"{path}.{k}" if path else str(k) for k in [*a, *b]}
    elif isinstance(recorded, list) and isinstance(recomputed, list):
        a = {_label(x, i): x for i, x in enumerate(recorded)}
        b = {_label(x, i): x for i, x in enumerate(recomputed)}
        if len(a) != len(recorded) or len(b) != len(recomputed):  # labels repeat: compare whole
            return (
                []
                if recorded == recomputed
                else [{"path": path, "recorded": recorded, "recomputed": recomputed}]
            )
        paths = {k: f"{path}[{k}]" for k in [*a, *b]}
    elif recorded == recomputed and type(recorded) is type(recomputed):
        return []
    else:
        return [{"path": path, "recorded": recorded, "recomputed": recomputed}]
    out = []
    for key, sub in paths.items():
        if key not in a or key not in b:
            out.append({"path": sub, "recorded": a.get(key), "recomputed": b.get(key)})
        else:
            out.extend(compare(a[key], b[key], sub))
    return out


def _plain(doc: dict[str, Any]) -> Any:
    """A document as it reads back from the log (through canonical JSON: tuples become lists)."""
    from trialbook.domain.canonical import canonical_json

    return json.loads(canonical_json(doc))


# --------------------------------------------------------------------------- evidence


def spans(positions: Iterable[int]) -> str:
    """Positions as ranges: ``[2, 3, 4, 7, 9, 10]`` -> ``"2-4, 7, 9-10"``."""
    out: list[str] = []
    start = prev = None
    for p in positions:
        if start is None:
            start = prev = p
        elif p == prev + 1:  # type: ignore[operator]
            prev = p
        else:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = p
    if start is not None:
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(out) if out else "none"


def evidence(ledger: Ledger, name: str, until: int) -> dict[str, Any]:
    """The result events of test ``name`` up to ``until``: per variant and per recorder, with positions."""
    from trialbook.domain.ab import stream_for
    from trialbook.shell.commands.events import read_as

    by_variant: dict[str, list[int]] = {}
    recorders: dict[tuple[str, str, str], dict[str, Any]] = {}
    count = 0
    for e in ledger.store.read_all(
        until_position=until, stream_id=stream_for(name), types=["ResultAdded"]
    ):
        count += 1
        variant = read_as(e.type, e.schema_version, e.data)[1].get("variant", "?")
        by_variant.setdefault(variant, []).append(e.position)
        meta = e.metadata
        key = (
            str(meta.get("actor", "unknown")),
            str(meta.get("tier", "-")),
            str(meta.get("command", "-")),
        )
        r = recorders.get(key)
        if r is None:
            r = recorders[key] = {
                "actor": key[0],
                "tier": key[1],
                "command": key[2],
                "results": 0,
                "positions": [],
                "first_recorded_at": e.recorded_at,
                "last_recorded_at": e.recorded_at,
            }
        r["results"] += 1
        r["positions"].append(e.position)
        r["last_recorded_at"] = e.recorded_at
    for r in recorders.values():
        r["positions"] = spans(r["positions"])
    return {
        "results": count,
        "up_to_position": until,
        "by_variant": {
            v: {"results": len(ps), "positions": spans(ps)} for v, ps in by_variant.items()
        },
        "recorders": list(recorders.values()),
    }


def _figures(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"variant": v["name"], **{k: v.get(k) for k in FIGURES}} for v in doc.get("variants", [])
    ]


# --------------------------------------------------------------------------- the audit


def _options(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``analysis_input`` options an analysis document was computed with."""
    settings = doc.get("settings") or {}
    return {
        "metric": doc.get("metric"),
        "alpha": doc.get("alpha", 0.05),
        "mde": settings.get("mde"),
        "margin": settings.get("equivalence_margin"),
    }


def _recommendation(doc: dict[str, Any] | None) -> dict[str, Any]:
    rec = (doc or {}).get("recommendation") or {}
    return {"decision": rec.get("decision"), "variant": rec.get("variant")}


def _said(rec: dict[str, Any]) -> str:
    if rec.get("decision") is None:
        return "nothing"
    return str(rec["decision"]) + (
        f" {rec['variant']}" if rec["decision"] == "ship" and rec.get("variant") else ""
    )


def _audit_decision(
    ledger: Ledger, name: str, event: Any, now: dict[str, Any] | None, now_error: str | None
) -> dict[str, Any]:
    from trialbook.domain.ab import against_recommendation
    from trialbook.domain.errors import DomainError
    from trialbook.domain.stats import METHOD_VERSION, analyze
    from trialbook.ledger.analysis import (
        analysis_document,
        analysis_input,
        open_as_of,
        read_snapshot,
    )

    data = event.data
    meta = event.metadata
    recorded = data["analysis"]
    seen = int(data["position"])
    recomputed: dict[str, Any] | None = None
    error = None
    try:
        with open_as_of(ledger, name, at=seen) as view:
            snap = read_snapshot(view, name)  # type: ignore[arg-type]
            # with the method the decision was recorded with (older ones stay selectable)
            inp = analysis_input(snap, **_options(recorded), method_version=data["method_version"])
            recomputed = _plain(analysis_document(analyze(inp), seen))
    except DomainError as e:
        error = str(e)
    differences = compare(recorded, recomputed) if recomputed is not None else []
    same_method = data["method_version"] == METHOD_VERSION
    out = {
        "position": event.position,
        "recorded_at": event.recorded_at,
        "actor": meta.get("actor"),
        "command": meta.get("command"),
        "tier": meta.get("tier"),
        "choice": data["choice"],
        "variant": data.get("variant"),
        "note": data.get("note"),
        "against_recommendation": bool(data.get("against_recommendation")),
        "analysis_position": seen,
        "method_version": data["method_version"],
        "method_version_now": METHOD_VERSION,
        "same_method": same_method,
        "reproduces": recomputed is not None and not differences,
        "error": error,
        "differences": differences,
        "recorded": {"recommendation": _recommendation(recorded), "figures": _figures(recorded)},
        "recomputed": None
        if recomputed is None
        else {"recommendation": _recommendation(recomputed), "figures": _figures(recomputed)},
        "evidence": evidence(ledger, name, seen),
        "now": None,
    }
    if now is not None:
        rec = _recommendation(now)
        out["now"] = {
            "position": now["position"],
            "results": sum(int(v.get("results", 0)) for v in now.get("variants", [])),
            "recommendation": rec,
            "agrees_with_decision": not against_recommendation(
                data["choice"], data.get("variant"), rec
            ),
            "figures": _figures(now),
        }
    elif now_error is not None:
        out["now"] = {"error": now_error}
    return out


def audit_test(ledger: Ledger, name: str, *, verify: bool = True) -> dict[str, Any]:
    """The audit document of test ``name``: every decision replayed, recomputed and compared."""
    from trialbook.domain.ab import stream_for
    from trialbook.domain.errors import DomainError, NotFound
    from trialbook.domain.stats import METHOD_VERSION
    from trialbook.ledger.analysis import analyze_test
    from trialbook.projections import ab_queries

    test = ab_queries.get_test(ledger.conn, name)
    if test is None:
        raise NotFound(f"no A/B test named {name!r}; see `trialbook ab list`")
    head, head_hash = ledger.store.head()
    chain: dict[str, Any] = {"verified": False}
    if verify:
        report = ledger.verify()
        first = report.first
        chain = {
            "verified": True,
            "ok": report.ok,
            "head_position": report.head_position,
            "head_hash": report.head_hash,
            "first_problem": None if first is None else first.to_dict(),
        }
    concluded = list(ledger.store.read_all(stream_id=stream_for(name), types=["TestConcluded"]))
    nows: dict[str, tuple[dict[str, Any] | None, str | None]] = {}
    decisions = []
    for event in concluded:
        options = _options(event.data["analysis"])
        key = json.dumps(options, sort_keys=True)
        if key not in nows:
            try:
                nows[key] = (_plain(analyze_test(ledger, name, **options)), None)
            except DomainError as e:
                nows[key] = (None, str(e))
        decisions.append(_audit_decision(ledger, name, event, *nows[key]))
    return {
        "test": name,
        "database": ledger.name,
        "audited_at_position": head,
        "head_hash": head_hash,
        "created_position": test["created_position"],
        "method_version_now": METHOD_VERSION,
        "chain": chain,
        "decisions": decisions,
        "now_evidence": evidence(ledger, name, head) if decisions else None,
        "reproduced": sum(d["reproduces"] for d in decisions),
        "not_reproduced": sum(not d["reproduces"] for d in decisions),
    }


def failures(doc: dict[str, Any]) -> list[str]:
    """Why the audit fails (empty when every decision reproduces and the chain verifies)."""
    out = []
    chain = doc["chain"]
    if chain.get("verified") and not chain["ok"]:
        p = chain["first_problem"]
        out.append(f"the log fails verification at position {p['position']} ({p['kind']})")
    bad = [d for d in doc["decisions"] if not d["reproduces"]]
    if bad:
        which = ", ".join(f"#{d['position']}" for d in bad)
        out.append(
            f"{len(bad)} of {len(doc['decisions'])} decision{'s' if len(doc['decisions']) != 1 else ''} "
            f"of {doc['test']} do{'es' if len(bad) == 1 else ''} not reproduce ({which})"
        )
    return out


# --------------------------------------------------------------------------- rendering


def _num(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.4g}"
    if isinstance(x, list):
        return "[" + ", ".join(_num(v) for v in x) + "]"
    return str(x)


def _who(d: dict[str, Any]) -> str:
    return f"{d['actor'] or 'unknown'} at {d['recorded_at'][:16].replace('T', ' ')} UTC"


def _what(d: dict[str, Any]) -> str:
    return {
        "ship": f"ship {d['variant']}",
        "keep_control": f"keep control ({d['variant']})",
        "stop": "stop without a choice",
    }[d["choice"]]


def _recorders(ev: dict[str, Any]) -> str:
    """Who recorded the evidence, one entry per actor and tier (the full list is in `audit report`)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in ev["recorders"]:
        groups.setdefault((r["actor"], r["tier"]), []).append(r)
    parts = []
    for (actor, tier), rs in groups.items():
        results = sum(r["results"] for r in rs)
        how = rs[0]["command"] if len(rs) == 1 else f"{len(rs)} different commands"
        parts.append(f"{actor} ({results}, {tier}: {how})")
    return "; ".join(parts) or "nobody"


def render_text(doc: dict[str, Any]) -> str:
    """The terminal summary of an audit document."""
    n = len(doc["decisions"])
    lines = [
        f"Audit of {doc['test']}: {n} decision{'s' if n != 1 else ''}, log at position "
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
    if not n:
        lines.append(
            f"No decision recorded yet; record one with `trialbook ab conclude {doc['test']}`."
        )
    for d in doc["decisions"]:
        ev = d["evidence"]
        per = ", ".join(f"{v} {x['results']}" for v, x in ev["by_variant"].items()) or "none"
        lines += [
            "",
            f"Decision #{d['position']}: {_what(d)}, by {_who(d)} "
            f"({d['tier'] or '-'}: {d['command'] or '-'})"
            + (f": {d['note']}" if d["note"] else ""),
            f"  Saw the log up to position {d['analysis_position']}: {ev['results']} results ({per}); "
            f"recommendation then: {_said(d['recorded']['recommendation'])}"
            + (" (decided against it)" if d["against_recommendation"] else "")
            + ".",
        ]
        method = (
            f"method {d['method_version_now']}"
            if d["same_method"]
            else f"method {d['method_version_now']} (recorded with {d['method_version']}: "
            "differences may come from the method change)"
        )
        if d["reproduces"]:
            lines.append(
                f"  Reproduces: replayed to position {d['analysis_position']} and recomputed "
                f"with {method}: same numbers, same recommendation."
            )
        elif d["error"]:
            lines.append(f"  DOES NOT REPRODUCE: recomputing with {method} fails: {d['error']}")
        else:
            diffs = d["differences"]
            shown = "; ".join(
                f"{x['path']} {_num(x['recorded'])} -> {_num(x['recomputed'])}"
                for x in diffs[:MAX_SHOWN_DIFFERENCES]
            )
            more = (
                f"; {len(diffs) - MAX_SHOWN_DIFFERENCES} more"
                if len(diffs) > MAX_SHOWN_DIFFERENCES
                else ""
            )
            lines.append(
                f"  DOES NOT REPRODUCE with {method}: {len(diffs)} figure"
                f"{'s' if len(diffs) != 1 else ''} differ (recorded -> recomputed): {shown}{more}"
            )
        lines.append(
            f"  Evidence: {ev['results']} ResultAdded events at positions "
            f"{spans_of(ev)}; recorded by {_recorders(ev)}."
        )
        now = d["now"]
        if now and "error" not in now:
            agrees = (
                "agrees with the decision"
                if now["agrees_with_decision"]
                else "DISAGREES with the decision"
            )
            lines.append(
                f"  Now (position {now['position']}, {now['results']} results): "
                f"{_said(now['recommendation'])}; {agrees}."
            )
        elif now:
            lines.append(f"  Now: cannot analyze: {now['error']}")
    return "\n".join(lines)


def spans_of(ev: dict[str, Any]) -> str:
    """All result positions of an evidence block, merged."""
    positions: list[int] = []
    for x in ev["by_variant"].values():
        for part in x["positions"].split(", "):
            if part == "none":
                continue
            a, _, b = part.partition("-")
            positions.extend(range(int(a), int(b or a) + 1))
    return spans(sorted(positions))


def _cite(positions: str, limit: int = 10) -> str:
    """A citation cell: at most ``limit`` ranges (the JSON report has them all)."""
    parts = positions.split(", ")
    if len(parts) <= limit:
        return positions
    return (
        ", ".join(parts[:limit])
        + f", ... and {len(parts) - limit} more ranges (see the JSON report)"
    )


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return out


def render_markdown(doc: dict[str, Any]) -> str:
    """A report a reviewer can read: every number cites the event positions it comes from."""
    test = doc["test"]
    lines = [f"# Audit of A/B test `{test}`", ""]
    status = failures(doc)
    lines += [
        f"- Database: `{doc['database']}`, audited at log position {doc['audited_at_position']} "
        f"(head hash `{doc['head_hash']}`).",
        f"- Test created at position {doc['created_position']} (TestCreated).",
        f"- Statistics method version now: {doc['method_version_now']}.",
    ]
    chain = doc["chain"]
    if chain.get("verified"):
        if chain["ok"]:
            lines.append(f"- Hash chain: verified, positions 1-{chain['head_position']}.")
        else:
            p = chain["first_problem"]
            lines.append(
                f"- Hash chain: **fails** at position {p['position']} ({p['kind']}): {p['message']}"
            )
    lines.append(
        "- Verdict: "
        + ("**every decision reproduces**." if not status else "**" + "; ".join(status) + "**.")
    )
    if not doc["decisions"]:
        lines += ["", "No decision has been recorded for this test."]
    for d in doc["decisions"]:
        ev = d["evidence"]
        lines += [
            "",
            f"## Decision at position {d['position']}: {_what(d)}",
            "",
            f"- Recorded by {_who(d)} with `{d['command'] or '-'}` ({d['tier'] or '-'}), "
            f"TestConcluded at position {d['position']}."
            + (f" Note: {d['note']}" if d["note"] else ""),
            f"- The analysis it was based on saw the log up to position {d['analysis_position']} and was "
            f"computed with method version {d['method_version']}.",
            f"- Recommendation then: {_said(d['recorded']['recommendation'])}"
            + (" (the decision went against it)." if d["against_recommendation"] else "."),
        ]
        if d["reproduces"]:
            lines.append(
                f"- **Reproduces**: replaying positions 1-{d['analysis_position']} and recomputing "
                f"with method {d['method_version_now']} gives identical numbers and recommendation."
            )
        elif d["error"]:
            lines.append(f"- **Does not reproduce**: {d['error']}")
        else:
            lines.append(
                f"- **Does not reproduce** with method {d['method_version_now']}"
                + ("" if d["same_method"] else f" (recorded with {d['method_version']})")
                + ":"
            )
            lines += [""] + _md_table(
                ["figure", "recorded", "recomputed"],
                [
                    [f"`{x['path']}`", _num(x["recorded"]), _num(x["recomputed"])]
                    for x in d["differences"]
                ],
            )
        lines += [
            "",
            f"Figures at position {d['analysis_position']} (recorded; each from the results "
            "at the positions cited):",
            "",
        ]
        rows = []
        for f in d["recorded"]["figures"]:
            cited = ev["by_variant"].get(f["variant"], {"positions": "none"})["positions"]
            rows.append([f["variant"], *(_num(f[k]) for k in FIGURES), _cite(cited)])
        lines += _md_table(["variant", *FIGURES, "ResultAdded positions"], rows)
        lines += [
            "",
            f"Evidence: {ev['results']} results up to position {d['analysis_position']}:",
            "",
        ]
        lines += _md_table(
            ["recorded by", "tier", "command", "results", "positions", "first", "last"],
            [
                [
                    r["actor"],
                    r["tier"],
                    f"`{r['command']}`",
                    r["results"],
                    _cite(r["positions"]),
                    r["first_recorded_at"],
                    r["last_recorded_at"],
                ]
                for r in ev["recorders"]
            ],
        )
        now = d["now"]
        if now and "error" not in now:
            lines += [
                "",
                f"What the data says now (positions 1-{now['position']}, {now['results']} results): "
                f"{_said(now['recommendation'])}; it "
                + ("agrees with" if now["agrees_with_decision"] else "**disagrees with**")
                + " the decision.",
                "",
            ]
            cited = doc["now_evidence"]["by_variant"]
            rows = [
                [
                    f["variant"],
                    *(_num(f[k]) for k in FIGURES),
                    _cite(cited.get(f["variant"], {"positions": "none"})["positions"]),
                ]
                for f in now["figures"]
            ]
            lines += _md_table(["variant", *FIGURES, "ResultAdded positions"], rows)
        elif now:
            lines += ["", f"What the data says now: cannot analyze ({now['error']})."]
    return "\n".join(lines) + "\n"


def render_changes(then: dict[str, Any], now: dict[str, Any]) -> str:
    """What changed between an as-of analysis and the current one (``ab analyze --diff-now``)."""
    lines = [f"Since position {then['position']} (now {now['position']}):"]
    a = {v["name"]: v for v in then.get("variants", [])}
    rows = []
    for v in now.get("variants", []):
        old = a.get(v["name"], {})
        for k in FIGURES:
            if old.get(k) != v.get(k):
                rows.append(f"  {v['name']} {k}: {_num(old.get(k))} -> {_num(v.get(k))}")
    lines += rows or ["  the figures are unchanged"]
    r0, r1 = _recommendation(then), _recommendation(now)
    lines.append(
        f"  recommendation: {_said(r0)} -> {_said(r1)}"
        if r0 != r1
        else f"  recommendation unchanged: {_said(r1)}"
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- commands


class AuditGroup(click.Group):
    """``audit NAME`` runs the check; ``audit report NAME`` writes the report."""

    default = "check"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [self.default, *args]
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in super().list_commands(ctx) if name != self.default]

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(
            ctx.command_path, "NAME [--json] | report NAME [--format markdown|json]"
        )


@click.group(cls=AuditGroup)
def audit() -> None:
    """Check that every recorded decision on an A/B test (or a canary) reproduces from the log.

    For each `ab conclude` of test NAME: replay the log to the position the
    decision's analysis saw, recompute it with the recorded options, and compare
    every number and the recommendation; show the evidence (the result events,
    who recorded them, when, with which command) and what the data says now.
    The hash chain of the file is verified too. Exits 1 if a decision does not
    reproduce or the chain fails.

    \b
    Examples:
      trialbook audit checkout-flow
      trialbook audit checkout-flow --json
      trialbook audit report checkout-flow --format markdown --output audit.md
    """


@audit.command("check")
@click.argument("name")
@json_option
@pass_app
def check(app: App, name: str, as_json: bool) -> None:
    """Audit test NAME's decisions (what `trialbook audit NAME` runs); a canary's too."""
    from trialbook.shell.commands.canary import is_canary_only, run_audit

    if is_canary_only(app, name):  # no A/B test of that name: the canary's decisions
        run_audit(app, name, "json" if as_json else "text", None)
        return
    doc = audit_test(app.ledger, name)
    if as_json:
        echo_json(doc)
    else:
        click.echo(render_text(doc))
    problems = failures(doc)
    if problems:
        raise click.ClickException("; ".join(problems))


@audit.command("report")
@click.argument("name")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "json"]),
    default="markdown",
    show_default=True,
    help="Markdown for reviewers, JSON for tools.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of standard output.",
)
@pass_app
def report(app: App, name: str, fmt: str, output: str | None) -> None:
    """Write the audit of test NAME as a document citing event positions for every number.

    Exits 1 (after writing) if a decision does not reproduce or the chain fails.

    \b
    Examples:
      trialbook audit report checkout-flow > audit.md
      trialbook audit report checkout-flow --format json --output audit.json
    """
    from trialbook.shell.commands.canary import is_canary_only, run_audit
    from trialbook.shell.render import to_json

    if is_canary_only(app, name):  # no A/B test of that name: the canary's decisions
        run_audit(app, name, fmt, output)
        return
    doc = audit_test(app.ledger, name)
    text = render_markdown(doc) if fmt == "markdown" else to_json(doc) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"Wrote the audit of {name} to {output}.", err=True)
    problems = failures(doc)
    if problems:
        raise click.ClickException("; ".join(problems))


__all__ = ["audit", "audit_test", "compare", "render_changes", "spans"]
