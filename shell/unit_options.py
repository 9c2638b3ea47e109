"""click parameter types for amounts typed with units: ``2min``, ``1.5k``, ``$0.03``.

Thin wrappers over :mod:`trialbook.domain.units`, so the CLI, the REPL and the
plain-language parser read the same text the same way; a bad value is click's
one-line ``Invalid value for '--tokens': …`` naming the accepted forms.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import click

from trialbook.domain import units


class UnitType(click.ParamType):
    """A value read by one of :mod:`domain.units`' parsers.

    A plain number (``-2.5``, ``nan``, a 23-digit count) is passed on as the number it
    is, so the domain's own bounds name the field ("completion_time: Input should be
    greater than or equal to 0"), as they did before units were accepted.
    """

    def __init__(self, name: str, parse: Callable[[str], Any], plain: Callable[[str], Any]) -> None:
        self.name = name
        self._parse = parse
        self._plain = plain

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value  # a default, or a value passed from Python
        try:
            return self._plain(value)
        except ValueError:
            pass
        try:
            return self._parse(value)
        except units.UnitError as e:
            self.fail(str(e), param, ctx)


def _whole(text: str) -> int:
    if not re.fullmatch(r"\s*[-+]?[0-9]+\s*", text):
        raise ValueError(text)
    return int(text)


#: seconds: ``45``, ``45s``, ``2min``, ``1h30m``, ``1.5 minutes``
DURATION = UnitType("duration", units.parse_duration, float)
#: a whole token count: ``1200``, ``1,200``, ``1.5k``, ``2M``
TOKENS = UnitType("tokens", units.parse_tokens, _whole)
#: US dollars: ``0.03``, ``$0.03``, ``3c``
COST = UnitType("cost", units.parse_cost, float)

COMPLETION_TIME_HELP = "Time to complete: 40 (seconds), 40s, 2min, 1h30m."
TOKENS_HELP = "Tokens used: 1200, 1,200, 1.5k, 2M."
COST_HELP = "Cost in US dollars: 0.03, $0.03, 3c."
