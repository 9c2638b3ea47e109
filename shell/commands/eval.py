"""``trialbook eval``: suites, eval runs against real targets, scoring, tables.

Thin commands: each opens the ledger, calls one function of the application
layer (:mod:`ledger.evals`, which the Python API's ``tb.evals`` calls too), and
renders what it returns. Errors meant for users become one line (``Error: …``),
exit 1, and nothing is appended (every check runs before ``RunStarted``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from trialbook.domain.units import format_cost
from trialbook.ledger import evals
from trialbook.shell.app import App
from trialbook.shell.commands.common import json_option, pass_app
from trialbook.shell.commands.eval_progress import ProgressLine
from trialbook.shell.commands.eval_render import (
    RESUME_HINT,
    case_csv,
    case_lines,
    case_markdown,
    compare_lines,
    findings_lines,
    footer_lines,
    headline_lines,
    markdown,
    render_plot,
    rollouts_csv,
    stalled,
    status,
    summary_lines,
    table_rows,
    verdicts_table,
)
from trialbook.shell.commands.eval_suite import suite
from trialbook.shell.commands.events import ISO_TIME
from trialbook.shell.render import echo_json, table
from trialbook.shell.unit_options import COST

if TYPE_CHECKING:
    from trialbook.ledger.eval_gates import GateOutcome, RunGates

__all__ = ["ProgressLine", "eval_", "redact_command", "render_plot"]

F = TypeVar("F", bound=Callable[..., Any])


@click.group("eval")
def eval_() -> None:
    """Eval runs: send a suite of cases to a target, record every rollout, score and compare.

    \b
    Examples:
      trialbook eval suite add qa.jsonl
      trialbook eval run qa --target http://127.0.0.1:8000/run --epochs 3 --scorer equals
      trialbook eval show RUN
      trialbook eval compare RUN_A RUN_B
    """


# --------------------------------------------------------------------------- helpers


class GateFailed(click.ClickException):
    """A CI gate (``--fail-under``, ``--max-failed``, ``--max-regressions``, ``--fail-on``) failed: exit 1."""

    exit_code = 1


class InfrastructureFailure(click.ClickException):
    """The target could not be reached, or every rollout failed: exit 3 (not a failed gate)."""

    exit_code = 3


#: what a store says of a lost connection, which is right for one command and wrong for a
#: run whose earlier batches were recorded
_LOST_TAIL = "nothing was recorded: run the command again once the server is back"


def _user_error(e: BaseException, run_id: str | None = None) -> click.ClickException:
    from trialbook.runners.eval_errors import TargetUnavailable
    from trialbook.runners.executor import WriterFailed

    if isinstance(e, TargetUnavailable):
        return InfrastructureFailure(str(e))
    if run_id is not None and isinstance(e, WriterFailed):
        # the batches written before the failure stay recorded: resuming runs the rest only
        text = str(e).replace(_LOST_TAIL, "its last batch was not recorded")
        return click.ClickException(
            f"{text}; the rollouts recorded before it are kept: {RESUME_HINT.format(run=run_id)}"
        )
    return click.ClickException(str(e))


#: ``--judge-repeats N``, the same for ``eval run`` and ``eval rescore``
judge_repeats_option = click.option(
    "--judge-repeats",
    type=click.IntRange(min=1, max=100),
    default=1,
    show_default=True,
    help="Ask each LLM judge this many times per rollout.",
)


def gate_options(f: F) -> F:
    """``--fail-under``, ``--max-failed``, ``--allow-all-failed`` and ``--junit`` (run, resume, retry-failed)."""
    for option in reversed(
        (
            click.option(
                "--fail-under",
                "fail_under",
                multiple=True,
                metavar="SCORER=RATE",
                help="Exit 1 if SCORER's pass rate is under RATE (0.8 or 80%); SCORER:mean=V gates "
                "its mean score (on the scorer's scale); `target` is the target's own score. Read from "
                "the right, so a SCORER with ':' or '=' works: judge:openai:mean=0.7, "
                "judge:openai=80%, json_field:ok=true=0.9. Repeatable.",
            ),
            click.option(
                "--max-failed",
                type=click.IntRange(min=0),
                metavar="N",
                help="Exit 1 if more than N rollouts failed (target errors).",
            ),
            click.option(
                "--allow-all-failed",
                is_flag=True,
                help="Exit 0 even if every rollout failed (by default that is exit 3).",
            ),
            click.option(
                "--junit",
                type=click.Path(dir_okay=False),
                metavar="FILE",
                help="Write JUnit XML to FILE: a testcase per case × epoch × scorer, and per gate.",
            ),
        )
    ):
        f = option(f)
    return f


def _gates(
    gate_opts: dict[str, Any], scorer_names: list[str], scorer_scales: Any = None
) -> RunGates:
    """The checked gates of run/resume/retry-failed (before anything is recorded)."""
    from trialbook.ledger import eval_gates
    from trialbook.ledger.junit import check_junit_path

    gates = eval_gates.parse_run_gates(
        gate_opts.get("fail_under") or (),
        gate_opts.get("max_failed"),
        allow_all_failed=bool(gate_opts.get("allow_all_failed")),
        scorer_names=scorer_names,
        scorer_scales=scorer_scales,
    )
    if gate_opts.get("junit") is not None:
        check_junit_path(gate_opts["junit"])
    return gates


def exit_for(outcome: GateOutcome, err: bool = False) -> None:
    """Say the gates passed (on stderr with ``err``, as beside ``--json``), or raise the failed
    gate (exit 1) or the infrastructure failure (exit 3)."""
    passed = outcome.passed_line()
    if passed:
        click.echo(passed, err=err)
    message = outcome.message()
    if message is None:
        return
    if outcome.exit_code == 3:
        raise InfrastructureFailure(message)
    raise GateFailed(message)


def _runner_errors() -> tuple[type[BaseException], ...]:
    from trialbook.runners.eval_errors import EvalRunnerError

    return (EvalRunnerError,)


def redact_command(text: str) -> str:
    """The command line with passwords and secret-looking values redacted (see ``shell.app.redact_secrets``)."""
    from trialbook.shell.app import redact_secrets

    return redact_secrets(text)


def _execute(app: App, run_id: str, prepared: evals.PreparedRun, progress: ProgressLine) -> None:
    """Run the session; on Ctrl-C record the interruption, say how to resume, exit 130."""
    import asyncio

    try:
        asyncio.run(prepared.execute(on_progress=progress))
    except KeyboardInterrupt:
        progress.close()
        state = evals.interrupt_if_running(app.ledger, run_id, "interrupted (Ctrl-C)")
        click.echo(
            f"Interrupted: {state.completed} completed, {state.failed} failed, {state.pending} pending. "
            f"{RESUME_HINT.format(run=run_id).capitalize()}.",
            err=True,
        )
        sys.exit(130)
    except _runner_errors() as e:
        progress.close()
        raise _user_error(e, run_id) from e


def _finish_message(app: App, run_id: str) -> None:
    state = evals.run_state(app.ledger, run_id)
    cost = f" · {format_cost(state.cost_usd)}" if state.cost_usd else ""
    if state.status == "finished":
        click.echo(
            f"Run {run_id} finished: {state.completed} completed, {state.failed} failed{cost}. "
            f"See `trialbook eval show {run_id}`."
        )
    else:
        reason = state.last_interrupt_reason or "stopped"
        click.echo(
            f"Run {run_id} stopped ({reason}): {state.completed} completed, {state.failed} failed, "
            f"{state.pending} pending{cost}; {RESUME_HINT.format(run=run_id)}."
        )


eval_.add_command(suite)


# --------------------------------------------------------------------------- running


@eval_.command("run")
@click.argument("suite_name", metavar="[SUITE]", required=False)
@click.option(
    "--target",
    "target_spec",
    metavar="SPEC",
    help="A task app's URL as it is (http://127.0.0.1:8000/run; http:URL is the same), "
    "rollout:URL (a synth-ai task app), "
    "openai:MODEL[@BASE_URL][;api_key_env=VAR], python:MODULE:FUNCTION or "
    "command:SHELL COMMAND (or `target` in --config).",
)
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="A TOML or YAML run config."
)
@click.option(
    "--version",
    "suite_version",
    type=click.IntRange(min=1),
    help="Suite version (default: latest).",
)
@click.option("--epochs", type=click.IntRange(min=1), help="Times each case is run (default 1).")
@click.option(
    "--concurrency", type=click.IntRange(min=1), help="Rollouts in flight at once (default 10)."
)
@click.option("--timeout", type=float, help="Seconds per request (default 60).")
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    help="Retries of timeouts, connection errors, 429, 5xx (default 3).",
)
@click.option(
    "--name", "run_name", metavar="RUN", help="The run's id (default: a new time-ordered id)."
)
@click.option(
    "--price",
    "prices",
    multiple=True,
    metavar="MODEL=IN/OUT",
    help="USD per million input/output tokens, e.g. gpt-4o-mini=0.15/0.6 ('*' for any model). Repeatable.",
)
@click.option(
    "--budget",
    type=COST,
    metavar="USD",
    help="Stop the run cleanly once this much is spent, in US dollars: 2, $2, 2 dollars, 200c.",
)
@click.option(
    "--seed",
    type=int,
    help="Base seed: a case without its own seed gets one derived from it (per case and epoch).",
)
@click.option(
    "--seeds",
    metavar="LIST",
    help="Run a suite of seeds, each sent exactly: 0-49, 0,3,7 or 0-9,20 (a synth-ai config's seeds).",
)
@click.option(
    "--cache/--no-cache",
    "cache",
    default=None,
    help="Reuse stored answers to identical requests (off unless asked for; `cache` in --config).",
)
@click.option(
    "--cache-ttl",
    metavar="DURATION",
    help="With --cache: ignore stored answers older than this (90s, 30m, 12h, 1d, 2w). It does "
    "not turn the cache on: without --cache (or cache = true in --config) it is refused.",
)
@click.option(
    "--scorer",
    "scorer_specs",
    multiple=True,
    metavar="SPEC",
    help="Score each rollout as it completes: equals, contains:TEXT, regex:RE, json_field:PATH=V, "
    "python:MODULE:FUNCTION, judge:NAME… Repeatable.",
)
@judge_repeats_option
@gate_options
@pass_app
def run(
    app: App,
    suite_name: str | None,
    target_spec: str | None,
    config_file: str | None,
    suite_version: int | None,
    epochs: int | None,
    concurrency: int | None,
    timeout: float | None,
    retries: int | None,
    run_name: str | None,
    prices: tuple[str, ...],
    budget: float | None,
    seed: int | None,
    seeds: str | None,
    cache: bool | None,
    cache_ttl: str | None,
    scorer_specs: tuple[str, ...],
    judge_repeats: int,
    **gate_opts: Any,
) -> None:
    """Run every case of SUITE (× epochs) against a target and record each rollout.

    SUITE and --target may be left out when a --config file names them (its
    `suite` and `target`); otherwise both are needed.

    Ctrl-C stops the run; it stays resumable with `trialbook eval resume RUN`.
    It ends with the headline scores; the gates (--fail-under, --max-failed) exit 1
    when one fails, 3 when the target cannot be reached or every rollout failed.

    \b
    Examples:
      trialbook eval run qa --target http://127.0.0.1:8000/run --epochs 3 --concurrency 20
      trialbook eval run qa --target 'openai:gpt-4o-mini;api_key_env=OPENAI_API_KEY' --price gpt-4o-mini=0.15/0.6
      trialbook eval run qa --config run.toml --scorer equals --scorer judge:openai
      trialbook eval run qa --target http://127.0.0.1:8000/run --scorer equals --fail-under equals=0.8 --junit evals.xml
      trialbook eval run --config synth_eval.toml --seeds 0-49 --cache
    """
    try:
        prepared = evals.prepare_run(
            app.ledger,
            suite_name,
            target_spec,
            config_file=config_file,
            suite_version=suite_version,
            epochs=epochs,
            concurrency=concurrency,
            timeout=timeout,
            retries=retries,
            name=run_name,
            prices=prices,
            budget=budget,
            seed=seed,
            scorers=scorer_specs,
            judge_repeats=judge_repeats,
            seeds=seeds,
            cache=cache,
            cache_ttl=cache_ttl,
        )
    except evals.MissingRunOption as e:
        raise click.UsageError(str(e)) from None
    except _runner_errors() as e:
        raise _user_error(e) from e
    from trialbook.ledger.eval_gates import scorer_names_of, scorer_scales_of

    gates = _gates(gate_opts, scorer_names_of(prepared.scoring), scorer_scales_of(prepared.scoring))
    _run_session(app, prepared, gates, gate_opts.get("junit"))


def _run_session(
    app: App, prepared: evals.PreparedRun, gates: RunGates, junit: str | None = None
) -> None:
    """Start or resume the prepared run with the progress line, say how it ended and its
    headline scores, write the JUnit file, then check the gates (exit 1 or 3 if one fails)."""
    from trialbook.ledger.eval_gates import judge_run

    progress = ProgressLine()
    _execute(app, prepared.run_id, prepared, progress)
    progress.close()
    _finish_message(app, prepared.run_id)
    report, outcome = judge_run(app.ledger, prepared.run_id, gates, junit)
    for line in headline_lines(report):
        click.echo(line)
    if junit is not None:
        click.echo(f"JUnit XML written to {junit}.")
    exit_for(outcome)


def _resume(
    app: App,
    run_id: str,
    mode: str,
    concurrency: int | None,
    budget: float | None,
    gate_opts: dict[str, Any],
) -> None:
    from trialbook.ledger.eval_gates import scorer_names_of, scorer_scales_of

    try:
        prepared = evals.prepare_resume(
            app.ledger, run_id, mode, concurrency=concurrency, budget=budget
        )
    except _runner_errors() as e:
        raise _user_error(e) from e
    recorded = [s["name"] for s in evals.require_run(app.ledger, run_id).get("scorers") or []]
    gates = _gates(
        gate_opts,
        [*scorer_names_of(prepared.scoring), *recorded],
        scorer_scales_of(prepared.scoring),
    )
    _run_session(app, prepared, gates, gate_opts.get("junit"))


@eval_.command("resume")
@click.argument("run_id", metavar="RUN")
@click.option(
    "--concurrency", type=click.IntRange(min=1), help="Rollouts in flight (default: the run's)."
)
@click.option(
    "--budget",
    type=COST,
    metavar="USD",
    help="A new total budget for the run, in US dollars: 2, $2, 2 dollars, 200c.",
)
@gate_options
@pass_app
def resume(
    app: App, run_id: str, concurrency: int | None, budget: float | None, **gate_opts: Any
) -> None:
    """Run exactly the rollouts of RUN that have no completed outcome (in flight when it stopped, never run, failed).

    \b
    Example:
      trialbook eval resume 20250131-142502-7f3a9c --concurrency 20
    """
    _resume(app, run_id, "resume", concurrency, budget, gate_opts)


@eval_.command("retry-failed")
@click.argument("run_id", metavar="RUN")
@click.option(
    "--concurrency", type=click.IntRange(min=1), help="Rollouts in flight (default: the run's)."
)
@gate_options
@pass_app
def retry_failed(app: App, run_id: str, concurrency: int | None, **gate_opts: Any) -> None:
    """Run the failed rollouts of RUN again, as new attempts (earlier attempts stay in the log).

    \b
    Example:
      trialbook eval retry-failed 20250131-142502-7f3a9c
    """
    _resume(app, run_id, "retry-failed", concurrency, None, gate_opts)


@eval_.command("rescore")
@click.argument("run_id", metavar="RUN")
@click.option(
    "--scorer",
    "scorer_specs",
    multiple=True,
    required=True,
    metavar="SPEC",
    help="A scorer spec (as for `eval run`). Repeatable.",
)
@judge_repeats_option
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Rollouts scored at once.",
)
@pass_app
def rescore(
    app: App, run_id: str, scorer_specs: tuple[str, ...], judge_repeats: int, concurrency: int
) -> None:
    """Score RUN's stored outputs again without calling the target (new verdict events; old ones stay).

    \b
    Example:
      trialbook eval rescore RUN --scorer judge:openai --judge-repeats 3
    """
    import asyncio

    prepared = evals.prepare_rescore(
        app.ledger, run_id, scorer_specs, judge_repeats=judge_repeats, concurrency=concurrency
    )
    done = asyncio.run(prepared.execute())
    errors = done["scoring_errors"]
    click.echo(
        f"Recorded {done['verdicts']} verdicts on {done['rollouts']} rollouts of {run_id}"
        + (
            f" ({errors} of them scoring errors: no verdict, see the error column)"
            if errors
            else ""
        )
        + f". See `trialbook eval show {run_id}`."
    )


# --------------------------------------------------------------------------- reading


@eval_.command("list")
@json_option
@pass_app
def list_(app: App, as_json: bool) -> None:
    """List eval runs with their status.

    \b
    Example:
      trialbook eval list --json
    """
    runs = evals.list_runs(app.ledger)
    if as_json:
        echo_json(runs)
        return
    if not runs:
        click.echo("No eval runs yet; start one with `trialbook eval run SUITE --target SPEC`.")
        return
    rows = [
        [
            r["run_id"],
            f"{r['suite']} v{r['suite_version']}",
            status(r),
            f"{r['completed']}/{r['total']}",
            r["failed"],
            format_cost(r["cost_usd"]),
            r["started_at"],
        ]
        for r in runs
    ]
    click.echo(
        table(
            rows,
            ["run", "suite", "status", "completed", "failed", "cost", "started"],
            align="lllrrrl",
        )
    )
    for r in runs:
        if r["runner"] == "gone":
            click.echo(stalled(r["run_id"]))


@eval_.command("show")
@click.argument("run_id", metavar="RUN")
@click.option(
    "--case", "case_id", metavar="ID", help="One case: every criterion row with its reason."
)
@click.option(
    "--all-verdicts", is_flag=True, help="Include every verdict, also those a rescore replaced."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys).")
@click.option("--csv", "as_csv", is_flag=True, help="Print the rollouts as CSV.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the table as Markdown.")
@click.option(
    "--plot",
    "show_plot",
    is_flag=True,
    help="Also draw the score and latency distributions as text (ASCII where the terminal needs it).",
)
@click.option(
    "--as-of",
    "as_of",
    type=ISO_TIME,
    help="The run as it was at this time (ISO 8601; a time without a zone is UTC).",
)
@click.option(
    "--at",
    "at",
    type=click.IntRange(min=0),
    metavar="POSITION",
    help="The run as it was at this log position.",
)
@click.option(
    "--columns",
    type=click.Choice(["default", "synth"]),
    default="default",
    show_default=True,
    help="synth: the seed tool's columns (seed, score, reward_mean, outcome, events, latency_ms, "
    "verifier, tokens, cost_usd, error) with an average row.",
)
@pass_app
def show(
    app: App,
    run_id: str,
    case_id: str | None,
    all_verdicts: bool,
    as_json: bool,
    as_csv: bool,
    as_markdown: bool,
    show_plot: bool,
    as_of: str | None,
    at: int | None,
    columns: str,
) -> None:
    """Show RUN's totals and pass rates, what failed (grouped by case), then its rollouts.

    Long lists stop after 10 cases with "… and N more"; --json has everything.
    With --case, --csv and --markdown give that case's criterion rows.

    \b
    Examples:
      trialbook eval show RUN
      trialbook eval show RUN --columns synth
      trialbook eval show RUN --plot
      trialbook eval show RUN --case q1
      trialbook eval show RUN --csv > run.csv
      trialbook eval show RUN --case q1 --csv
    """
    if sum((as_json, as_csv, as_markdown)) > 1:
        raise click.UsageError("choose one of --json, --csv and --markdown")
    if show_plot and (as_json or as_csv or as_markdown or case_id is not None):
        raise click.UsageError(
            "--plot draws beside the run's table: give it without --json, --csv, --markdown or --case"
        )
    if as_of is not None and at is not None:
        raise click.UsageError("give --as-of or --at, not both")
    if columns == "synth":
        _show_synth(app, run_id, at, as_of, as_json, as_csv, as_markdown, show_plot, case_id)
        return
    if case_id is not None:
        detail = evals.case_report(
            app.ledger, run_id, case_id, all_verdicts=all_verdicts, at=at, as_of=as_of
        )
        if as_json:
            echo_json(detail)
        elif as_csv:
            click.echo(case_csv(detail), nl=False)
        elif as_markdown:
            click.echo(case_markdown(detail))
        else:
            for line in case_lines(case_id, detail):
                click.echo(line)
        return
    data = evals.run_report(app.ledger, run_id, all_verdicts=all_verdicts, at=at, as_of=as_of)
    run_ = data["run"]
    if as_json:
        echo_json(data)
        return
    if as_csv:
        click.echo(rollouts_csv(data["rollouts"], data["scorer_names"]), nl=False)
        return
    rows, headers = table_rows(data)
    if as_markdown:
        # as the text: the totals and what went wrong first, then the rows
        for line in footer_lines(data):
            click.echo(f"- {line}")
        click.echo("")
        click.echo(markdown(rows, headers))
        return
    click.echo(
        f"Run {run_id} · suite {run_['suite']} v{run_['suite_version']} · target "
        f"{run_['target'].get('kind', '?')} · {run_['epochs']} epoch(s) · {status(run_)}"
    )
    if run_.get("runner") == "gone" and as_of is None and at is None:
        click.echo(stalled(run_id))
    # the totals and pass rates first, what went wrong next, then the rows
    for line in summary_lines(data) + findings_lines(data):
        click.echo(line)
    click.echo("")
    click.echo(table(rows, headers, align="lr" + "r" * 5 + "l" * (len(headers) - 7)))
    cached = evals.seed_report(app.ledger, run_id, at=at, as_of=as_of)["cached"]
    if cached:
        click.echo(
            f"{cached} rollout(s) read from the response cache (not called now; latency not measured)"
        )
    if show_plot:
        click.echo("\n" + render_plot(data))
    if all_verdicts and data.get("verdicts"):
        click.echo("")
        click.echo(verdicts_table(data))


def _show_synth(app: App, run_id: str, at: int | None, as_of: str | None, *flags: Any) -> None:
    """``eval show RUN --columns synth`` (see :mod:`shell.commands.eval_synth`)."""
    from trialbook.shell.commands.eval_synth import synth_table_lines

    as_json, as_csv, as_markdown, show_plot, case_id = flags
    if as_csv or as_markdown or show_plot or case_id is not None:
        raise click.UsageError(
            "--columns synth prints its own table: give it without --csv, --markdown, --plot or --case"
        )
    data = evals.seed_report(app.ledger, run_id, at=at, as_of=as_of)
    if as_json:
        echo_json(data)
        return
    run_ = data["run"]
    click.echo(f"Run {run_id} · suite {run_['suite']} v{run_['suite_version']} · {status(run_)}")
    for line in synth_table_lines(data):
        click.echo(line)


@eval_.command("export")
@click.argument("run_id", metavar="RUN")
@click.option(
    "--traces",
    "traces_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory to write outputs and traces to (created if missing).",
)
@pass_app
def export(app: App, run_id: str, traces_dir: str) -> None:
    """Write RUN's rollouts (rollouts.jsonl) and their stored traces and large outputs (blobs) to a directory.

    \b
    Example:
      trialbook eval export RUN --traces ./traces
    """
    done = evals.export_run(app.ledger, run_id, traces_dir)
    click.echo(
        f"Wrote {done['rollouts']} rollouts and {done['blobs']} blobs to {done['directory']}."
    )


@eval_.command("compare")
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@click.option(
    "--scorer",
    help="The scorer to compare on (default: the first both runs have; else the target's score).",
)
@click.option(
    "--into-ab",
    "into_ab",
    metavar="NAME",
    help="Create (or feed) the A/B test NAME with the paired rollouts, so `ab analyze` compares them.",
)
@click.option(
    "--max-regressions",
    type=click.IntRange(min=0),
    metavar="N",
    help="Exit 1 if more than N pairs passed in RUN_A and fail in RUN_B.",
)
@click.option(
    "--fail-on",
    "fail_on",
    multiple=True,
    metavar="DECISION",
    help="Exit 1 if the recommendation is DECISION: keep_control, no_difference, continue, "
    "blocked or ship (repeatable, or comma-separated).",
)
@click.option(
    "--by",
    "by",
    metavar="KEY",
    help="Also break the comparison down by case metadata: metadata.KEY (or category, "
    "difficulty, model); Holm across segments, labelled exploratory.",
)
@json_option
@pass_app
def compare(
    app: App,
    run_a: str,
    run_b: str,
    scorer: str | None,
    into_ab: str | None,
    max_regressions: int | None,
    fail_on: tuple[str, ...],
    by: str | None,
    as_json: bool,
) -> None:
    """Pair RUN_B's rollouts with RUN_A's by case and epoch: wins, losses, regressions and paired statistics.

    RUN_A is the baseline and RUN_B the candidate ("B against A", "B over A" name them the other way round).
    `report eval` takes them the other way: `report eval RUN_B --baseline RUN_A`.

    With several epochs, the interval is clustered by case (epochs of a case are not independent).

    \b
    Examples:
      trialbook eval compare baseline candidate
      trialbook eval compare baseline candidate --into-ab model-swap
      trialbook eval compare baseline candidate --max-regressions 0 --fail-on keep_control
    """
    from trialbook.ledger import eval_gates

    gates = eval_gates.parse_compare_gates(max_regressions, fail_on)
    data = evals.compare_runs(app.ledger, run_a, run_b, scorer=scorer, into_ab=into_ab)
    if by is not None:
        from trialbook.ledger.eval_segments import by_segment, segment_lines

        data["segments"] = by_segment(app.ledger, data, by)
    outcome = eval_gates.check_compare(data, gates)
    if as_json:
        echo_json(data)
    else:
        for line in compare_lines(data, run_a, run_b, into_ab):
            click.echo(line)
        for line in segment_lines(data["segments"]) if by is not None else []:
            click.echo(line)
    if gates:
        exit_for(outcome, err=as_json)
