"""``trialbook events`` (the log itself) and ``trialbook projections`` (its read models).

``events verify`` checks the hash chain without opening the ledger (it only
reads, through a connection of its own); ``events export`` and ``events
import`` move the log between files as JSONL in the format of
``store.verify.export_line`` (see docs/audit.md).
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TextIO

import click

from trialbook.ledger.times import utc_text
from trialbook.shell.app import App
from trialbook.shell.commands.common import json_option, output_option, pass_app
from trialbook.shell.render import echo_json, table

EXPORT_BATCH = 10_000
NO_DATABASE = "no trialbook database at {path}; pass one with --db"


# --------------------------------------------------------------------------- time options


class IsoTime(click.ParamType):
    """A click type for ISO 8601 times (``2025-03-03``, ``2025-03-03T10:12``, ``…Z``, ``…+01:00``)."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from trialbook.domain.errors import InvalidCommand

        try:
            return utc_text(str(value))
        except InvalidCommand as e:
            self.fail(str(e), param, ctx)


ISO_TIME = IsoTime()


# --------------------------------------------------------------------------- events


@click.group()
def events() -> None:
    """The event log: every change ever recorded, in order, hash-chained.

    \b
    Examples:
      trialbook events log --limit 5
      trialbook events log --stream ab:checkout-flow --type ResultAdded --since 2025-03-01
      trialbook events show 12
      trialbook events verify
      trialbook events export --output log.jsonl
      trialbook --db copy.db events import log.jsonl
    """


def _brief(data: dict[str, Any], width: int = 60) -> str:
    """An event's data as JSON on one line (empty lists and objects left out), cut at ``width``."""
    import json

    shown = {k: v for k, v in data.items() if not isinstance(v, (dict, list)) or v}
    text = json.dumps(shown, ensure_ascii=False, separators=(", ", ": "), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


#: the kinds of stream, by the prefix of their ids
STREAM_PREFIXES = ("ab:", "canary:", "suite:", "eval-run:")


def _check_stream(conn: sqlite3.Connection, stream: str) -> None:
    """Refuse a stream the log has never written to, suggesting the stream id meant.

    ``checkout-flow`` is a test's name; its stream is ``ab:checkout-flow``.
    """
    from trialbook.domain.errors import InvalidCommand
    from trialbook.plain.request import suggest
    from trialbook.projections import log_queries

    if log_queries.matching_positions(conn, stream=stream, limit=1):
        return
    named = [p + stream for p in STREAM_PREFIXES if stream in log_queries.stream_names(conn, p)]
    if not named:
        every = [p + n for p in STREAM_PREFIXES for n in log_queries.stream_names(conn, p)]
        named = suggest(stream, every) or suggest(stream.partition(":")[2] or stream, every)
    hint = (
        f"did you mean {' or '.join(named)}?"
        if named
        else "stream ids are KIND:NAME, e.g. ab:checkout-flow (see `trialbook events log`)"
    )
    raise InvalidCommand(f"--stream: no events were recorded in stream {stream!r}; {hint}")


def _line(env: dict[str, Any]) -> str:
    from trialbook.domain.canonical import canonical_json

    return canonical_json(env)


def _check_event_type(conn: sqlite3.Connection, name: str) -> None:
    """Refuse an event type that is neither known here nor in the log, suggesting the one meant."""
    import difflib

    from trialbook.domain.catalog import all_event_types
    from trialbook.domain.errors import InvalidCommand
    from trialbook.projections import log_queries

    known = all_event_types()
    if name in known or log_queries.has_event_type(conn, name):
        return  # a log written by a newer trialbook may hold types this one does not define
    by_lower = {t.lower(): t for t in known}
    close = [by_lower[name.lower()]] if name.lower() in by_lower else []
    close = close or difflib.get_close_matches(name, list(known), n=1)
    hint = f"did you mean {close[0]}?" if close else f"one of: {', '.join(sorted(known))}"
    raise InvalidCommand(f"--type: no event type is called {name!r}; {hint}")


@events.command("log")
@click.option(
    "--stream",
    metavar="KIND:NAME",
    help="Only this stream: ab:TEST (an A/B test), canary:NAME (a canary: its results and "
    "decisions), eval-run:RUN (a run's id), suite:NAME (an eval suite).",
)
@click.option("--type", "type_", help="Only this event type, e.g. ResultAdded.")
@click.option("--since", type=ISO_TIME, help="Only events recorded at or after this time (UTC).")
@click.option("--until", type=ISO_TIME, help="Only events recorded at or before this time (UTC).")
@click.option("--actor", help="Only events recorded by this actor, e.g. ann@laptop.")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Show the last N matching events (0 for all).",
)
@json_option
@click.option("--jsonl", "as_jsonl", is_flag=True, help="Print one JSON envelope per line.")
@pass_app
def log(
    app: App,
    stream: str | None,
    type_: str | None,
    since: str | None,
    until: str | None,
    actor: str | None,
    limit: int,
    as_json: bool,
    as_jsonl: bool,
) -> None:
    """Show what was recorded, oldest first (the last --limit matching events).

    Times are compared with the recorded UTC time; a time without a zone is UTC.
    Every event is in one stream, named KIND:NAME by what it is about (the
    stream column): ab:, canary:, eval-run: and suite:. There is no `canary
    log`: a canary's history is `events log --stream canary:NAME`.

    \b
    Examples:
      trialbook events log --stream ab:checkout-flow
      trialbook events log --stream canary:router-v2 --type CanaryAdvanced
      trialbook events log --stream eval-run:20250131-142502-7f3a9c --limit 0
    """
    from trialbook.projections import log_queries

    if as_json and as_jsonl:
        raise click.UsageError("give --json or --jsonl, not both")
    store = app.ledger.store
    if type_ is not None:
        _check_event_type(store.conn, type_)
    if stream is not None:
        _check_stream(store.conn, stream)
    store.refresh()  # a replicated store catches up first (a file: nothing to do)
    events = log_queries.matching_events(
        store.conn, stream=stream, type_=type_, since=since, until=until, actor=actor, limit=limit
    )
    if as_jsonl:  # streamed: memory stays flat for any number of events
        for e in events:
            click.echo(_line(e.to_dict()))
        return
    recorded = list(events)
    if as_json:
        echo_json([e.to_dict() for e in recorded])
        return
    if not recorded:
        filtered = any(v is not None for v in (stream, type_, since, until, actor))
        click.echo("No events match." if filtered else "The log is empty.")
        return
    rows = [
        [
            e.position,
            e.recorded_at[:19].replace("T", " "),
            e.stream_id,
            e.version,
            e.type,
            e.metadata.get("actor", "-"),
            _brief(e.data),
        ]
        for e in recorded
    ]
    click.echo(
        table(
            rows, ["#", "recorded (UTC)", "stream", "v", "type", "actor", "data"], align="rllrlll"
        )
    )


