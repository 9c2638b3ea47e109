"""``trialbook eval suite``: versioned suites of eval cases (JSONL or YAML)."""

from __future__ import annotations

import json

import click

from trialbook.ledger import evals
from trialbook.shell.app import App
from trialbook.shell.commands.common import json_option, pass_app
from trialbook.shell.commands.eval_render import short
from trialbook.shell.render import echo_json, table


@click.group("suite")
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
                short(text, 60),
                short(json.dumps(c["expected"]), 30) if c["expected"] is not None else "-",
                len(c["criteria"]),
                ",".join(str(s) for s in c["scorers"]) or "-",
            ]
        )
    click.echo(table(rows, ["case", "input", "expected", "criteria", "scorers"], align="lllrl"))
