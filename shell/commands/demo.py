"""``trialbook demo``: record a sample A/B test in a fresh file and show what trialbook reports."""

from __future__ import annotations

import random
from pathlib import Path

import click

from trialbook.shell.app import App, data_dir
from trialbook.shell.commands.common import pass_app

DEMO_TEST = "checkout-flow"
DEMO_SUITE = "arithmetic"
DEMO_RUN = "demo-arithmetic"


def _use_db(app: App, db: str) -> None:
    """``demo --db FILE``: the demo's file, as if ``trialbook --db FILE demo`` had named it."""
    from trialbook.shell.app import resolve_db

    url, path = resolve_db(db)
    if app.db_option and (url, path) != (app.db_url, app.db_path):
        raise click.UsageError(f"--db is given twice ({app.db_name} and {db}); give it once")
    if app.tier in ("repl", "stdin") or app._ledger is not None:
        raise click.UsageError(
            "--db cannot be changed inside the shell; restart trialbook with --db"
        )
    app.db_url, app.db_path, app.explicit_db, app.db_option = url, path, True, True


def demo_path() -> Path:
    return data_dir() / "demo.db"


def record_demo(app: App, sessions: int = 40, seed: int = 7) -> None:
    """Record a realistic cold-vs-warm agent test: paired cases, warm slightly better."""
    from trialbook.domain import ab as d
    from trialbook.domain.commands import build

    rng = random.Random(seed)
    ledger = app.ledger
    ledger.execute(
        build(
            d.CreateTest,
            name=DEMO_TEST,
            variants=("cold", "warm"),
            metric="success",
            guardrails=(d.Guardrail.parse("completion_time:+10%"),),
            description="Checkout agent: cold start vs a warm session with cached tool schemas",
            task_id="checkout",
            category="agents",
            difficulty="medium",
            expected_results=2 * sessions,
        )
    )
    results = []
    for case in range(sessions):
        hardness = rng.random()
        for variant, skill in (("cold", 0.0), ("warm", 0.12)):
            calls = rng.randint(8, 16)
            fail_p = max(0.02, 0.18 - skill / 2 + 0.1 * hardness)
            ok = sum(rng.random() > fail_p for _ in range(calls))
            success = rng.random() < 0.55 + skill + 0.3 * (1 - hardness) - 0.15
            results.append(
                d.ResultFields(
                    variant=variant,
                    session_id=f"{variant}-{case:03d}",
                    case_id=f"case-{case:03d}",
                    success=success,
                    tool_calls=calls,
                    successful_calls=ok,
                    completion_time=round(
                        rng.gauss(42 - 6 * skill * 10 / 1.2, 6) + 10 * hardness, 1
                    ),
                    messages=rng.randint(4, 12),
                    corrections=rng.choice([0, 0, 0, 1, 2]),
                    tokens=rng.randint(9_000, 16_000) - (1500 if variant == "warm" else 0),
                    cost=round(rng.uniform(0.02, 0.05), 4),
                )
            )
    ledger.execute(build(d.AddResults, test=DEMO_TEST, results=tuple(results)))


def record_eval_demo(app: App) -> None:
    """Record a small eval run: a suite of arithmetic questions against the Python target in the package."""
    import asyncio

    from trialbook.domain.evals import RegisterSuite, RunSettings, parse_price
    from trialbook.domain.suites import Case
    from trialbook.ledger.ledger import tool_version
    from trialbook.runners.demo_target import DEMO_CASES
    from trialbook.runners.eval_scoring import resolve_run_scorers
    from trialbook.runners.eval_session import SessionOptions, start_run
    from trialbook.runners.ledger_recorder import LedgerRecorder
    from trialbook.runners.targets import make_target

    recorder = LedgerRecorder(app.ledger)
    cases = tuple(Case(id=cid, input=q, expected=e) for cid, q, e in DEMO_CASES)
    recorder.handle(RegisterSuite(name=DEMO_SUITE, cases=cases, source="runners/demo_target.py"))
    scoring = resolve_run_scorers(["equals"], cases, {})
    model, price = parse_price("*=0.15/0.6")
    settings = RunSettings(
        epochs=2, concurrency=4, timeout_s=10, retries=0, prices={model: price}, scorers=("equals",)
    )

    async def run() -> None:
        try:
            await start_run(
                recorder,
                recorder.suite_state(DEMO_SUITE),
                make_target("python:trialbook.runners.demo_target:answer"),
                run_id=DEMO_RUN,
                trialbook_version=tool_version(),
                settings=settings,
                options=SessionOptions(scorers=scoring, preflight=False),
            )
        finally:
            await scoring.aclose()

    asyncio.run(run())


@click.command()
@click.option(
    "--sessions",
    type=click.IntRange(min=3, max=10_000),
    default=40,
    show_default=True,
    help="Sessions per variant.",
)
@click.option(
    "--eval/--no-eval",
    "with_eval",
    default=True,
    show_default=True,
    help="Also record a small eval run (a Python target shipped with trialbook) and show its table.",
)
@click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False),
    help="Write the demo to this new file (the same as `trialbook --db FILE demo`).",
)
@click.pass_context
@pass_app
def demo(app: App, ctx: click.Context, sessions: int, with_eval: bool, db: str | None) -> None:
    """Record a sample A/B test in a fresh database file and show its summary and analysis.

    Without --db it writes ~/.local/share/trialbook/demo.db (replacing an older
    demo file), never your main database (not $TRIALBOOK_DB either).

    \b
    Example:
      trialbook demo
    """
    from trialbook.domain.errors import StateConflict

    if db is not None:
        _use_db(app, db)
    if not app.db_option:
        app.db_path, app.explicit_db, app.db_url = demo_path(), False, None
        app.db_path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(app.db_path) + suffix).unlink(missing_ok=True)
    elif (app.db_url or app.db_path.exists()) and app.ledger.store.head()[0] > 0:
        raise StateConflict(
            f"{app.db_name} already has events; the demo needs a fresh file (pass a new --db)"
        )
    record_demo(app, sessions=sessions)
    click.echo(
        f"Recorded a sample A/B test '{DEMO_TEST}' with {2 * sessions} sessions in {app.db_path}\n"
    )
    from trialbook.shell.commands.ab import summary

    ctx.invoke(summary, name=DEMO_TEST, as_json=False)
    from trialbook.shell.commands.ab_analysis import analyze_test, render_report

    click.echo("\n" + render_report(analyze_test(app.ledger, DEMO_TEST)))
    if with_eval:
        record_eval_demo(app)
        from trialbook.shell.commands.eval import show

        click.echo(
            f"\nRecorded a sample eval run '{DEMO_RUN}' (suite '{DEMO_SUITE}', a Python target, 2 epochs):\n"
        )
        ctx.invoke(show, run_id=DEMO_RUN)
    click.echo(
        f"\nExplore it:\n  trialbook --db {app.db_path} ab show {DEMO_TEST}\n"
        f"  trialbook --db {app.db_path} ab analyze {DEMO_TEST} --history\n"
        + (
            f"  trialbook --db {app.db_path} eval show {DEMO_RUN} --case arith-00\n"
            if with_eval
            else ""
        )
        + f"  trialbook --db {app.db_path} events log\n  trialbook --db {app.db_path}   (the interactive shell)"
    )
