"""``trialbook canary``: staged rollouts with sticky assignment and guardrails that stop on evidence.

Thin commands over the Python API (``app.tb.canaries``, ``app.tb.canary(name)``),
which calls ``ledger/canary.py``. numpy and scipy are imported only by the
commands that compute a status (``status``, the decisions, ``watch``, ``audit``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from trialbook.shell.app import App
from trialbook.shell.commands.common import json_option, output_option, parse_key_values, pass_app
from trialbook.shell.commands.events import ISO_TIME
from trialbook.shell.render import audit_head, echo_json, table
from trialbook.shell.unit_options import (
    COMPLETION_TIME_HELP,
    COST,
    COST_HELP,
    DURATION,
    TOKENS,
    TOKENS_HELP,
)

GUARDRAIL_HELP = (
    "How much worse than the control the candidate may be, whichever way is worse for the "
    "metric (lower success, tool_success_rate or score; higher for the others): success:+5pp "
    "lets success drop 5 "
    "points, not rise. error_rate:+2pp (points), completion_time:+10% (relative), "
    "completion_time:+30s, cost:+0.02 or cost:+2c (units). Repeatable. Default (no "
    "--guardrail): the primary metric may not get worse at all (e.g. success:+0)."
)


@click.group()
def canary() -> None:
    """Canary rollouts: send a growing share of units to a candidate, stopping on evidence of harm.

    A unit (a user, a session) gets the candidate while its salted hash bucket is
    under the stage's percentage, so assignment is sticky, needs no write, and a
    unit in the candidate at 10% stays in it at 50% and 100%. Results carry the
    stage they ran under; guardrails are checked with always-valid intervals, so
    watching after every result does not halt a good candidate by chance.

    \b
    Examples:
      trialbook canary create router-v2 --control router-v1 --candidate router-v2 \\
          --stages 10,50,100 --guardrail error_rate:+2pp
      trialbook canary assign router-v2 user-17
      trialbook canary status router-v2
      trialbook canary watch router-v2 --auto
    """


# --------------------------------------------------------------------------- writing


@canary.command("create")
@click.argument("name")
@click.option("--control", required=True, help="The variant units get today.")
@click.option("--candidate", required=True, help="The variant being rolled out.")
@click.option(
    "--stages",
    default="10,50,100",
    show_default=True,
    help="Percentages of units sent to the candidate, in increasing order, each in (0, 100].",
)
@click.option(
    "--guardrail", "guardrails", multiple=True, metavar="METRIC:+LIMIT", help=GUARDRAIL_HELP
)
@click.option(
    "--metric",
    default="success",
    show_default=True,
    help="The primary metric, reported with its always-valid interval (a quantile too: "
    "completion_time:p95).",
)
@click.option(
    "--min-results",
    type=int,
    metavar="N",
    help="Candidate results each stage needs before it moves on (default 400).",
)
@click.option(
    "--unit", default="user", show_default=True, help="What a unit id names: user, session, …"
)
@click.option(
    "--alpha",
    type=float,
    default=0.05,
    show_default=True,
    help="Chance of halting a candidate that is within its limits, over the whole canary.",
)
@click.option(
    "--expected-results",
    type=int,
    metavar="N",
    help="Total results the always-valid boundary is tuned for (default: what the stages need).",
)
@click.option(
    "--salt", help="The hash salt (default: random). The same salt gives the same buckets."
)
@click.option("--description", help="What the canary is about.")
@pass_app
def create(
    app: App,
    name: str,
    control: str,
    candidate: str,
    stages: str,
    guardrails: tuple[str, ...],
    metric: str,
    min_results: int | None,
    unit: str,
    alpha: float,
    expected_results: int | None,
    salt: str | None,
    description: str | None,
) -> None:
    """Plan a canary called NAME of --candidate against --control.

    \b
    Example:
      trialbook canary create router-v2 --control router-v1 --candidate router-v2 \\
          --stages 10,50,100 --guardrail error_rate:+2pp --guardrail completion_time:+10%
    """
    info = app.tb.canaries.create(
        name, control=control, candidate=candidate, stages=stages,
        guardrails=guardrails,
        metric=metric, min_results=min_results, unit=unit, alpha=alpha,
        expected_results=expected_results, salt=salt, description=description,
    ).info()  # fmt: skip
    rails = ", ".join(g_text(g) for g in info.guardrails)
    click.echo(
        f"Created canary {info.name}: {info.candidate} against {info.control}, stages "
        f"{' → '.join(pct(p) for p in info.stages)}, guardrails {rails}, "
        f"{info.min_results} candidate results per stage. {pct(info.percent)} of {info.unit}s "
        "get the candidate now."
    )


def g_text(g: dict[str, Any]) -> str:
    from trialbook.domain.ab import Guardrail
    from trialbook.domain.canary import guardrail_text

    return guardrail_text(Guardrail(**g))


def pct(p: float) -> str:
    from trialbook.domain.canary import percent_text

    return percent_text(p)


#: the result options of ``ab add-result``, by the same names (this module does not import
#: ``commands/ab.py``, whose analysis commands import the audit, which imports this module)
RESULT_OPTIONS = [
    click.option("--variant", required=True, help="The variant this session ran: the control or the candidate."),
    click.option("--session-id", help="The session's id (default: a new unique id)."),
    click.option("--tool-calls", type=int, help="Tool calls made."),
    click.option("--successful-calls", type=int, help="Tool calls that succeeded."),
    click.option("--errors", type=int, help="Number of errors; with --error, it must equal the messages given."),
    click.option("--error", "error_messages", multiple=True, metavar="TEXT", help="An error message. Repeatable; alone, the count is the number of messages."),
    click.option("--completion-time", type=DURATION, metavar="TIME", help=COMPLETION_TIME_HELP),
    click.option("--messages", type=int, help="Messages exchanged."),
    click.option("--corrections", type=int, help="User corrections needed."),
    click.option("--tokens", type=TOKENS, metavar="N", help=TOKENS_HELP),
    click.option("--cost", type=COST, metavar="USD", help=COST_HELP),
    click.option("--score", type=float, help="A score for the session."),
    click.option("--success/--failure", default=None, help="Whether the session succeeded."),
    click.option("--case-id", help="The task instance, so results can be paired."),
    click.option("--metric", "metrics", multiple=True, metavar="KEY=VALUE", help="A custom metric. Repeatable."),
    click.option("--notes", help="Free-form notes."),
    click.option("--transcript", metavar="FILE", help="The session's chat messages: a JSON list (or JSONL) of {role, content, tool_calls?}."),
]  # fmt: skip


def _result_options(fn: Any) -> Any:
    for option in reversed(RESULT_OPTIONS):
        fn = option(fn)
    return fn


def _fields(options: dict[str, Any]) -> dict[str, Any]:
    """``add-result`` options as result fields (the keys of an import line)."""
    errors = options.pop("error_messages")
    transcript = options.pop("transcript", None)
    fields = {k: v for k, v in options.items() if v is not None}
    if transcript is not None:
        from trialbook.domain.transcripts import read_transcript
        from trialbook.ledger.importing import read_text

        fields["transcript"] = read_transcript(
            read_text(Path(transcript).expanduser()), f"--transcript {transcript}"
        )
    if errors:
        fields["error_messages"] = tuple(errors)
    fields["metrics"] = parse_key_values(options.get("metrics") or (), "--metric")
    return fields


class _Stage(click.ParamType):
    """A stage by its number (``2``) or by its percentage with a % sign (``10%``)."""

    name = "stage"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value).strip()
        if text.isdigit() and int(text) >= 1:
            return int(text)
        if text.endswith("%") and text[:-1].replace(".", "", 1).isdigit():
            return text
        self.fail(
            f"{value!r} is neither a stage's number (1 = the first) nor its percentage with % "
            "(e.g. 10%)",
            param,
            ctx,
        )


STAGE = _Stage()


@canary.command("add-result")
@click.argument("name")
@click.option(
    "--stage",
    type=STAGE,
    metavar="N|P%",
    help="The stage the session ran under: by its number (--stage 2 is the second stage, not "
    "2 %) or by its percentage written with % (--stage 10% is the stage at 10 %, as `canary "
    "advance --to 10` names it); `canary status` lists the stages. Default: the current one.",
)
@click.option("--unit-id", help="The unit the session served; its assignment is checked.")
@_result_options
@pass_app
def add_result(
    app: App, name: str, stage: int | str | None, unit_id: str | None, **options: Any
) -> None:
    """Record one session's result for canary NAME's control or candidate.

    The options are those of `ab add-result`. With --unit-id, the variant must be
    the one that unit is assigned at the stage (a check that the router follows it).

    \b
    Example:
      trialbook canary add-result router-v2 --variant router-v2 --unit-id user-17 \\
          --tool-calls 12 --successful-calls 11 --completion-time 40 --success
    """
    fields = _fields(options)
    recorded = app.tb.canary(name).add_result(**fields, stage=stage, unit_id=unit_id)
    click.echo(
        f"Recorded a result for {fields['variant'].strip()} of canary {name} (event #{recorded.position})."
    )


@canary.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path, allow_dash=True))
@pass_app
def import_(app: App, name: str, file: Path) -> None:
    """Import results for canary NAME from a JSONL FILE ('-' for stdin), all or nothing.

    Each line has the keys of `ab import` lines, and optionally `stage` (the stage
    the session ran under; default the current one) and `unit_id`.

    \b
    Example line:
      {"variant": "router-v2", "stage": 1, "unit_id": "user-17", "tool_calls": 12, "successful_calls": 11}
    """
    recorded = app.tb.canary(name).import_file(file)
    first, last = recorded[0].position, recorded[-1].position
    click.echo(
        f"Imported 1 result into canary {name} (event #{first})."
        if first == last
        else f"Imported {len(recorded)} results into canary {name} (events #{first}-#{last})."
    )


# --------------------------------------------------------------------------- reading


@canary.command("assign")
@click.argument("name")
@click.argument("unit_ids", nargs=-1, required=True, metavar="UNIT_ID...")
@json_option
@pass_app
def assign(app: App, name: str, unit_ids: tuple[str, ...], as_json: bool) -> None:
    """Print the variant each UNIT_ID gets from canary NAME now (writes nothing).

    \b
    Examples:
      trialbook canary assign router-v2 user-17
      trialbook canary assign router-v2 user-17 user-18 --json
    """
    c = app.tb.canary(name)
    rows = [{"unit_id": u, "variant": c.assign(u), "bucket": c.bucket(u)} for u in unit_ids]
    if as_json:
        echo_json({"canary": name, "stage": c.stage, "exposure_percent": c.exposure_percent,
                   "assignments": rows})  # fmt: skip
    elif len(rows) == 1:
        click.echo(rows[0]["variant"])
    else:
        click.echo(table([[r["unit_id"], r["variant"], r["bucket"]] for r in rows],
                         ["unit", "variant", "bucket"], align="llr"))  # fmt: skip


@canary.command("list")
@json_option
@pass_app
def list_(app: App, as_json: bool) -> None:
    """List canaries: where each is and how many results it has."""
    items = [c.model_dump() for c in app.tb.canaries.list()]
    if as_json:
        echo_json(items)
        return
    if not items:
        click.echo(
            "No canaries yet. Plan one with: trialbook canary create NAME --control A --candidate B"
        )
        return
    rows = [
        [
            c["name"],
            f"{c['candidate']} vs {c['control']}",
            c["status"].replace("_", " "),
            f"{c['stage']}/{len(c['stages'])} ({pct(c['percent'])})",
            pct(c["exposure_percent"]),
            c["results"],
        ]
        for c in items
    ]
    click.echo(
        table(
            rows,
            ["canary", "candidate vs control", "status", "stage", "exposure", "results"],
            align="lllllr",
        )
    )


@canary.command("status")
@click.argument("name")
@click.option("--as-of", "as_of", type=ISO_TIME, help="The status as it was at this time (UTC).")
@click.option(
    "--at", "at", type=click.IntRange(min=0), metavar="POSITION",
    help="The status as it was right after this log position.",
)  # fmt: skip
@json_option
@pass_app
def status(app: App, name: str, as_of: str | None, at: int | None, as_json: bool) -> None:
    """Where canary NAME is, each guardrail's always-valid interval, and what happens next.

    --json prints the document every decision records (see docs/canary.md).

    \b
    Examples:
      trialbook canary status router-v2
      trialbook canary status router-v2 --at 1200 --json
    """
    doc = app.tb.canary(name).status(at=at, as_of=as_of).model_dump(mode="json")
    if as_json:
        echo_json(doc)
        return
    if at is not None or as_of is not None:
        click.echo(f"As of position {doc['position']}:\n")
    click.echo(render_status(doc))


def _amount(g: dict[str, Any], x: float | None) -> str:
    from trialbook.domain.metrics import metric_named
    from trialbook.domain.stats.canary import amount

    return amount(metric_named(g["metric"]), g["relative"], x)  # a quantile too (cost:p99)


def render_status(doc: dict[str, Any]) -> str:
    """The terminal view of a ``canary status --json`` document."""
    stages = doc["stages"]
    n = doc["stage"]
    state = doc["status"].replace("_", " ")
    res = doc["results"]
    lines = [
        f"{doc['canary']}: {doc['candidate']} (candidate) against {doc['control']} (control), "
        f"unit {doc['unit']}; log position {doc['position']}",
        f"Stage {n} of {len(stages)} ({pct(doc['percent'])}), {state}: {pct(doc['exposure_percent'])} "
        f"of units get the candidate now. Stages: {' → '.join(pct(p) for p in stages)}.",
        f"Results: {res['total']} ({res['candidate']} candidate, {res['control']} control); this stage "
        f"{res['this_stage']['candidate']} candidate of the {doc['settings']['min_results']} it needs, "
        f"{res['this_stage']['control']} control.",
        "",
    ]
    rows = [
        [
            str(s["stage"]),
            pct(s["percent"]),
            s["candidate"],
            s["control"],
            "-" if s["candidate_share"] is None else f"{s['candidate_share'] * 100:.1f}%",
            "-" if s["srm_p"] is None else f"{s['srm_p']:.3g}",
        ]
        for s in res["by_stage"]
    ]
    lines.append(
        table(
            rows,
            ["stage", "planned", "candidate", "control", "candidate share", "SRM p (always-valid)"],
            align="llrrrr",
        )
    )
    level = doc["settings"]["guardrail_level"]
    lines += [
        "",
        f"Guardrails (always-valid intervals, each at level {level:.4g}, stratified by stage):",
    ]
    for g in doc["guardrails"]:
        ci = (
            "not yet measurable"
            if g["ci"] is None
            else f"{_amount(g, g['ci'][0])} to {_amount(g, g['ci'][1])}"
        )
        lines.append(
            f"  {g['text']:<24} {g['status'].upper():<8} worsening {_amount(g, g['worsening'])} "
            f"({ci}) from {g['n_candidate']} candidate and {g['n_control']} control results"
        )
    m = doc["metric"]
    from trialbook.domain.metrics import metric_named
    from trialbook.domain.stats.canary import amount

    metric = metric_named(m["metric"])  # a quantile too (completion_time:p95)

    def value(x: float | None) -> str:
        if x is None:
            return "-"
        return f"{x * 100:.1f}%" if metric.kind == "binary" else f"{x:.4g}"

    ci = (
        "not yet defined"
        if m["ci"] is None
        else f"{amount(metric, False, m['ci'][0])} to {amount(metric, False, m['ci'][1])}"
    )
    lines += [
        "",
        f"Primary metric {m['metric']}: candidate {value(m['candidate'])}, control {value(m['control'])}, "
        f"difference {amount(metric, False, m['difference'])} (always-valid {100 * (1 - m['level']):g}% "
        f"interval {ci}): {m['status']}.",
        "Alerts: " + ("none" if not doc["alerts"] else ""),
    ]
    lines += [f"  BLOCKING: {a['message']}" for a in doc["alerts"]]
    nxt = doc["next"]
    lines += ["", f"Next: {nxt['action'].upper()}: {nxt['reason']}"]
    return "\n".join(lines)


# --------------------------------------------------------------------------- deciding


def _report(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(doc)
        return
    name = doc["canary"]
    what = {
        "advance": f"Advanced {name} to stage {doc['to_stage']} ({pct(doc['percent'])})",
        "halt": f"Halted {name} at stage {doc['stage']}: every unit gets the control now",
        "rollback": f"Rolled back {name}: every unit gets the control",
        "complete": f"Completed {name}: every unit gets the candidate",
    }[doc["action"]]
    click.echo(
        f"{what} (event #{doc['position']}; analysis at log position {doc['analysis_position']})."
    )
    if doc["forced"] and doc["overrode"]:
        click.echo(
            f"Warning: forced against the stage rule ({doc['overrode']}); recorded as such.",
            err=True,
        )


note_option = click.option("--note", help="Why: recorded with the decision.")
force_option = click.option(
    "--force",
    is_flag=True,
    help="Override the stage rule; recorded as forced, with what it overrode.",
)


@canary.command("advance")
@click.argument("name")
@click.option(
    "--to", "to", type=float, metavar="PERCENT",
    help="The percentage you expect to move to: --to 50 is 50 %, not stage 50 (`canary add-result "
    "--stage` takes the stage's number, or its percentage written 50%; `canary status` lists the "
    "stages). Refused unless it is the next stage.",
)  # fmt: skip
@force_option
@note_option
@json_option
@pass_app
def advance(
    app: App, name: str, to: float | None, force: bool, note: str | None, as_json: bool
) -> None:
    """Move canary NAME to its next stage, if the stage rule allows it.

    The rule: the current stage has its minimum of candidate results, no guardrail
    is breached (its always-valid interval lies wholly beyond its limit) and no
    data-quality alert blocks. The analysis and the log position it saw are
    recorded with the decision, so `trialbook audit NAME` can replay it.

    \b
    Examples:
      trialbook canary advance router-v2
      trialbook canary advance router-v2 --to 50 --note "error rate holds"
    """
    _report(app.tb.canary(name).advance(to=to, force=force, note=note).model_dump(), as_json)


@canary.command("halt")
@click.argument("name")
@note_option
@json_option
@pass_app
def halt(app: App, name: str, note: str | None, as_json: bool) -> None:
    """Stop canary NAME by hand: every unit gets the control from now on.

    A breached guardrail halts it by itself under `canary watch NAME --auto`.

    \b
    Example:
      trialbook canary halt router-v2 --note "paging alerts"
    """
    _report(app.tb.canary(name).halt(note=note).model_dump(), as_json)


@canary.command("rollback")
@click.argument("name")
@note_option
@json_option
@pass_app
def rollback(app: App, name: str, note: str | None, as_json: bool) -> None:
    """Abandon the candidate of canary NAME for good: every unit gets the control.

    \b
    Example:
      trialbook canary rollback router-v2 --note "error rate 5 points worse"
    """
    _report(app.tb.canary(name).rollback(note=note).model_dump(), as_json)


@canary.command("complete")
@click.argument("name")
@force_option
@note_option
@json_option
@pass_app
def complete(app: App, name: str, force: bool, note: str | None, as_json: bool) -> None:
    """Finish canary NAME at its last stage: every unit gets the candidate.

    Allowed when the last stage has its minimum of candidate results and no
    guardrail is breached (--force overrides, recorded as such).

    \b
    Example:
      trialbook canary complete router-v2
    """
    _report(app.tb.canary(name).complete(force=force, note=note).model_dump(), as_json)


@canary.command("watch")
@click.argument("name")
@click.option(
    "--auto", is_flag=True, help="Halt on a breach and advance when the rule allows, by itself."
)
@click.option(
    "--timeout", type=click.FloatRange(min=0), metavar="SECONDS",
    help="Stop after this many seconds without a new result (default: until the canary stops).",
)  # fmt: skip
@click.option(
    "--poll",
    type=click.FloatRange(min=0.01),
    default=0.5,
    show_default=True,
    metavar="SECONDS",
    help="How often to look for new results.",
)
@pass_app
def watch(app: App, name: str, auto: bool, timeout: float | None, poll: float) -> None:
    """Follow canary NAME as results arrive, printing each change; with --auto, act on the rule.

    Each time new results are recorded (by any process) the status is computed
    again. With --auto a breached guardrail halts the canary and a stage that has
    its results with nothing breached advances; completing stays a person's
    decision. Ends when the canary stops (halted, rolled back, completed), after
    --timeout seconds without new results, or on Ctrl-C.

    \b
    Examples:
      trialbook canary watch router-v2
      trialbook canary watch router-v2 --auto --timeout 3600
    """
    from trialbook.domain.canary import stream_for

    tb = app.tb
    c = tb.canary(name)
    stream = stream_for(name)
    last = tb.position
    idle_since = time.monotonic()
    shown = None
    first = True
    while True:
        new = first or any(True for _ in tb.events.read(after=last, stream=stream))
        if new:
            first = False
            last = tb.position
            idle_since = time.monotonic()
            decision = c.step(advance=True) if auto else None
            doc = c.status().model_dump(mode="json")
            if decision is not None:
                d = decision.model_dump(mode="json")
                click.echo(f"#{d['position']} " + _step_text(d))
                last = tb.position
            line = _watch_line(doc)
            if line != shown:
                click.echo(line)
                shown = line
            if doc["status"] != "running":
                click.echo(f"Stopped watching: {doc['next']['reason']}.")
                return
        elif timeout is not None and time.monotonic() - idle_since >= timeout:
            click.echo(f"No new results for {timeout:g} s; stopped watching.")
            return
        time.sleep(poll)


def _step_text(d: dict[str, Any]) -> str:
    if d["action"] == "halt":
        return f"HALTED at stage {d['stage']}: guardrail {', '.join(d['breached'])} breached; every unit gets the control."
    return f"ADVANCED to stage {d['to_stage']} ({pct(d['percent'])})."


def _watch_line(doc: dict[str, Any]) -> str:
    rails = "; ".join(
        f"{g['metric']} {g['status']}"
        + ("" if g["ci"] is None else f" ({_amount(g, g['ci'][0])} to {_amount(g, g['ci'][1])})")
        for g in doc["guardrails"]
    )
    here = doc["results"]["this_stage"]
    return (
        f"position {doc['position']}: stage {doc['stage']} ({pct(doc['percent'])}), "
        f"{here['candidate']}/{doc['settings']['min_results']} candidate and {here['control']} control "
        f"results; {rails}; next: {doc['next']['action']}"
    )


# --------------------------------------------------------------------------- audit


@canary.command("audit")
@click.argument("name")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
    show_default=True, help="A terminal summary, a Markdown report, or JSON.",
)  # fmt: skip
@output_option
@pass_app
def audit_cmd(app: App, name: str, fmt: str, output: str | None) -> None:
    """Check that every decision on canary NAME reproduces from the log.

    For each advance, halt, rollback and completion: replay the log to the
    position its analysis saw, recompute the status, and compare every number;
    check that the stage rule allowed what it did (unless forced or by hand).
    The hash chain is verified too. Exits 1 if anything does not hold.

    `trialbook audit NAME` runs this for a name that is a canary and no A/B test:
    its --json is --format json here, and `audit report NAME [--format
    markdown|json]` is --format markdown|json.

    \b
    Examples:
      trialbook canary audit router-v2
      trialbook canary audit router-v2 --format markdown --output audit.md
    """
    run_audit(app, name, fmt, output)


def is_canary_only(app: App, name: str) -> bool:
    """Whether NAME is a canary and not an A/B test (``trialbook audit NAME`` then audits the canary)."""
    from trialbook.projections import ab_queries
    from trialbook.projections import canary as q

    conn = app.ledger.conn
    return ab_queries.get_test(conn, name) is None and q.get_canary(conn, name) is not None


def run_audit(app: App, name: str, fmt: str, output: str | None) -> None:
    """The canary audit, rendered (``canary audit`` and ``audit NAME`` for a canary)."""
    from trialbook.ledger.canary import failures
    from trialbook.shell.render import emit_audit, to_json

    doc = app.tb.canary(name).audit()
    text = {"text": render_audit, "markdown": render_audit_markdown}.get(fmt)
    out = text(doc) + "\n" if text else to_json(doc) + "\n"
    emit_audit(out, output, f"canary {name}", failures(doc))


_KIND_TEXT = {
    "advance": "advanced to stage {to_stage}",
    "halt": "halted at stage {stage}",
    "rollback": "rolled back at stage {stage}",
    "complete": "completed at stage {stage}",
}


def _decision_line(d: dict[str, Any]) -> str:
    what = _KIND_TEXT[d["kind"]].format(**d)
    if d["forced"]:
        what += " (forced)"
    if d["automatic"]:
        what += " by the stage rule"
    if d["breached"]:
        what += f" (breached: {', '.join(d['breached'])})"
    who = f"{d['actor'] or 'unknown'} at {d['recorded_at'][:16].replace('T', ' ')} UTC"
    return (
        f"Decision #{d['position']}: {what}, by {who} ({d['tier'] or '-'}: {d['command'] or '-'})"
        + (f": {d['note']}" if d["note"] else "")
    )


def _verdict(d: dict[str, Any]) -> str:
    if d["reproduces"]:
        text = (
            f"Reproduces: replayed to position {d['analysis_position']} and recomputed with method "
            f"{d['method_version']}: the same numbers and the same next step ({d['recorded']['next']})."
        )
    elif d["error"]:
        text = f"DOES NOT REPRODUCE: recomputing fails: {d['error']}"
    else:
        shown = "; ".join(
            f"{x['path']} {x['recorded']!r} -> {x['recomputed']!r}" for x in d["differences"][:6]
        )
        text = f"DOES NOT REPRODUCE: {len(d['differences'])} figures differ (recorded -> recomputed): {shown}"
    if d["rule_held"] is True:
        text += " The stage rule allowed it."
    elif d["rule_held"] is False:
        text += " THE STAGE RULE DID NOT ALLOW IT on the replayed data."
    return text


def render_audit(doc: dict[str, Any]) -> str:
    """The terminal summary of a canary audit."""
    n = len(doc["decisions"])
    lines = audit_head(f"canary {doc['canary']}", doc)
    if not n:
        lines.append(
            f"No decision recorded yet (`trialbook canary advance {doc['canary']}` records one)."
        )
    for d in doc["decisions"]:
        ev = d["evidence"]
        per = (
            ", ".join(f"stage {c['stage']} {c['arm']} {c['results']}" for c in ev["by_stage"])
            or "none"
        )
        lines += [
            "",
            _decision_line(d),
            f"  Saw the log up to position {d['analysis_position']}: {ev['results']} results ({per}); "
            f"the rule then said: {d['recorded']['next']}.",
            "  " + _verdict(d),
        ]
    now = doc["now"]
    lines += [
        "",
        f"Now (position {now['position']}): {now['status'].replace('_', ' ')} at stage {now['stage']} ({pct(now['percent'])}), next: {now['next']}.",
    ]
    return "\n".join(lines)


def render_audit_markdown(doc: dict[str, Any]) -> str:
    """A canary audit for reviewers: every decision with the positions its evidence comes from."""
    from trialbook.ledger.canary import failures

    problems = failures(doc)
    lines = [
        f"# Audit of canary `{doc['canary']}`",
        "",
        f"- Database: `{doc['database']}`, audited at log position {doc['audited_at_position']} "
        f"(head hash `{doc['head_hash']}`); canary created at position {doc['created_position']}.",
        "- Verdict: "
        + (
            "**every decision reproduces**." if not problems else "**" + "; ".join(problems) + "**."
        ),
    ]
    for d in doc["decisions"]:
        ev = d["evidence"]
        lines += ["", f"## {_decision_line(d).removeprefix('Decision ')}", "", _verdict(d), ""]
        lines += ["| guardrail | status | worsening | interval |", "|---|---|---|---|"]
        for g in d["recorded"]["guardrails"]:
            ci = "-" if g["ci"] is None else f"{g['ci'][0]:.4g} to {g['ci'][1]:.4g}"
            w = "-" if g["worsening"] is None else f"{g['worsening']:.4g}"
            lines.append(f"| {g['metric']} | {g['status']} | {w} | {ci} |")
        lines += [
            "",
            "| stage | arm | results | CanaryResultAdded positions |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {c['stage']} | {c['arm']} | {c['results']} | {c['positions']} |"
            for c in ev["by_stage"]
        ]
    return "\n".join(lines)
