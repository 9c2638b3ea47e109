"""``trialbook eval``: suites, eval runs against real targets, scoring, tables.

Thin commands: each opens the ledger, calls one function of the application
layer (:mod:`ledger.evals`, which the Python API's ``tb.evals`` calls too), and
renders what it returns. Errors meant for users become one line (``Error: …``),
exit 1, and nothing is appended (every check runs before ``RunStarted``).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any

import click

from trialbook.ledger import evals
from trialbook.shell.app import App
from trialbook.shell.commands.common import json_option, pass_app
from trialbook.shell.commands.events import ISO_TIME
from trialbook.shell.render import echo_json, fmt, pct, table

RESUME_HINT = "resume it with `trialbook eval resume {run}`"


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


def _user_error(e: BaseException) -> click.ClickException:
    return click.ClickException(str(e))


def _runner_errors() -> tuple[type[BaseException], ...]:
    from trialbook.runners.eval_errors import EvalRunnerError

    return (EvalRunnerError,)


def redact_command(text: str) -> str:
    """The command line with passwords and secret-looking values redacted (see ``shell.app.redact_secrets``)."""
    from trialbook.shell.app import redact_secrets

    return redact_secrets(text)


class ProgressLine:
    """The live progress line: redrawn in place on a TTY; otherwise only the final line is printed."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last: Any = None

    def __call__(self, progress: Any) -> None:
        self.last = progress
        if self.tty:
            self.stream.write("\r\x1b[K" + progress.line())
            self.stream.flush()

    def close(self) -> None:
        """End the line (TTY) or print the final line (not a TTY); a second call does nothing."""
        if self.last is None:
            return
        last, self.last = self.last, None
        if self.tty:
            self.stream.write("\n")
        else:
            self.stream.write(last.line() + "\n")
        self.stream.flush()


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
        raise _user_error(e) from e


def _finish_message(app: App, run_id: str) -> None:
    state = evals.run_state(app.ledger, run_id)
    cost = f" · ${state.cost_usd:.4f}" if state.cost_usd else ""
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


# --------------------------------------------------------------------------- suites


@eval_.group("suite")
def suite() -> None:
    """Versioned suites of eval cases (JSONL or YAML).

    \b
    Examples:
      trialbook eval suite add qa.jsonl --name qa
      trialbook eval suite list
      trialbook eval suite show qa --version 1
    """


@suite.command("add")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--name", help="Suite name (default: the file name without extension).")
@click.option("--description", help="What the suite covers.")
@pass_app
def suite_add(app: App, file: str, name: str | None, description: str | None) -> None:
    """Register FILE as a suite's next version ("unchanged" when identical to the latest).

    \b
    Example:
      trialbook eval suite add qa.jsonl --name qa
    """
    added = evals.add_suite_file(app.ledger, file, name=name, description=description)
    if not added["changed"]:
        click.echo(
            f"Suite {added['name']} unchanged (version {added['version']}, {added['cases']} cases)."
        )
    else:
        click.echo(
            f"Suite {added['name']} version {added['version']}: {added['cases']} cases "
            f"(hash {added['hash'][:12]})."
        )


@suite.command("list")
@json_option
@pass_app
def suite_list(app: App, as_json: bool) -> None:
    """List suites with their latest version.

    \b
    Example:
      trialbook eval suite list --json
    """
    suites = evals.list_suites(app.ledger)
    if as_json:
        echo_json(suites)
        return
    if not suites:
        click.echo("No suites yet; add one with `trialbook eval suite add FILE`.")
        return
    click.echo(
        table(
            [
                [
                    s["name"],
                    s["version"],
                    s["cases"],
                    s["hash"][:12],
                    s["source"] or "-",
                    s["registered_at"],
                ]
                for s in suites
            ],
            ["suite", "version", "cases", "hash", "source", "registered"],
        )
    )


