"""``tb.report``: decision reports on A/B tests, eval runs and canaries (typed, renderable).

    report = tb.report("ab", "checkout-flow")          # or tb.report.ab("checkout-flow")
    report.recommendation.decision                     # "ship"
    [r.id for r in report.matrix if r.status == "gap"]
    open("report.html", "w").write(report.render("html"))

The document is the JSON ``trialbook report … --format json`` writes
(docs/reports.md documents its keys); ``Report.model_dump(mode="json")`` gives it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from trialbook._client import Trialbook


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReportFigure(_Model):
    """One number of a report, the event positions it rests on and how it follows from them."""

    key: str
    label: str
    value: Any
    unit: str | None
    cites: list[list[int]]
    select: dict[str, Any] | None
    basis: dict[str, Any]


class ReadinessRow(_Model):
    """One criterion a decision needs: ``ready``, ``partial`` or ``gap``, and why."""

    id: str
    criterion: str
    status: str
    summary: str
    figures: list[str]
    cites: list[list[int]]


class ReportRecommendation(_Model):
    """What the report recommends (``ship``, ``keep_collecting``, …), why, and what would change it."""

    decision: str
    variant: str | None
    reason: str
    would_change: list[str]
    cites: list[list[int]]
    basis: dict[str, Any] | None


class ReportCheck(_Model):
    """``--check``: passed when the recommendation is ship and no criterion is a gap."""

    passed: bool
    reason: str


class Report(_Model):
    """A decision report (``trialbook report … --format json``, schema ``schema_version``)."""

    schema_version: int
    kind: str
    subject: str
    baseline: str | None
    position: int
    recorded_at: str | None
    as_of: str | None
    generated_by: dict[str, Any]
    scope: dict[str, Any]
    matrix: list[ReadinessRow]
    recommendation: ReportRecommendation
    figures: list[ReportFigure]
    plots: dict[str, Any]
    check: ReportCheck

    def render(self, fmt: str = "markdown") -> str:
        """The report as ``markdown``, ``json`` or ``html`` (a self-contained file, plots inline)."""
        from trialbook.reports import render

        return render(self.model_dump(mode="json"), fmt)


class Reports:
    """``tb.report(kind, name, …)``, or ``tb.report.ab(name)``, ``.eval(run, baseline=…)``, ``.canary(name)``.

    Options: ``at`` (a log position) or ``as_of`` (a time) for the report as it
    was then; ``latency_budget`` and ``cost_budget`` (see docs/reports.md).
    Unknown names raise ``NotFound``, bad options ``InvalidCommand``.
    """

    def __init__(self, tb: Trialbook) -> None:
        self._tb = tb

    def __call__(self, kind: str, name: str, **options: Any) -> Report:
        from trialbook.reports import build

        with self._tb._use() as ledger:
            return Report.model_validate(build(ledger, kind, name, **options))

    def ab(self, name: str, **options: Any) -> Report:
        """The report of A/B test ``name``."""
        return self("ab", name, **options)

    def eval(self, run: str, *, baseline: str | None = None, **options: Any) -> Report:
        """The report of eval run ``run``, compared with ``baseline`` if given."""
        return self("eval", run, baseline=baseline, **options)

    def canary(self, name: str, **options: Any) -> Report:
        """The report of canary ``name``."""
        return self("canary", name, **options)
