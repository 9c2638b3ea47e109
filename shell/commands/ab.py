"""``trialbook ab``: create A/B tests, record results, read summaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from trialbook.domain.units import format_cost
from trialbook.shell.app import App
from trialbook.shell.commands.common import json_option, parse_key_values, pass_app
from trialbook.shell.group import LazyGroup
from trialbook.shell.render import echo_json, fmt, pct, table
from trialbook.shell.unit_options import (
    COMPLETION_TIME_HELP,
    COST,
    COST_HELP,
    DURATION,
    TOKENS,
    TOKENS_HELP,
)

METRIC_HELP = (
    "Primary metric: success, error_rate, tool_success_rate, failed_call_ratio, completion_time, "
    "tool_calls, errors, "
    "messages, corrections, tokens, cost, score, cost_per_success, a quantile of a per-result "
    "number (completion_time:p95 and cost:p99 are accepted), or a custom metric name."
)
IMPORT_KEYS = (
    "variant, session_id, success, tool_calls, successful_calls, errors, error (list of messages), "
    "completion_time, messages, corrections, tokens, cost, score, case_id, metrics (object), notes"
)


@click.group(
    cls=LazyGroup,
    lazy={  # `ab analyze` and `ab conclude` live in their own module, imported when used
        "analyze": "trialbook.shell.commands.ab_analysis:analyze_cmd",
        "conclude": "trialbook.shell.commands.ab_analysis:conclude",
    },
)
def ab() -> None:
    """A/B tests: variants of an agent or model compared on recorded sessions.

    \b
    Examples:
      trialbook ab create checkout-flow --variants cold,warm
      trialbook ab add-result checkout-flow --variant warm --tool-calls 12 --successful-calls 11 \\
          --completion-time 40 --success
      trialbook ab summary checkout-flow
    """


@ab.command("create")
@click.argument("name")
@click.option(
    "--variants",
    default="control,treatment",
    show_default=True,
    help="Comma-separated variant names; the first is the control unless --control says otherwise.",
)
@click.option("--control", help="The control variant (default: the first variant).")
@click.option("--metric", default="success", show_default=True, help=METRIC_HELP)
@click.option(
    "--guardrail",
    "guardrails",
    multiple=True,
    metavar="METRIC:+LIMIT",
    help="How much worse than the control a winner may be, whichever way is worse for the "
    "metric (lower success, tool_success_rate, score or a custom metric; higher for the others): "
    "success:+5pp lets success "
    "drop 5 points, not rise. completion_time:+10% (relative), completion_time:+30s, cost:+0.02 "
    "or cost:+2c (units), completion_time:p95:+10%. Repeatable.",
)
@click.option(
    "--split", help="Planned share of results per variant, e.g. cold=1,warm=1 (default: equal)."
)
@click.option("--task-id", help="The task under test.")
@click.option("--description", help="What the test is about.")
@click.option("--prompt", help="The prompt or task given to every variant.")
@click.option("--category", help="A category to group tests by.")
@click.option(
    "--difficulty", type=click.Choice(["easy", "medium", "hard"]), help="How hard the task is."
)
@click.option(
    "--expected-results",
    type=int,
    metavar="N",
    help="Total results you plan to collect; tunes the always-valid boundary of `ab analyze` "
    "(default 500). Fixed at creation so it cannot be re-tuned while watching.",
)
@click.option(
    "--cap",
    "caps",
    multiple=True,
    metavar="METRIC:pNN|METRIC:N",
    help="Cap a heavy-tailed metric in every analysis: cost:p99 (at the pooled 99th percentile) "
    "or completion_time:600 (at 600). Fixed at creation; the uncapped figure is shown beside. "
    "Repeatable.",
)
@click.option(
    "--segment",
    "segments",
    multiple=True,
    metavar="KEY",
    help="A result dimension you plan to break the analysis down by (ab analyze --by KEY); "
    "named here, its breakdown is not labelled exploratory. Repeatable.",
)
@click.option(
    "--expected-tools",
    metavar="A,B",
    help="Comma-separated tools the task is expected to use, e.g. search,read_file.",
)
@click.option(
    "--success-criteria",
    "success_criteria",
    multiple=True,
    metavar="TEXT",
    help="What counts as doing the task well. Repeatable.",
)
@pass_app
def create(app: App, name: str, **params: Any) -> None:
    """Create an A/B test called NAME.

    \b
    Example:
      trialbook ab create checkout-flow --variants cold,warm --metric success \\
          --guardrail completion_time:+10%
    """
    test = app.tb.ab.create(name, **create_arguments(params))
    planned = f", planned results: {test.expected_results}" if test.expected_results else ""
    capped = f", capped: {', '.join(test.caps)}" if test.caps else ""
    click.echo(
        f"Created A/B test {test.name} with variants {', '.join(test.variants)} "
        f"(control: {test.control}, metric: {test.metric}{planned}{capped})."
    )
    for custom in _custom_metrics(test.model_dump()):
        click.echo(custom, err=True)


def create_arguments(params: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``tb.ab.create`` for the options of ``ab create`` as click
    parsed them (the shell's line check builds the same command from them, unrecorded)."""
    params = dict(params)
    split, tools = params.pop("split"), params.pop("expected_tools")
    return {
        **params,
        "variants": _items(params["variants"]),
        "split": parse_key_values(_items(split), "--split") if split else None,
        "expected_tools": _items(tools) if tools is not None else None,
        "success_criteria": params["success_criteria"] or None,
    }