@suite.command("show")
@click.argument("name")
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    help="A version number (default: the latest).",
)
@json_option
@pass_app
def suite_show(app: App, name: str, version: int | None, as_json: bool) -> None:
    """Show a suite version's cases.

    \b
    Example:
      trialbook eval suite show qa --version 2
    """
    doc = evals.suite_document(app.ledger, name, version)
    if as_json:
        echo_json(doc)
        return
    click.echo(
        f"Suite {name} version {doc['version']} of {doc['versions']} · {len(doc['cases'])} cases · "
        f"hash {doc['hash'][:12]}" + (f" · from {doc['source']}" if doc["source"] else "")
    )
    rows = []
    for c in doc["cases"]:
        text = c["input"] if isinstance(c["input"], str) else c["input"][-1]["content"]
        rows.append(
            [
                c["id"],
                _short(text, 60),
                _short(json.dumps(c["expected"]), 30) if c["expected"] is not None else "-",
                len(c["criteria"]),
                ",".join(str(s) for s in c["scorers"]) or "-",
            ]
        )
    click.echo(table(rows, ["case", "input", "expected", "criteria", "scorers"], align="lllrl"))


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- running


@eval_.command("run")
@click.argument("suite_name", metavar="SUITE", required=False)
@click.option(
    "--target",
    "target_spec",
    metavar="SPEC",
    help="http:URL, openai:MODEL[@BASE_URL][;api_key_env=VAR], python:MODULE:FUNCTION or "
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
    "--budget", type=float, metavar="USD", help="Stop the run cleanly once this much is spent."
)
@click.option("--seed", type=int, help="Base seed sent to task apps (per case and epoch).")
@click.option(
    "--scorer",
    "scorer_specs",
    multiple=True,
    metavar="SPEC",
    help="Score each rollout as it completes: equals, contains:TEXT, regex:RE, json_field:PATH=V, "
    "python:MODULE:FUNCTION, judge:NAME… Repeatable.",
)
@click.option(
    "--judge-repeats",
    type=click.IntRange(min=1, max=100),
    default=1,
    show_default=True,
    help="Ask each LLM judge this many times per rollout.",
)
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
    scorer_specs: tuple[str, ...],
    judge_repeats: int,
) -> None:
    """Run every case of SUITE (× epochs) against a target and record each rollout.

    Ctrl-C stops the run; it stays resumable with `trialbook eval resume RUN`.

    \b
    Examples:
      trialbook eval run qa --target http://127.0.0.1:8000/run --epochs 3 --concurrency 20
      trialbook eval run qa --target 'openai:gpt-4o-mini;api_key_env=OPENAI_API_KEY' --price gpt-4o-mini=0.15/0.6
      trialbook eval run qa --config run.toml --scorer equals --scorer judge:openai
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
        )
    except evals.MissingRunOption as e:
        raise click.UsageError(str(e)) from None
    except _runner_errors() as e:
        raise _user_error(e) from e
    _run_session(app, prepared)


def _run_session(app: App, prepared: evals.PreparedRun) -> None:
    """Start or resume the prepared run with the progress line, then say how it ended."""
    progress = ProgressLine()
    _execute(app, prepared.run_id, prepared, progress)
    progress.close()
    _finish_message(app, prepared.run_id)


def _resume(
    app: App, run_id: str, mode: str, concurrency: int | None, budget: float | None
) -> None:
    try:
        prepared = evals.prepare_resume(
            app.ledger, run_id, mode, concurrency=concurrency, budget=budget
        )
    except _runner_errors() as e:
        raise _user_error(e) from e
    _run_session(app, prepared)


@eval_.command("resume")
@click.argument("run_id", metavar="RUN")
@click.option(
    "--concurrency", type=click.IntRange(min=1), help="Rollouts in flight (default: the run's)."
)
@click.option("--budget", type=float, metavar="USD", help="A new total budget for the run.")
@pass_app
def resume(app: App, run_id: str, concurrency: int | None, budget: float | None) -> None:
    """Run exactly the rollouts of RUN that have no completed outcome (in flight when it stopped, never run, failed).

    \b
    Example:
      trialbook eval resume 20250131-142502-7f3a9c --concurrency 20
    """
    _resume(app, run_id, "resume", concurrency, budget)


@eval_.command("retry-failed")
@click.argument("run_id", metavar="RUN")
@click.option(
    "--concurrency", type=click.IntRange(min=1), help="Rollouts in flight (default: the run's)."
)
@pass_app
def retry_failed(app: App, run_id: str, concurrency: int | None) -> None:
    """Run the failed rollouts of RUN again, as new attempts (earlier attempts stay in the log).

    \b
    Example:
      trialbook eval retry-failed 20250131-142502-7f3a9c
    """
    _resume(app, run_id, "retry-failed", concurrency, None)


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
@click.option(
    "--judge-repeats",
    type=click.IntRange(min=1, max=100),
    default=1,
    show_default=True,
    help="Ask each LLM judge this many times per rollout.",
)
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
            _status(r),
            f"{r['completed']}/{r['total']}",
            r["failed"],
            r["cost_usd"],
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
            click.echo(_stalled(r["run_id"]))


def _status(run_: dict[str, Any]) -> str:
    return "stalled" if run_.get("runner") == "gone" else str(run_["status"])


def _stalled(run_id: str) -> str:
    return (
        f"Run {run_id} is marked running but the process running it has ended "
        f"(crashed or killed): {RESUME_HINT.format(run=run_id)}."
    )


def _usd(value: float | None) -> str:
    """A rollout's cost: six decimals (fractions of a cent are common), '-' when unknown."""
    return "-" if value is None else f"{value:.6f}"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}ms"


