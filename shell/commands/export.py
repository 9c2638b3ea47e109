"""``trialbook export``: recorded sessions written out for other tools (``export dataset``).

Thin: :func:`trialbook.ledger.datasets.export_dataset` (``tb.export_dataset``)
checks and builds everything; this module parses the options and prints. The
log's own export (every event, for another database) is ``trialbook events export``.
"""

from __future__ import annotations

from typing import Any

import click

from trialbook.shell.app import App
from trialbook.shell.commands.common import pass_app, stdout_dash

FORMAT_CHOICES = ("openai-chat", "tensorzero", "jsonl")

SPLIT_NEEDS_OUTPUT = (
    "--split needs --output FILE: each split goes to its own file, named after FILE "
    "(data.jsonl → data.train.jsonl, data.val.jsonl)"
)


@click.group("export")
def export() -> None:
    """Write recorded sessions out for other tools (fine-tuning, prompt optimisers).

    The log itself (every event, to copy into another database) is `trialbook events export`.
    """


@export.command("dataset")
@click.argument("source", metavar="RUN|TEST")
@click.option(
    "--format",
    "format_",
    required=True,
    type=click.Choice(FORMAT_CHOICES),
    help="openai-chat (OpenAI's fine-tuning chat lines), tensorzero (chat datapoints), "
    "jsonl (trialbook's record, everything).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    callback=stdout_dash,
    help="Write to this file (one file per split) instead of standard output ('-': standard output).",
)
@click.option(
    "--min-score",
    type=float,
    metavar="X",
    help="Keep the sessions scoring at least X (on --scorer; needed when there are several).",
)
@click.option("--passed-only", is_flag=True, help="Keep only the sessions that passed.")
@click.option("--scorer", metavar="S", help="The scorer (or A/B score or metric) the filters read.")
@click.option(
    "--split",
    metavar="NAME=SHARE,…",
    help="Split by case, e.g. train=0.9,val=0.1 (shares sum to 1; one file per split).",
)
@click.option(
    "--seed", type=int, help="The seed of the split (default 0): the same seed, the same split."
)
@click.option(
    "--function",
    "function_name",
    metavar="NAME",
    help="tensorzero: the function_name of the datapoints (default: the suite, test or canary name).",
)
@pass_app
def dataset(
    app: App,
    source: str,
    format_: str,
    output: str | None,
    split: str | None,
    **options: Any,
) -> None:
    """Write the recorded sessions of eval run RUN, or of A/B test or canary TEST, as a dataset.

    Eval runs give each completed rollout: the case input, the trace's messages
    and tool calls, the output as the assistant's answer, and the latest verdict
    of each scorer. A/B tests and canaries give each result recorded with a
    transcript (`ab add-result --transcript FILE`). Every record carries its
    provenance: run or test, case, epoch, event position, scores (openai-chat
    lines hold only messages: their provenance goes to FILE.provenance.jsonl,
    line for line). Splits are by case: one case is never in two splits, and
    the same seed gives the same split in every export. Nothing is recorded.

    Write `eval:NAME`, `ab:NAME` or `canary:NAME` when several have the name.

    \b
    Examples:
      trialbook export dataset 20250131-142502-7f3a9c --format openai-chat -o train.jsonl
      trialbook export dataset qa-run --format jsonl --min-score 0.8 --scorer judge:strict
      trialbook export dataset checkout-flow --format tensorzero --passed-only \\
          --split train=0.9,val=0.1 --seed 7 -o checkout.jsonl
    """
    from trialbook.ledger.datasets import lines

    if split is not None and output is None:
        raise click.UsageError(SPLIT_NEEDS_OUTPUT)
    result = app.tb.export_dataset(source, format=format_, output=output, split=split, **options)
    if output is None:  # the records on standard output, what was written on standard error
        click.echo(lines(r["record"] for r in result["records"]), nl=False)
    click.echo(summary(result), err=output is None)


def _records(n: int) -> str:
    return f"{n} record{'s' * (n != 1)}"


def summary(result: dict[str, Any]) -> str:
    """One line saying what an export wrote, and what it left out and why."""
    what = {"eval": "eval run", "ab": "A/B test", "canary": "canary"}[result["source"]["kind"]]
    text = f"Exported {_records(len(result['records']))} of {what} {result['source']['name']}"
    files = result["files"]
    if len(files) == 1 and files[0]["split"] is None:
        text += f" to {files[0]['path']}"
    elif files:
        text += " to " + ", ".join(
            f"{f['path']} ({f['split']}: {_records(f['records'])})" for f in files
        )
    skipped = ", ".join(f"{why.replace('_', ' ')} ({n})" for why, n in result["skipped"].items())
    if skipped:
        text += f"; left out: {skipped}"
    if result["traces_not_chat"]:
        n = result["traces_not_chat"]
        text += f"; {n} trace{'s were' if n != 1 else ' was'} not chat messages (exported without)"
    if not files and result["format"] == "openai-chat" and result["records"]:
        text += "; openai-chat lines hold no provenance: with --output FILE it goes to FILE.provenance.jsonl"
    return text + "."
