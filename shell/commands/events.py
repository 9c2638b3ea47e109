"""``trialbook events`` (the log itself) and ``trialbook projections`` (its read models)."""

from __future__ import annotations

import time
from typing import Any

import click

from shell.app import App
from shell.commands.common import json_option, pass_app
from shell.render import echo_json, table


@click.group()
def events() -> None:
    """The event log: every change ever recorded, in order.

    \b
    Examples:
      trialbook events log --limit 5
      trialbook events log --stream ab:checkout-flow --type ResultAdded
    """


def _brief(data: dict[str, Any], width: int = 60) -> str:
    text = ", ".join(f"{k}={v}" for k, v in data.items() if not isinstance(v, (dict, list)) or v)
    return text if len(text) <= width else text[: width - 1] + "…"


@events.command("log")
@click.option("--stream", help="Only this stream, e.g. ab:checkout-flow.")
@click.option("--type", "type_", help="Only this event type, e.g. ResultAdded.")
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True,
              help="Show the last N matching events (0 for all).")
@json_option
@pass_app
def log(app: App, stream: str | None, type_: str | None, limit: int, as_json: bool) -> None:
    """Show what was recorded, oldest first (the last --limit events)."""
    store = app.ledger.store
    where, params = [], []
    if stream:
        where.append("stream_id = ?")
        params.append(stream)
    if type_:
        where.append("type = ?")
        params.append(type_)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT position FROM events {clause} ORDER BY position DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    positions = sorted(r[0] for r in store.conn.execute(sql, params))
    found = [store.get(p) for p in positions]
    recorded = [e for e in found if e is not None]
    if as_json:
        echo_json([e.to_dict() for e in recorded])
        return
    if not recorded:
        click.echo("No events match." if where else "The log is empty.")
        return
    rows = [
        [e.position, e.recorded_at[:19].replace("T", " "), e.stream_id, e.version, e.type,
         e.metadata.get("actor", "-"), _brief(e.data)]
        for e in recorded
    ]
    click.echo(table(rows, ["#", "recorded (UTC)", "stream", "v", "type", "actor", "data"], align="rllrlll"))


@click.group()
def projections() -> None:
    """Read models folded from the log (disposable: rebuild them at any time)."""


@projections.command("rebuild")
@json_option
@pass_app
def rebuild(app: App, as_json: bool) -> None:
    """Drop every read model and fold the whole log again."""
    started = time.perf_counter()
    counts = app.ledger.rebuild_projections()
    seconds = time.perf_counter() - started
    if as_json:
        echo_json({"projections": counts, "seconds": round(seconds, 3)})
        return
    for name, n in counts.items():
        click.echo(f"Rebuilt {name}: {n} events folded.")
    click.echo(f"Done in {seconds:.2f} s.")


__all__ = ["events", "projections"]