def _scorer_cell(v: dict[str, Any] | None) -> str:
    if not v:
        return "-"
    if v.get("scoring_error"):
        return f"ERROR {_short(v['error'] or '', 40)}".rstrip()
    mark = {True: "pass", False: "FAIL", None: "abst"}[v["passed"]]
    score = "-" if v["score"] is None else fmt(v["score"])
    return f"{score} {mark}"


def _table_rows(data: dict[str, Any]) -> tuple[list[list[Any]], list[str]]:
    names = data["scorer_names"]
    headers = ["case", "epoch", "score", "reward", "latency", "tokens", "cost", *names, "error"]
    rows = []
    for r in data["rollouts"]:
        outcome = r["status"] if r["status"] == "failed" else "ok"
        rows.append(
            [
                r["case_id"],
                r["epoch"],
                fmt(r["score"]),
                fmt(r["reward"]),
                _ms(r["latency_s"]),
                fmt(r["tokens"]),
                _usd(r["cost_usd"]),
                *(_scorer_cell(r["verdicts"].get(n)) for n in names),
                _short(r["error"], 60) if r["error"] else ("-" if outcome == "ok" else outcome),
            ]
        )
    s = data["summary"]
    rows.append(
        [
            "average",
            "",
            fmt(s["mean_score"]),
            fmt(s["mean_reward"]),
            _ms(s["mean_latency_s"]),
            fmt(s["mean_tokens"]),
            _usd(s["mean_cost_usd"]),
            *(fmt(data["scorers"][n]["mean"]) for n in names),
            "",
        ]
    )
    return rows, headers