@events.command("show")
@click.argument("key", metavar="POSITION|EVENT_ID")
@json_option
@pass_app
def show(app: App, key: str, as_json: bool) -> None:
    """Show one event in full: envelope, metadata, data, and whether its hash matches.

    An event stored with an older schema is shown as stored and as it reads
    today (upcast); the stored row never changes.

    \b
    Examples:
      trialbook events show 12
      trialbook events show 0190b7a5-3c1e-7f00-8a4b-2f6d1c9e0a11 --json
    """
    store = app.ledger.store
    by_position = key.strip().isdigit()
    event = store.get(int(key) if by_position else key.strip())
    if event is None:
        head = store.head()[0]
        if by_position:
            raise click.ClickException(
                f"no event at position {int(key)}; the log has positions 1-{head}"
                if head
                else f"no event at position {int(key)}; the log is empty"
            )
        raise click.ClickException(
            f"no event with id {key.strip()!r}; give a position or an event id "
            "(see `trialbook events log`)"
        )
    from trialbook.domain.catalog import read_as  # every event module: only when shown

    matches = event.hash == event.expected_hash()
    version, data = read_as(event.type, event.schema_version, event.data)
    if as_json:
        echo_json(
            {
                **event.to_dict(),
                "hash_matches": matches,
                "read_as": {"schema_version": version, "data": data},
            }
        )
        return
    meta = event.metadata
    lines = [
        f"#{event.position}  {event.type} (schema v{event.schema_version})  "
        f"{event.stream_id} v{event.version}",
        f"event id     {event.event_id}",
        f"recorded at  {event.recorded_at}",
        f"actor        {meta.get('actor', '-')}",
        f"command      {meta.get('command', '-')}",
        f"tier         {meta.get('tier', '-')}",
        f"tool         {meta.get('tool_version', '-')}",
        f"prev hash    {event.prev_hash}",
        f"hash         {event.hash}"
        + ("  (matches its content)" if matches else "  (DOES NOT MATCH its content)"),
        "data:",
        _pretty(event.data),
    ]
    if version != event.schema_version:
        lines += [f"read today as schema v{version}:", _pretty(data)]
    click.echo("\n".join(lines))


def _pretty(value: Any) -> str:
    from trialbook.shell.render import to_json

    return "\n".join("  " + line for line in to_json(value).splitlines())


# --------------------------------------------------------------------------- verify