def _items(text: str) -> tuple[str, ...]:
    """``"cold, warm"`` → ``("cold", "warm")``; an empty item stays, for the check to name it."""
    return tuple(x.strip() for x in text.split(","))


def _custom_metrics(created: dict[str, Any]) -> list[str]:
    """A note for each metric of a new test that is not built in (a typo reads as a custom one)."""
    import difflib

    from trialbook.domain.metrics import METRICS, parse_quantile

    names = [created["metric"], *(g["metric"] for g in created.get("guardrails", ()))]
    notes = []
    for name in dict.fromkeys(names):
        quantile = parse_quantile(name)  # completion_time:p95 is a quantile of completion_time
        base = quantile[0] if quantile else name
        if base in METRICS:
            continue
        close = difflib.get_close_matches(base, METRICS, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        of = f" (in {name})" if quantile else ""
        notes.append(
            f"Note: {base!r}{of} is not a built-in metric: its values come from results recorded "
            f"with --metric {base}=VALUE{hint}"
        )
    return notes


def parse_dimensions(values: tuple[str, ...]) -> dict[str, str]:
    """``("category=billing",)`` -> ``{"category": "billing"}``; a usage error names the bad item."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise click.BadParameter(
                f"{item!r} is not KEY=VALUE, e.g. --dimension category=billing",
                param_hint="--dimension",
            )
        key = key.strip()
        if key in out:
            raise click.BadParameter(
                f"{key!r} is given twice ({key}={out[key]}, {item.strip()}); give each key once",
                param_hint="--dimension",
            )
        out[key] = value.strip()
    return out


def read_transcript_file(path: str) -> Any:
    """The messages of a ``--transcript FILE`` ('-' for stdin); a one-line error names the file."""
    from trialbook.domain.transcripts import read_transcript
    from trialbook.ledger.importing import read_text

    return read_transcript(read_text(Path(path).expanduser()), f"--transcript {path}")


def result_fields_from_options(options: dict[str, Any]) -> dict[str, Any]:
    """Map ``add-result`` options to result fields (the keys of an import line)."""
    from trialbook.domain.canonical import new_event_id

    errors_list = options.pop("error_messages")
    fields = {k: v for k, v in options.items() if v is not None}
    if errors_list:
        fields["error_messages"] = tuple(errors_list)
    fields["metrics"] = parse_key_values(options.get("metrics") or (), "--metric")
    dimensions = fields.pop("dimensions", ())
    if dimensions:
        fields["dimensions"] = parse_dimensions(dimensions)
    fields.setdefault("session_id", new_event_id())
    return fields


@ab.command("add-result")
@click.argument("name")
@click.option("--variant", required=True, help="The variant this session ran.")
@click.option("--session-id", help="The session's id (default: a new unique id).")
@click.option("--tool-calls", type=int, help="Tool calls made.")
@click.option("--successful-calls", type=int, help="Tool calls that succeeded.")
@click.option(
    "--errors", type=int, help="Number of errors; with --error, it must equal the messages given."
)
@click.option(
    "--error",
    "error_messages",
    multiple=True,
    metavar="TEXT",
    help="An error message. Repeatable; alone, the count is the number of messages.",
)
@click.option("--completion-time", type=DURATION, metavar="TIME", help=COMPLETION_TIME_HELP)
@click.option("--messages", type=int, help="Messages exchanged.")
@click.option("--corrections", type=int, help="User corrections needed.")
@click.option("--tokens", type=TOKENS, metavar="N", help=TOKENS_HELP)
@click.option("--cost", type=COST, metavar="USD", help=COST_HELP)
@click.option("--score", type=float, help="A score for the session.")
@click.option("--success/--failure", default=None, help="Whether the session succeeded.")
@click.option("--case-id", help="The task instance, so results can be paired across variants.")
@click.option(
    "--metric", "metrics", multiple=True, metavar="KEY=VALUE", help="A custom metric. Repeatable."
)
@click.option("--notes", help="Free-form notes.")
@click.option(
    "--dimension",
    "dimensions",
    multiple=True,
    metavar="KEY=VALUE",
    help="What segment the session is in, e.g. category=billing or model=m1 (for "
    "ab analyze --by KEY). Repeatable.",
)
@click.option(
    "--transcript",
    metavar="FILE",
    help="The session's chat messages: a JSON list (or JSONL) of {role, content, tool_calls?}.",
)
@pass_app
def add_result(app: App, name: str, transcript: str | None, **options: Any) -> None:
    """Record one session's result for a variant of test NAME.

    --transcript stores the session's messages (a blob the result names by hash)
    for `trialbook export dataset NAME`.

    \b
    Example:
      trialbook ab add-result checkout-flow --variant warm --tool-calls 12 \\
          --successful-calls 11 --completion-time 40 --success
    """
    fields = result_fields_from_options(options)
    if transcript is not None:
        fields["transcript"] = read_transcript_file(transcript)
    recorded = app.tb.ab.add_result(name, **fields)
    click.echo(
        f"Recorded a result for variant {fields['variant'].strip()} of {name} "
        f"(event #{recorded.position})."
    )


#: why trialbook and the warm-session framework's rule part ways, by what each concluded
DISAGREES_ON_SHIPPING = (
    "Why trialbook disagrees: the framework's rule takes a 20 % lower mean error rate as "
    "real however few sessions it rests on (in simulated A/A tests re-checked after every "
    "result it names a false winner about 99 % of the time); trialbook ships only when its "
    "always-valid interval (alpha 0.05) rules out no difference."
)
DISAGREES_ON_WAITING = (
    "Why trialbook disagrees: the framework's rule reads less than 20 % lower as no "
    "improvement however few sessions it rests on; trialbook says these sessions cannot "
    "tell yet."
)
DISAGREES_ON_KEEPING = (
    "Why trialbook disagrees: the difference is smaller than the rule's 20 %, but with "
    "these sessions it is unlikely to be chance (always-valid interval, alpha 0.05)."
)


@ab.command("import")
@click.argument("name", required=False, metavar="[NAME]")
@click.argument(
    "file", required=False, metavar="FILE|DIR", type=click.Path(path_type=Path, allow_dash=True)
)
@pass_app
def import_(app: App, name: str | None, file: Path | None) -> None:
    """Import results from FILE ('-' for stdin) into test NAME, all or nothing.

    FILE is JSONL: one JSON object per line with the keys of `ab add-result`'s
    options, with underscores: variant, session_id, tool_calls, successful_calls,
    completion_time, success (true/false), case_id, metrics ({"name": number}), …
    The warm-session framework's SessionResult keys are read too: session_type
    (the variant), successful_tool_calls, completion_time_seconds, message_count,
    user_corrections, errors (a list of messages), task_id (the case), start_time,
    end_time, notes; its derived error_rate and success_rate are not stored.

    FILE may also be a test the warm-session framework saved
    (~/.hermes/ab_tests/<test_id>.json): it creates test NAME (default: its test
    id) with variants cold and warm (control cold, metric error_rate) and the
    task's fields, and records its sessions. Importing it again records only
    sessions not recorded before. A DIR imports every such *.json file in it,
    each under its test id (give no NAME).

    Everything is checked first; a bad line, file or field is named and nothing
    is recorded.

    \b
    Examples:
      trialbook ab import checkout-flow results.jsonl
      trialbook ab import ~/.hermes/ab_tests/test_3f2a9c1d.json
      trialbook ab import ~/.hermes/ab_tests
    \b
    Example line:
      {"variant": "warm", "tool_calls": 12, "successful_calls": 11, "completion_time": 40, "success": true}
    """
    from trialbook.ledger.importing import import_batches, read_import

    if file is None:
        if name is None:
            raise click.UsageError("Missing argument 'FILE|DIR'.")
        file, name = Path(name), None
    imported = import_batches(app.ledger, read_import(file.expanduser(), name), keep=False)
    for o in imported.outcomes:
        b = o.batch
        span = _positions(o.first, o.last)
        if o.created is not None:
            click.echo(
                f"Created test {b.test} from {b.source} (variants cold, warm; control: cold; "
                f"metric: error_rate; event #{o.created.position}) and imported "
                f"{_results(o.count)}{span}."
            )
        elif b.create is None:
            click.echo(f"Imported {_results(o.count)} into {b.test}{span}.")
        elif o.count:
            click.echo(
                f"Imported {_results(o.count, 'new ')} from {b.source} into {b.test}{span}; "
                f"{o.before} {'was' if o.before == 1 else 'were'} imported before."
            )
        else:
            click.echo(
                f"Nothing new in {b.source}: test {b.test} and its {_results(o.before)} "
                "were imported before."
            )
    for note in imported.notes if imported.count else ():
        click.echo(note, err=True)
    for o in imported.outcomes:
        if o.created is not None:
            _beside_the_framework(app, o.batch.test)


def _results(n: int, adjective: str = "") -> str:
    return f"{n} {adjective}result{'s' * (n != 1)}"


def _positions(first: int | None, last: int | None) -> str:
    if first is None:
        return ""
    return f" (event #{first})" if first == last else f" (events #{first}-#{last})"


def _beside_the_framework(app: App, name: str) -> None:
    """Once, when a saved test is imported: the framework's rule beside trialbook's analysis."""
    from trialbook.domain.errors import TrialbookError
    from trialbook.ledger.importing import SEED_IMPROVEMENT, seed_recommendation

    rates = {r["variant"]: r["mean_error_rate"] for r in app.tb.ab.summary(name)}
    cold, warm = rates.get("cold"), rates.get("warm")
    seed = seed_recommendation(cold, warm)
    if seed is None or cold is None or warm is None:
        return
    try:
        rec = app.tb.ab.analyze(name).recommendation
    except TrialbookError as e:  # recorded already: say why there is no comparison, no error
        click.echo(f"{name}: no analysis to compare with the framework's rule ({e}).")
        return
    change = (warm - cold) / cold * 100 if cold > 0 else None
    lower = (
        "cold failed no calls"
        if change is None
        else f"{abs(change):.0f} % {'lower' if change < 0 else 'higher'} for warm"
    )
    click.echo(
        f"{name}: the warm-session framework's rule (warm wins when its mean error rate is "
        f"{SEED_IMPROVEMENT * 100:.0f} % lower) picks {seed}: mean error rate {cold:.3f} cold, "
        f"{warm:.3f} warm ({lower})."
    )
    chosen = rec.decision + (f" {rec.variant}" if rec.variant else "")
    click.echo(f"{name}: trialbook's analysis (ab analyze {name}) says {chosen}: {rec.reason}")
    ships_warm = rec.decision == "ship" and rec.variant == "warm"
    keeps_cold = rec.decision in ("keep_control", "no_difference")
    if (seed == "warm") == ships_warm and (seed == "warm" or keeps_cold):
        click.echo(f"{name}: they agree.")
    elif seed == "warm":
        click.echo(f"{name}: {DISAGREES_ON_SHIPPING}")
    elif ships_warm:
        click.echo(f"{name}: {DISAGREES_ON_KEEPING}")
    else:
        click.echo(f"{name}: {DISAGREES_ON_WAITING}")


@ab.command("list")
@click.option("--all", "include_archived", is_flag=True, help="Include archived tests.")
@json_option
@pass_app
def list_(app: App, include_archived: bool, as_json: bool) -> None:
    """List A/B tests (archived ones with --all)."""
    tests = [t.model_dump() for t in app.tb.ab.list(include_archived=include_archived)]
    if as_json:
        decided = app.tb.ab.decisions()
        echo_json([{**t, "decision": decided.get(t["name"])} for t in tests])
        return
    if not tests:
        archived = 0 if include_archived else len(app.tb.ab.list(include_archived=True))
        click.echo(
            f"No active A/B tests ({archived} archived: `trialbook ab list --all` shows them)."
            if archived
            else "No A/B tests yet. Create one with: trialbook ab create NAME --variants a,b"
        )
        return
    rows = [
        [
            t["name"] + (" (archived)" if t["archived"] else ""),
            ",".join(t["variants"]),
            t["control"],
            t["metric"],
            t["results"],
            t["created_at"][:16].replace("T", " "),
        ]
        for t in tests
    ]
    click.echo(table(rows, ["test", "variants", "control", "metric", "results", "created (UTC)"]))


#: how many results ``ab show`` lists in its table unless --limit says otherwise
SHOW_LIMIT = 50


def results_csv(rows: list[dict[str, Any]]) -> str:
    """``ab show --csv``: one row per result, every field; custom metrics as ``metric:NAME`` and
    dimensions as ``dimension:KEY`` columns.

    Lists (error messages) are JSON text; a missing value is an empty cell.
    """
    import csv
    import io

    nested = ("metrics", "error_messages", "dimensions")
    scalar = [k for k in (rows[0] if rows else {}) if k not in nested]
    if not rows:  # the header alone
        scalar = [
            "position", "variant", "session_id", "case_id", "success", "tool_calls",
            "successful_calls", "errors", "completion_time", "messages", "corrections",
            "tokens", "cost", "score", "notes", "start_time", "end_time", "recorded_at",
        ]  # fmt: skip
    metrics = sorted({k for r in rows for k in r.get("metrics") or {}})
    dims = sorted({k for r in rows for k in r.get("dimensions") or {}})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            *scalar,
            "error_messages",
            *(f"metric:{m}" for m in metrics),
            *(f"dimension:{d}" for d in dims),
        ]
    )
    for r in rows:
        errors = r.get("error_messages") or []
        w.writerow(
            [("" if r.get(k) is None else r[k]) for k in scalar]
            + [json.dumps(list(errors), ensure_ascii=False) if errors else ""]
            + [
                ("" if (r.get("metrics") or {}).get(m) is None else r["metrics"][m])
                for m in metrics
            ]
            + [(r.get("dimensions") or {}).get(d, "") for d in dims]
        )
    return buf.getvalue()


@ab.command("show")
@click.argument("name")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=None,
    help=f"Show the last N results (0 for all; default: the last {SHOW_LIMIT} in the table, "
    "all with --json or --csv).",
)
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print the results as CSV (all of them).")
@pass_app
def show(app: App, name: str, limit: int | None, as_json: bool, as_csv: bool) -> None:
    """Show test NAME's definition and its results.

    The table lists the last 50 results (and says how many it leaves out); --json
    and --csv give every result unless --limit says otherwise.

    \b
    Examples:
      trialbook ab show checkout-flow
      trialbook ab show checkout-flow --csv > results.csv
    """
    from trialbook.projections.ab_decisions import describe

    if as_json and as_csv:
        raise click.UsageError("give --json or --csv, not both")
    if limit is None:
        limit = 0 if (as_json or as_csv) else SHOW_LIMIT
    test = app.tb.ab.get(name).model_dump()
    rows = app.tb.ab.results(name, limit=limit or None)
    if as_csv:
        click.echo(results_csv(rows), nl=False)
        return
    decision = app.tb.ab.decision(name)
    if as_json:
        echo_json({"test": test, "results": rows, "decision": decision})
        return
    for label, key in [
        ("test", "name"),
        ("description", "description"),
        ("task", "task_id"),
        ("prompt", "prompt"),
        ("category", "category"),
        ("difficulty", "difficulty"),
    ]:
        if test[key]:
            click.echo(f"{label:12} {test[key]}")
    if test.get("expected_tools"):
        click.echo(f"{'tools':12} {', '.join(test['expected_tools'])}")
    for i, criterion in enumerate(test.get("success_criteria") or ()):
        click.echo(f"{'criteria' if i == 0 else '':12} - {criterion}")
    click.echo(f"{'variants':12} {', '.join(test['variants'])} (control: {test['control']})")
    click.echo(f"{'metric':12} {test['metric']}")
    if test["guardrails"]:
        from trialbook.domain.ab import Guardrail

        click.echo(
            f"{'guardrails':12} {', '.join(str(Guardrail(**g)) for g in test['guardrails'])}"
        )
    click.echo(
        f"{'status':12} {'archived' if test['archived'] else 'active'}, {test['results']} results, "
        f"created {test['created_at'][:19].replace('T', ' ')} UTC"
    )
    if decision:
        click.echo(f"{'decision':12} {describe(decision)}")
    if not rows:
        click.echo(
            "\nNo results yet. Add one with: trialbook ab add-result " + name + " --variant V …"
        )
        return
    click.echo()
    body = [
        [
            r["position"],
            r["variant"],
            r["case_id"],
            r["success"],
            r["tool_calls"],
            r["successful_calls"],
            r["errors"],
            r["completion_time"],
            r["messages"],
            r["tokens"],
            format_cost(r["cost"]) if r["cost"] is not None else None,
            r["score"],
        ]
        for r in rows
    ]
    timed = any(r["start_time"] is not None or r["end_time"] is not None for r in rows)
    if timed:  # the session's times as recorded (text, or epoch seconds in full)
        for line, r in zip(body, rows, strict=True):
            line.extend(None if t is None else str(t) for t in (r["start_time"], r["end_time"]))
    click.echo(
        table(
            body,
            [
                "#",
                "variant",
                "case",
                "success",
                "calls",
                "ok",
                "errors",
                "time s",
                "msgs",
                "tokens",
                "cost",
                "score",
                *(["started", "ended"] if timed else []),
            ],
        )
    )
    if limit and test["results"] > len(rows):
        click.echo(
            f"({test['results'] - len(rows)} earlier results not shown; use --limit 0 for all)"
        )


@ab.command("summary")
@click.argument("name")
@json_option
@pass_app
def summary(app: App, name: str, as_json: bool) -> None:
    """Descriptive figures per variant of test NAME (no inference: see `ab analyze`)."""
    test = app.tb.ab.get(name).model_dump()
    rows = app.tb.ab.summary(name)
    if as_json:
        echo_json({"test": name, "metric": test["metric"], "variants": rows})
        return
    body = [
        [
            r["variant"] + (" (control)" if r["control"] else ""),
            r["results"],
            r["successes"],
            pct(r["success_rate"]),
            pct(r["mean_error_rate"]),
            pct(r["mean_tool_success_rate"]),
            r["mean_completion_time"],
            r["mean_messages"],
            r["total_tokens"],
            format_cost(r["total_cost"]) if r["total_cost"] is not None else None,
        ]
        for r in rows
    ]
    click.echo(f"{name}: {test['results']} results" + (" (archived)" if test["archived"] else ""))
    click.echo(
        table(
            body,
            [
                "variant",
                "results",
                "successes",
                "success rate",
                "error rate",
                "tool success",
                "mean time s",
                "mean msgs",
                "tokens",
                "cost",
            ],
            align="lrrrrrrrrr",
        )
    )


@ab.command("archive")
@click.argument("name")
@click.option("--reason", help="Why it is archived.")
@pass_app
def archive(app: App, name: str, reason: str | None) -> None:
    """Archive test NAME: hidden from `ab list`, nothing destroyed (`ab restore` undoes it)."""
    app.tb.ab.archive(name, reason=reason)
    click.echo(
        f"Archived {name}. Its events are kept; bring it back with: trialbook ab restore {name}"
    )


@ab.command("restore")
@click.argument("name")
@pass_app
def restore(app: App, name: str) -> None:
    """Restore archived test NAME."""
    app.tb.ab.restore(name)
    click.echo(f"Restored {name}.")


__all__ = ["ab", "fmt"]
