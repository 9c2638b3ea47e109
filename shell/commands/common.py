"""Small helpers shared by the command modules: options, parsing and output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from trialbook.shell.app import App

F = TypeVar("F", bound=Callable[..., Any])

pass_app = click.make_pass_decorator(App)

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (stable keys) instead of a table."
)


#: ``--output/-o FILE`` for commands that write a file or standard output
def stdout_dash(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--output -`` is standard output (the Unix convention), not a file named ``-``."""
    return None if value == "-" else value


output_option = click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    callback=stdout_dash,
    help="Write to this file instead of standard output ('-': standard output).",
)


def parse_key_values(values: tuple[str, ...], option: str) -> dict[str, float]:
    """``("a=1", "b=2.5")`` → ``{"a": 1.0, "b": 2.5}``; a usage error names the bad item."""
    out: dict[str, float] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(
                f"{item!r} is not KEY=VALUE, e.g. {option} latency_p95=1.2", param_hint=option
            )
        if key in out:
            raise click.BadParameter(
                f"{key!r} is given twice ({out[key]:g} and {raw.strip()}); give it once",
                param_hint=option,
            )
        try:
            out[key] = float(raw)
        except ValueError:
            raise click.BadParameter(
                f"{item!r}: {raw!r} is not a number", param_hint=option
            ) from None
    return out


def parse_list(value: str) -> tuple[str, ...]:
    """``"cold, warm"`` → ``("cold", "warm")`` (empty items dropped)."""
    return tuple(x.strip() for x in value.split(",") if x.strip())