@events.command("verify")
@json_option
@pass_app
def verify(app: App, as_json: bool) -> None:
    """Check the hash chain, every stream's versions and the append-only guards.

    Exits 0 printing the head position and head hash (note the hash somewhere
    else: a later verify that ends at the same position must show the same
    hash), or 1 naming the first bad position and what is wrong: changed
    content, a missing position, a broken link, a version gap or duplicate, or
    a file whose append-only triggers were removed. Only reads the file.

    \b
    Examples:
      trialbook events verify
      trialbook events verify --json
    """
    from trialbook.store.backends import verify_database

    path = app.db_path
    if app.db_url is None and not path.is_file():
        raise click.ClickException(NO_DATABASE.format(path=path))
    started = time.perf_counter()
    report = verify_database(app.db_url or path)  # a file, or the log on the PostgreSQL server
    seconds = time.perf_counter() - started
    if as_json:
        echo_json({**report.to_dict(), "seconds": round(seconds, 3)})
    elif report.ok:
        rate = f", {report.events / seconds:,.0f} events/s" if seconds > 0 and report.events else ""
        click.echo(
            f"Verified {report.events:,} events in {report.streams:,} stream{'s' if report.streams != 1 else ''}: the hash chain, "
            f"every stream's versions and the append-only guards are intact ({seconds:.2f} s{rate})."
        )
        click.echo(f"Head: position {report.head_position}, hash {report.head_hash}")
    else:
        for p in report.problems[1:]:
            click.echo(f"position {p.position}: {p.kind}: {p.message}")
    if not report.ok:
        first = report.problems[0]
        more = len(report.problems) - 1
        tail = f"; {more} more problem{'s' if more > 1 else ''} listed" if more else ""
        if first.position == 0:
            raise click.ClickException(
                f"the file is not guarded: {first.message}; its hash chain is intact up to "
                f"position {report.head_position}{tail}"
            )
        raise click.ClickException(
            f"verification failed at position {first.position} ({first.kind}): {first.message}{tail}"
        )


# --------------------------------------------------------------------------- export and import


@events.command("export")
@click.option(
    "--since",
    "after",
    type=click.IntRange(min=0),
    default=0,
    metavar="POS",
    help="Only events after position POS (what the other copy already has).",
)
@click.option(
    "--stream", help="Only this stream (such a file is for reading: it cannot be imported)."
)
@click.option(
    "--upcast",
    is_flag=True,
    help="Write data as it reads today (old schemas upgraded), without hashes: for reading, not importing.",
)
@click.option(
    "--no-blobs",
    is_flag=True,
    help="Leave out the transcripts, outputs and traces events name by hash (events only).",
)
@output_option
@pass_app
def export(
    app: App, after: int, stream: str | None, upcast: bool, no_blobs: bool, output: str | None
) -> None:
    """Write the log as JSONL: one event per line, in position order, with its hashes.

    Each line is the canonical JSON of the whole envelope (position, event_id,
    stream_id, version, type, schema_version, data, metadata, recorded_at,
    prev_hash, hash), so export -> import -> export gives the same bytes.
    The transcripts, outputs and traces events name by hash travel with them:
    each on a line of its own before the first event that names it (a
    "blob" line, outside the hash chain; --no-blobs leaves them out).

    \b
    Examples:
      trialbook events export > log.jsonl
      trialbook events export --since 1200 --output new.jsonl
      trialbook events export --stream ab:checkout-flow --upcast
    """
    from trialbook.projections import log_queries
    from trialbook.store.blob_lines import ExportBlobs
    from trialbook.store.verify import export_line

    store = app.ledger.store
    head = store.head()[0]
    if after > head:
        raise click.ClickException(
            f"--since {after} is beyond the end of the log (position {head})"
        )
    blobs = None if no_blobs or upcast else ExportBlobs(store)  # --upcast is for reading

    def lines() -> Iterator[str]:
        for rows in log_queries.envelope_batches(
            store.conn, after=after, stream=stream, size=EXPORT_BATCH
        ):
            if upcast:
                yield "".join(_upcast_line(r) + "\n" for r in rows)
            elif blobs is not None:
                yield "".join(blobs.before(r[6]) + export_line(r) + "\n" for r in rows)
            else:
                yield "".join(export_line(r) + "\n" for r in rows)

    if output is None:
        sys.stdout.flush()
        out = sys.stdout.buffer  # UTF-8 whatever the locale: the bytes must be the same everywhere
        for chunk in lines():
            out.write(chunk.encode("utf-8"))
        out.flush()
        return
    target = Path(output)
    partial = target.with_name(target.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="\n") as f:
        n = _write(f, lines()) - (blobs.written if blobs else 0)
    partial.replace(target)
    carried = f" and {blobs.written:,} blobs" if blobs and blobs.written else ""
    click.echo(f"Exported {n:,} events{carried} to {target}.", err=True)


