"""``trialbook ask``: one plain-language request, non-interactively (writes only with ``--yes``)."""

from __future__ import annotations

import click

from trialbook.shell.app import App
from trialbook.shell.commands.common import pass_app

WRITE_REFUSED = "this writes: → {line}; re-run with --yes"
INCOMPLETE = (
    "{reason} — needs {needs}{allowed}; complete the command and run it: trialbook {prefill}…"
)


@click.command()
@click.argument("request", nargs=-1, required=True)
@click.option(
    "--yes", "-y", is_flag=True, help="Run the request even if it writes (appends events)."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Ask the command it becomes for JSON (adds --json when that command takes it).",
)
@pass_app
def ask(app: App, request: tuple[str, ...], yes: bool, as_json: bool) -> None:
    """Run one plain-language REQUEST: reads at once, writes only with --yes.

    The request is translated by the same rules as the shell's, echoed on stderr as
    the command it became (→ …), and checked: numbers must be written in the
    request, names must exist. A request that writes is refused without --yes; one
    missing a value prints the command to complete; both exit 1 and record nothing.
    Events written carry the request, the parser tier and the command in their
    metadata.

    \b
    Examples:
      trialbook ask "what tests do I have?"
      trialbook ask "summarize checkout-flow" --json
      trialbook ask "add a warm result to checkout-flow: 12 calls, 11 ok, took 40s" --yes
    """
    from trialbook.shell.line_checks import resolve_command
    from trialbook.shell.llm_tier import interpret
    from trialbook.shell.repl import invoke, refusal_hints

    text = " ".join(request).strip()
    t = interpret(text, app.vocabulary())
    if t.status == "refused":
        click.secho(f"Error: {t.reason}", fg="red", err=True)
        for line in refusal_hints(t):
            click.echo(line, err=True)
        raise click.exceptions.Exit(1)
    if t.status == "incomplete":
        raise click.ClickException(
            INCOMPLETE.format(
                reason=t.reason,
                needs=", ".join(t.missing),
                allowed=f" (one of: {', '.join(t.suggestions[:8])})" if t.suggestions else "",
                prefill=t.prefill,
            )
        )
    argv = list(t.argv)
    if as_json and "--json" not in argv:
        _, cmd, _, _ = resolve_command(argv)
        if any("--json" in getattr(p, "opts", ()) for p in cmd.params):
            argv.append("--json")
    line = t.line if argv == list(t.argv) else f"{t.line} --json"
    click.secho(f"→ {line}", fg="cyan", err=True)
    if t.writes and not yes:
        raise click.ClickException(WRITE_REFUSED.format(line=line))
    app.set_command(line, tier="ask", input_text=text, parser_tier=t.tier)
    invoke(app, argv)