def _footer(data: dict[str, Any]) -> list[str]:
    s = data["summary"]
    run_ = data["run"]
    lines = [
        f"{s['completed']} completed, {s['failed']} failed"
        + (f", {s['pending']} pending" if s["pending"] else "")
        + f" of {run_['total']} · status {run_['status']}",
        f"target pass rate (score ≥ 0.7): {pct(s['target_pass_rate'])}"
        if s["mean_score"] is not None
        else "target pass rate: - (the target reported no scores)",
        f"latency p50 {_ms(s['latency_p50_s'])} · p95 {_ms(s['latency_p95_s'])} · p99 {_ms(s['latency_p99_s'])}",
        f"tokens {s['prompt_tokens']} in + {s['completion_tokens']} out · cost "
        + ("-" if s["cost_usd"] is None else f"${s['cost_usd']:.4f}"),
    ]
    for name in data["scorer_names"]:
        sc = data["scorers"][name]
        lo, hi = sc["pass_interval"]
        line = (
            f"{name}: mean {fmt(sc['mean'])} · pass {pct(sc['pass_rate'])} "
            f"(95% CI {pct(lo)}–{pct(hi)}, n={sc['scored']})"
        )
        if sc["abstained"]:
            line += f" · {sc['abstained']} abstained"
        if sc["errors"]:
            line += f" · {sc['errors']} scoring errors"
        if sc["repeat_sd"] is not None:
            line += f" · repeat sd {fmt(sc['repeat_sd'])}"
        pk = sc.get("pass_at_k")
        if pk and pk["k"] > 1:
            line += (
                f" · pass@{pk['k']} {pct(pk['pass_at_k'])} · pass^{pk['k']} {pct(pk['pass_hat_k'])}"
            )
        if sc["judge_prompt_tokens"] or sc["judge_completion_tokens"] or sc["judge_cost_usd"]:
            line += (
                f" · judge tokens {sc['judge_prompt_tokens']}+{sc['judge_completion_tokens']}"
                f" · judge cost ${sc['judge_cost_usd']:.4f}"
            )
        lines.append(line)
    failed_by_case: dict[str, set[str]] = {}
    for r in data["rollouts"]:
        for name, v in r["verdicts"].items():
            if v["failed_criteria"]:
                failed_by_case.setdefault(r["case_id"], set()).update(
                    f"{name}: {c}" for c in v["failed_criteria"]
                )
    for case_id, crit in failed_by_case.items():
        lines.append(f"failed criteria of {case_id}: " + "; ".join(sorted(crit)))
    if data["flaky_cases"]:
        lines.append(
            "flaky cases: "
            + ", ".join(
                f"{c['case_id']} ({c['scorer']}: passed epochs {fmt(c['passed_epochs'])}, failed {fmt(c['failed_epochs'])})"
                for c in data["flaky_cases"]
            )
        )
    if data["judge_disagreements"]:
        lines.append(
            "judge repeats disagree on: "
            + ", ".join(
                f"{d['case_id']}#{d['epoch']} ({d['scorer']} {d['passes']} pass/{d['fails']} fail)"
                for d in data["judge_disagreements"]
            )
        )
    for a in data["agreements"]:
        lines.append(
            f"agreement {a['scorer_a']} vs {a['scorer_b']}: {pct(a['percent'])} of {a['n']} · "
            f"kappa {fmt(a['kappa'])}"
            + (f" · {a['scoring_errors']} scoring errors left out" if a["scoring_errors"] else "")
        )
    return lines