def _write(f: TextIO, chunks: Iterator[str]) -> int:
    n = 0
    for chunk in chunks:
        f.write(chunk)
        n += chunk.count("\n")
    return n


def _upcast_line(row: tuple[Any, ...]) -> str:
    """An event as it reads today: data upgraded to the current schema, no hashes."""
    from trialbook.domain.catalog import read_as
    from trialbook.store.base import RecordedEvent
    from trialbook.store.verify import UPCAST_KEY

    e = RecordedEvent(*row)
    version, data = read_as(e.type, e.schema_version, e.data)
    env = e.to_dict()
    del env["hash"], env["prev_hash"]
    env.update({"schema_version": version, "data": data, UPCAST_KEY: e.schema_version})
    return _line(env)


@events.command("import")
@click.argument("file", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True))
@json_option
@pass_app
def import_(app: App, file: str, as_json: bool) -> None:
    """Add the events of an `events export` file to this log, exactly as they were recorded.

    Every line's hash and link is checked before anything is written, in one
    transaction: events this log already has must be identical (they are
    skipped, so importing twice changes nothing); the rest must continue this
    log's chain. A file from a log that diverged from this one is refused.
    Read models are brought up to date in the same transaction. Blob lines
    (transcripts, outputs, traces) are checked against their hash and stored
    with the events. FILE '-' reads standard input.

    \b
    Examples:
      trialbook --db copy.db events import log.jsonl
      trialbook events export | trialbook --db copy.db events import -
    """
    from trialbook.store.blob_lines import ImportBlobs
    from trialbook.store.verify import parse_line

    name = "standard input" if file == "-" else file
    if file != "-" and not Path(file).is_file():
        raise click.ClickException(f"cannot read {file}: no such file")
    ledger = app.ledger
    blobs = ImportBlobs(ledger.store)

    def rows(stream: IO[str]) -> Iterator[tuple[Any, ...]]:
        for number, text in enumerate(stream, start=1):
            if not text.strip():
                continue
            try:
                if blobs.take(text):  # a blob line, stored in the import's transaction
                    continue
            except ValueError as e:
                raise click.ClickException(
                    f"{name} line {number} is not an exported blob: {e}; nothing was imported"
                ) from None
            try:
                row = parse_line(text)
            except ValueError as e:
                raise click.ClickException(
                    f"{name} line {number} is not an exported event: {e}; nothing was imported"
                ) from None
            blobs.saw(row[6])
            yield row

    def refold(conn: Any, head: int) -> None:
        ledger.projector.ensure(conn, head)

    from trialbook.store.errors import ChainError

    started = time.perf_counter()
    try:
        with click.open_file(file, "r", encoding="utf-8") as stream:
            skipped, inserted = ledger.store.import_envelopes(rows(stream), in_transaction=refold)
    except ChainError as e:
        raise click.ClickException(f"cannot import {name}: {e}; nothing was imported") from e
    except UnicodeDecodeError:
        raise click.ClickException(
            f"cannot import {name}: it is not UTF-8 text; nothing was imported"
        ) from None
    seconds = time.perf_counter() - started
    head, head_hash = ledger.store.head()
    missing = blobs.missing()
    if as_json:
        echo_json(
            {
                "file": name,
                "imported": inserted,
                "already_present": skipped,
                "blobs": len(blobs.carried),
                "blobs_missing": missing,
                "head_position": head,
                "head_hash": head_hash,
                "seconds": round(seconds, 3),
            }
        )
        return
    if missing:
        click.echo(
            f"warning: {len(missing):,} transcripts, outputs or traces the events name are neither "
            f"in {name} nor in this log (first {missing[0][:12]}…); they read as missing. "
            "Export with a version of trialbook that writes blob lines to carry them.",
            err=True,
        )
    if blobs.carried:
        n = len(blobs.carried)
        click.echo(f"Stored {n:,} blobs (transcripts, outputs, traces) from {name}.")
    if inserted:
        click.echo(
            f"Imported {inserted:,} events from {name} (positions {head - inserted + 1}-{head}); "
            f"{skipped:,} were already here. Read models are up to date."
        )
        click.echo(f"Head: position {head}, hash {head_hash}")
    elif skipped:
        click.echo(
            f"Nothing to import: the {skipped:,} events of {name} are already in this log "
            f"(head: position {head})."
        )
    else:
        click.echo(f"Nothing to import: {name} holds no events.")


# --------------------------------------------------------------------------- projections


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


__all__ = ["events", "projections", "ISO_TIME", "utc_text"]
