"""``trialbook view``: serve a read-only web view of the database (tests, eval runs, the log).

The web app lives in :mod:`trialbook.web` and is imported only when this
command runs, so ``trialbook --help`` never pays for it.
"""

from __future__ import annotations

import click

from trialbook.shell.app import App
from trialbook.shell.commands.common import pass_app


@click.command("view")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to serve on (0 picks a free one).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; anything but a loopback address needs --allow-remote.",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the view in your web browser.")
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback --host (the view has no login: anyone who reaches it reads everything).",
)
@pass_app
def view(app: App, port: int, host: str, open_browser: bool, allow_remote: bool) -> None:
    """Serve a read-only web view of the tests, eval runs and log, with plots; prints its URL.

    Pages: the A/B tests, a test's analysis (the numbers of `ab analyze`) with
    each variant's lift and always-valid interval after every result, its
    guardrails, alerts and decisions with their audit; eval runs, a run's
    rollouts (sortable, filterable), latency and pass rates, a case's output
    and verdicts, and the wins and losses of one run against another; the log
    with its verification. Pages refresh as new events are recorded. Nothing is
    ever written: the view answers GET only, on 127.0.0.1 unless told otherwise.

    \b
    Examples:
      trialbook view
      trialbook view --port 9000 --open
      trialbook --db team.db view --host 0.0.0.0 --allow-remote
    """
    from trialbook.web import ViewError, make_server

    try:
        server = make_server(app.db_url or app.db_path, host, port, allow_remote=allow_remote)
    except ViewError as e:
        raise click.ClickException(str(e)) from None
    url = server.url
    click.echo(f"Serving {app.db_name} read-only at {url} (Ctrl-C stops it)", err=False)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        server.server_close()