def _csv(rows: list[dict[str, Any]], names: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    from trialbook.projections.eval_queries import ROLLOUT_KEYS

    # every rollout column but the payloads (outputs, blobs, the model name)
    keys = [k for k in ROLLOUT_KEYS if k not in ("output", "output_blob", "trace_blob", "model")]
    w.writerow(
        [
            *keys,
            *(f"{n}:score" for n in names),
            *(f"{n}:passed" for n in names),
            *(f"{n}:error" for n in names),
        ]
    )
    for r in rows:
        vs = r["verdicts"]
        w.writerow(
            [("" if r[k] is None else r[k]) for k in keys]
            + [("" if vs.get(n, {}).get("score") is None else vs[n]["score"]) for n in names]
            + [("" if vs.get(n, {}).get("passed") is None else vs[n]["passed"]) for n in names]
            + [(vs[n]["error"] or "") if vs.get(n, {}).get("scoring_error") else "" for n in names]
        )
    return buf.getvalue()


def _markdown(rows: list[list[Any]], headers: list[str]) -> str:
    def cell(v: Any) -> str:
        return (v if isinstance(v, str) else fmt(v)).replace("|", "\\|")

    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out.extend("| " + " | ".join(cell(v) for v in r) + " |" for r in rows)
    return "\n".join(out)


def render_plot(data: dict[str, Any], encoding: str | None = None) -> str:
    """The run's score and latency distributions (``eval show --plot``), as text lines."""
    import sys

    from trialbook.shell.textplot import can_draw, histogram_lines

    drawable = can_draw(encoding if encoding is not None else sys.stdout.encoding)
    rollouts = data["rollouts"]
    scores = [r["score"] for r in rollouts]
    latencies = [r["latency_s"] for r in rollouts]
    scored = sum(1 for s in scores if s is not None)
    timed = sum(1 for s in latencies if s is not None)
    out = [f"Scores of {scored:,} scored rollout{'s' if scored != 1 else ''}:"]
    out += ["  " + line for line in histogram_lines(scores, fmt, unicode=drawable)]
    out.append(f"Latency of {timed:,} rollout{'s' if timed != 1 else ''}:")
    out += ["  " + line for line in histogram_lines(latencies, _ms, unicode=drawable)]
    return "\n".join(out)


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
) -> None:
    """Show RUN's rollouts, their scores and verdicts, and the run's totals.

    \b
    Examples:
      trialbook eval show RUN
      trialbook eval show RUN --plot
      trialbook eval show RUN --case q1
      trialbook eval show RUN --csv > run.csv
    """
    if sum((as_json, as_csv, as_markdown)) > 1:
        raise click.UsageError("choose one of --json, --csv and --markdown")
    if show_plot and (as_json or as_csv or as_markdown or case_id is not None):
        raise click.UsageError(
            "--plot draws beside the run's table: give it without --json, --csv, --markdown or --case"
        )
    if as_of is not None and at is not None:
        raise click.UsageError("give --as-of or --at, not both")
    if case_id is not None:
        detail = evals.case_report(
            app.ledger, run_id, case_id, all_verdicts=all_verdicts, at=at, as_of=as_of
        )
        if as_json:
            echo_json(detail)
            return
        for r in detail["rollouts"]:
            click.echo(
                f"{case_id} epoch {r['epoch']} (attempt {r['attempt']}): {r['status']} · "
                f"latency {_ms(r['latency_s'])} · score {fmt(r['score'])}"
                + (f" · error {r['error']}" if r["error"] else "")
            )
            if r["output"] is not None:
                click.echo(f"  output: {_short(json.dumps(r['output'], ensure_ascii=False), 200)}")
        rows = []
        for v in detail["verdicts"]:
            head = [v["scorer"], v["epoch"], v["repeat"], fmt(v["score"]), fmt(v["passed"])]
            if not v["evaluation"]:
                rows.append([*head, "-", "-", v["error"] or v["result"] or ""])
            for c in v["evaluation"]:
                rows.append([*head, c["criteria"], fmt(c["passed"]), c["reason"]])
        if rows:
            click.echo(
                table(
                    rows,
                    ["scorer", "epoch", "repeat", "score", "passed", "criterion", "ok", "reason"],
                    align="lrrrllll",
                )
            )
        return
    data = evals.run_report(app.ledger, run_id, all_verdicts=all_verdicts, at=at, as_of=as_of)
    run_ = data["run"]
    if as_json:
        echo_json(data)
        return
    if as_csv:
        click.echo(_csv(data["rollouts"], data["scorer_names"]), nl=False)
        return
    rows, headers = _table_rows(data)
    if as_markdown:
        click.echo(_markdown(rows, headers))
        click.echo("")
        for line in _footer(data):
            click.echo(f"- {line}")
        return
    click.echo(
        f"Run {run_id} · suite {run_['suite']} v{run_['suite_version']} · target "
        f"{run_['target'].get('kind', '?')} · {run_['epochs']} epoch(s) · {_status(run_)}"
    )
    if run_.get("runner") == "gone" and as_of is None and at is None:
        click.echo(_stalled(run_id))
    click.echo(table(rows, headers, align="lr" + "r" * 5 + "l" * (len(headers) - 7)))
    for line in _footer(data):
        click.echo(line)
    if show_plot:
        click.echo("\n" + render_plot(data))
    if all_verdicts and data.get("verdicts"):
        click.echo("")
        click.echo(
            table(
                [
                    [
                        v["position"],
                        v["scorer"],
                        v["case_id"],
                        v["epoch"],
                        v["repeat"],
                        fmt(v["score"]),
                        fmt(v["passed"]),
                        "yes" if v["latest"] else "no",
                        v["recorded_at"],
                    ]
                    for v in data["verdicts"]
                ],
                [
                    "position",
                    "scorer",
                    "case",
                    "epoch",
                    "repeat",
                    "score",
                    "passed",
                    "latest",
                    "recorded",
                ],
            )
        )


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
@json_option
@pass_app
def compare(
    app: App, run_a: str, run_b: str, scorer: str | None, into_ab: str | None, as_json: bool
) -> None:
    """Pair RUN_B's rollouts with RUN_A's by case and epoch: wins, losses, regressions and paired statistics.

    \b
    Examples:
      trialbook eval compare baseline candidate
      trialbook eval compare baseline candidate --into-ab model-swap
    """
    data = evals.compare_runs(app.ledger, run_a, run_b, scorer=scorer, into_ab=into_ab)
    if as_json:
        echo_json(data)
        return
    va, vb = data["variants"]
    click.echo(
        f"{run_b} against {run_a} on {data['basis']} · {data['pairs']} pairs"
        + (
            f" ({data['only_in_a']} only in {run_a}, {data['only_in_b']} only in {run_b})"
            if data["only_in_a"] or data["only_in_b"]
            else ""
        )
    )
    click.echo(
        f"wins {data['wins']} · losses {data['losses']} · ties {data['ties']} · pass rate "
        f"{pct(data['a_pass_rate'])} (n={data['a_scored']}) → "
        f"{pct(data['b_pass_rate'])} (n={data['b_scored']})"
    )
    for label in ("regressions", "improvements"):
        items = data[label]
        if items:
            click.echo(f"{label}: " + ", ".join(f"{p['case_id']}#{p['epoch']}" for p in items))
    if data["failed_rollouts"]:
        click.echo(
            "failed rollouts (target errors, not scored, left out of the pairs): "
            + ", ".join(
                f"{f['case_id']}#{f['epoch']} in {f['failed_in']}" for f in data["failed_rollouts"]
            )
        )
    errs = data["scoring_errors"]
    if errs["a"] or errs["b"]:
        click.echo(f"scoring errors left out: {errs['a']} in {run_a}, {errs['b']} in {run_b}")
    fixed = data["paired"]
    if fixed["pairs"]:
        ci = fixed["ci"]
        click.echo(
            f"paired difference: {fmt(fixed['lift'])} over {fixed['pairs']} pairs · "
            + (
                f"{fixed['level']:.0%} CI {fmt(ci[0])} to {fmt(ci[1])} (paired t, fixed-horizon)"
                if ci
                else f"CI - ({fixed['note']})"
            )
        )
    analysis = data["analysis"]
    if analysis is not None:
        b_row = next(v for v in analysis["variants"] if not v["is_control"])
        paired = b_row.get("paired") or {}
        ci = paired.get("ci") or b_row.get("ci")
        click.echo(
            f"always-valid {analysis['metric']}: lift {fmt(paired.get('lift', b_row.get('lift')))} "
            f"(CI {fmt(ci[0]) if ci else '-'} to {fmt(ci[1]) if ci else '-'}) · "
            f"p {fmt(paired.get('p_value', b_row.get('p_value')))} · {b_row.get('method') or ''}".rstrip(
                " ·"
            )
        )
        rec = analysis["recommendation"]
        click.echo(
            f"recommendation: {rec['decision']}"
            + (f" {rec['variant']}" if rec.get("variant") else "")
            + f" — {rec['reason']}"
        )
    if into_ab is not None:
        fed = data["into_ab"]
        click.echo(
            f"A/B test {into_ab}: {fed['added']} results added ({fed['skipped']} already there); "
            f"see `trialbook ab analyze {into_ab}`."
        )
