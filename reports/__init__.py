"""Decision reports: a grounded document for an A/B test, an eval run or a canary.

``build(ledger, kind, name, …)`` returns the report as a plain dict (the JSON
shape docs/reports.md documents, ``schema_version`` 1); :mod:`.markdown`,
:mod:`.html` and :mod:`.jsondoc` render it. Every figure cites the event
positions it rests on (see :mod:`.common`). The CLI (``trialbook report``) and
``tb.report`` call :func:`build`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trialbook.reports.common import KINDS, SCHEMA_VERSION, check

if TYPE_CHECKING:
    from trialbook.ledger import Ledger

FORMATS = ("markdown", "json", "html")

__all__ = ["FORMATS", "KINDS", "SCHEMA_VERSION", "build", "check", "render"]


def build(
    ledger: Ledger,
    kind: str,
    name: str,
    *,
    baseline: str | None = None,
    at: int | None = None,
    as_of: str | None = None,
    latency_budget: float | None = None,
    cost_budget: float | None = None,
) -> dict[str, Any]:
    """The report of ``kind`` (``ab``, ``eval`` or ``canary``) on ``name``, now or at ``at``/``as_of``.

    ``baseline`` (eval runs only) is the run compared against; the budgets are the
    most the candidate may take: p95 latency (seconds, or the A/B ``completion_time``
    unit) and mean cost per result or rollout. Raises ``InvalidCommand`` or
    ``NotFound`` with a one-line message.
    """
    import math

    from trialbook.domain.errors import InvalidCommand
    from trialbook.ledger.times import utc_text

    if kind not in KINDS:
        raise InvalidCommand(f"unknown report kind {kind!r}; use one of {', '.join(KINDS)}")
    if at is not None and as_of is not None:
        raise InvalidCommand("give --as-of TIME or --at POSITION, not both")
    if as_of is not None:
        as_of = utc_text(as_of)
    if baseline is not None and kind != "eval":
        raise InvalidCommand(
            "--baseline is for eval reports: trialbook report eval RUN --baseline RUN"
        )
    budgets = {"latency_budget": latency_budget, "cost_budget": cost_budget}
    for key, value in budgets.items():
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            option = "--" + key.replace("_", "-")
            raise InvalidCommand(f"{option}: {value!r} is not a budget; give a finite number ≥ 0")
    if kind == "ab":
        from trialbook.reports import ab

        doc = ab.build(ledger, name, at=at, as_of=as_of, **budgets)
    elif kind == "eval":
        from trialbook.reports import evals

        doc = evals.build(ledger, name, baseline=baseline, at=at, as_of=as_of, **budgets)
    else:
        from trialbook.reports import canary

        doc = canary.build(ledger, name, at=at, as_of=as_of, **budgets)
    doc["generated_by"]["tool_version"] = _tool_version()
    return doc


def _tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trialbook")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without installing
        return "unknown"


def render(doc: dict[str, Any], fmt: str) -> str:
    """The report as ``markdown``, ``json`` or ``html`` text."""
    from trialbook.domain.errors import InvalidCommand

    if fmt == "json":
        from trialbook.reports.jsondoc import render as out
    elif fmt == "markdown":
        from trialbook.reports.markdown import render as out
    elif fmt == "html":
        from trialbook.reports.html import render as out
    else:
        raise InvalidCommand(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return out(doc)
