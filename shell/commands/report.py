"""``trialbook report``: a decision report on an A/B test, an eval run or a canary.

Thin: ``tb.report`` builds the document (``reports/``), this renders it to
standard output or a file, and ``--check`` turns it into an exit status for CI.
"""

from __future__ import annotations

from typing import Any

import click

from trialbook.shell.app import App
from trialbook.shell.commands.common import output_option, pass_app
from trialbook.shell.commands.events import ISO_TIME
from trialbook.shell.render import emit
from trialbook.shell.unit_options import COST, DURATION

#: exit status of ``--check`` when the report is not ready (errors exit 2)
NOT_READY = 1


class ReportError(click.ClickException):
    """A report that could not be built (an unknown name, bad options): exit 2, not ``--check``'s 1."""

    exit_code = 2


def _options(fn: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--format", "fmt", type=click.Choice(["markdown", "json", "html"]),
                default="markdown", show_default=True, help="What to write.",
            ),
            output_option,
            click.option("--as-of", "as_of", type=ISO_TIME, help="The report as it was at this time (UTC)."),
            click.option("--at", "at", type=click.IntRange(min=0), metavar="POSITION",
                         help="The report as it was right after this log position."),
            click.option("--latency-budget", type=DURATION, metavar="SECONDS",
                         help="Most p95 latency the candidate may have, in seconds: 45, 45s, 2min (A/B: completion_time units)."),
            click.option("--cost-budget", type=COST, metavar="USD",
                         help="Most mean cost per result or rollout the candidate may have, in US dollars: 0.02, $0.02, 2c."),
            click.option("--check", is_flag=True,
                         help="Exit 0 only if the recommendation is ship and no criterion is a gap (else 1, saying why; errors exit 2)."),
        ]
    ):  # fmt: skip
        fn = option(fn)
    return fn


def _check_output(app: App, output: str) -> None:
    """Refuse, before building anything, an --output that cannot be written or is the log."""
    from pathlib import Path

    path = Path(output)
    if not path.parent.is_dir():
        raise ReportError(f"--output: directory {path.parent} does not exist; create it first")
    if app.db_url is None:  # writing over the SQLite file destroyed the log
        db = app.db_path.resolve()
        if path.resolve() in {
            db,
            *(db.with_name(db.name + e) for e in ("-wal", "-shm", "-journal")),
        }:
            raise ReportError(
                f"--output: {output} is the trialbook database (or its journal); name another file"
            )


def _run(
    app: App, kind: str, name: str, fmt: str, output: str | None, check: bool, **options: Any
) -> None:
    from trialbook.domain.errors import DomainError
    from trialbook.store.errors import StoreError

    if output is not None:
        _check_output(app, output)
    try:
        report = app.tb.report(kind, name, **options)
    except (DomainError, StoreError) as e:
        from trialbook.shell.group import _with_names  # "did you mean", as every command says it

        raise ReportError(_with_names(click.get_current_context(), str(e))) from e
    text = report.render(fmt)
    try:
        emit(text, output, f"the {kind} report on {name}")
    except OSError as e:
        raise ReportError(f"--output: cannot write {output}: {e.strerror}") from None
    if check:
        verdict = report.check
        click.echo(f"check {'passed' if verdict.passed else 'failed'}: {verdict.reason}", err=True)
        if not verdict.passed:
            raise click.exceptions.Exit(NOT_READY)


@click.group()
def report() -> None:
    """Decision reports: scope, a readiness matrix, the recommendation, figures citing their events.

    \b
    Examples:
      trialbook report ab checkout-flow
      trialbook report eval cand --baseline base --format html --output report.html
      trialbook report canary router-v2 --format json --check
    """


@report.command("ab")
@click.argument("name")
@_options
@pass_app
def ab_cmd(app: App, name: str, fmt: str, output: str | None, check: bool, **options: Any) -> None:
    """The decision report of A/B test NAME.

    \b
    Examples:
      trialbook report ab checkout-flow --format html --output checkout.html
      trialbook report ab checkout-flow --as-of 2025-03-03T10:00Z --format json
      trialbook report ab checkout-flow --check --latency-budget 45
    """
    _run(app, "ab", name, fmt, output, check, **options)


@report.command("eval")
@click.argument("run")
@click.option(
    "--baseline",
    metavar="RUN",
    help="The baseline run to compare RUN (the candidate) against, paired by case and epoch. "
    "Without it the report has a gap.",
)
@_options
@pass_app
def eval_cmd(app: App, run: str, fmt: str, output: str | None, check: bool, **options: Any) -> None:
    """The decision report of eval run RUN (against --baseline RUN).

    RUN is the candidate and --baseline the baseline: `report eval CAND
    --baseline BASE` reports what `eval compare BASE CAND` compares (that
    command takes the baseline first).

    \b
    Examples:
      trialbook report eval cand --baseline base
      trialbook report eval cand --baseline base --format json --check
    """
    _run(app, "eval", run, fmt, output, check, **options)


@report.command("canary")
@click.argument("name")
@_options
@pass_app
def canary_cmd(
    app: App, name: str, fmt: str, output: str | None, check: bool, **options: Any
) -> None:
    """The decision report of canary NAME.

    \b
    Examples:
      trialbook report canary router-v2 --format html --output canary.html
      trialbook report canary router-v2 --check
    """
    _run(app, "canary", name, fmt, output, check, **options)
