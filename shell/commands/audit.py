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

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from trialbook.shell.app import App
from trialbook.shell.commands.common import json_option, output_option, pass_app
from trialbook.shell.render import audit_head, echo_json

if TYPE_CHECKING:
    pass

from trialbook.ledger.audit import (  # noqa: E402 - the audit itself lives in the ledger
    FIGURES,
    MAX_SHOWN_DIFFERENCES,
    audit_test,
    compare,
    failures,
    recommendation_of,
    said,
    setup_text,
    spans,
)


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
    lines = audit_head(doc["test"], doc)
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
            f"recommendation then: {said(d['recorded']['recommendation'])}"
            + (" (decided against it)" if d["against_recommendation"] else "")
            + ".",
            f"  Analysis: {setup_text(d['analysis'])}.",
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
                f"{said(now['recommendation'])}; {agrees}."
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
            f"computed with method version {d['method_version']}: {setup_text(d['analysis'])}.",
            f"- Recommendation then: {said(d['recorded']['recommendation'])}"
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
                f"{said(now['recommendation'])}; it "
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
    r0, r1 = recommendation_of(then), recommendation_of(now)
    lines.append(
        f"  recommendation: {said(r0)} -> {said(r1)}"
        if r0 != r1
        else f"  recommendation unchanged: {said(r1)}"
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

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The options of ``audit NAME`` itself (``--json``) beside the group's own."""
        super().format_options(ctx, formatter)
        check = self.commands[self.default]
        rows = [
            r
            for p in check.get_params(ctx)
            if isinstance(p, click.Option) and "--help" not in p.opts
            for r in [p.get_help_record(ctx)]
            if r is not None
        ]
        if rows:
            with formatter.section("Options of `audit NAME`"):
                formatter.write_dl(rows)


@click.group(cls=AuditGroup)
def audit() -> None:
    """Check that every recorded decision on an A/B test (or a canary) reproduces from the log.

    For each `ab conclude` of test NAME: replay the log to the position the
    decision's analysis saw, recompute it with the recorded options, and compare
    every number and the recommendation; show the evidence (the result events,
    who recorded them, when, with which command) and what the data says now.
    The hash chain of the file is verified too. Exits 1 if a decision does not
    reproduce or the chain fails.

    For a canary (a name no A/B test has), `audit NAME` is `canary audit NAME`:
    --json is its --format json, and `audit report NAME` its --format markdown
    or json. For a name that is both, `audit` audits the test and `canary
    audit` the canary.

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
@output_option
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
    from trialbook.shell.render import emit_audit, to_json

    if is_canary_only(app, name):  # no A/B test of that name: the canary's decisions
        run_audit(app, name, fmt, output)
        return
    doc = audit_test(app.ledger, name)
    text = render_markdown(doc) if fmt == "markdown" else to_json(doc) + "\n"
    emit_audit(text, output, name, failures(doc))


__all__ = ["audit", "audit_test", "compare", "render_changes", "spans"]
