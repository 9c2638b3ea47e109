"""trialbook: an event-sourced record of A/B tests, canaries and evals of LLM agents and models.

The public Python API is what ``__all__`` lists; everything else is private.

    import trialbook
    tb = trialbook.open()                        # a path, $TRIALBOOK_DB, or the XDG default
    tb.ab.create("checkout-flow", variants=["cold", "warm"])
    tb.ab.add_result("checkout-flow", variant="warm", success=True, completion_time=40)
    with tb.ab.session("checkout-flow", variant="warm", case_id="t-17") as s:
        s.tool_call(ok=True)
    print(tb.ab.analyze("checkout-flow").recommendation.reason)

See docs/python.md. The CLI (``trialbook``) and the shell are clients of this API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trialbook._client import Trialbook, open
from trialbook.domain.errors import (
    AlreadyExists,
    DomainError,
    InvalidCommand,
    NotFound,
    StateConflict,
    TrialbookError,
)
from trialbook.store.errors import (
    AppendOnlyViolation,
    ChainError,
    ConcurrencyError,
    IdempotencyConflict,
    NotATrialbookDatabase,
    StoreError,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from trialbook._ab import ABTests, Session
    from trialbook._canary import (
        Canaries,
        Canary,
        CanaryDecision,
        CanaryInfo,
        CanarySession,
        CanaryStatus,
    )
    from trialbook._eval_models import (
        Agreement,
        CaseReport,
        ComparedPair,
        Comparison,
        EvalReport,
        EvalRun,
        Export,
        FailedPair,
        FedToAB,
        FlakyCase,
        JudgeDisagreement,
        PairedInterval,
        PassAtK,
        Rescore,
        Rollout,
        RolloutResult,
        RolloutScore,
        RunSummary,
        ScorerSummary,
        Suite,
        SuiteAdded,
        SuiteInfo,
        Verdict,
    )
    from trialbook._evals import Evals
    from trialbook._events import Events
    from trialbook._models import (
        Analysis,
        Decision,
        Event,
        Recommendation,
        Recorded,
        Test,
        VariantAnalysis,
        VerifyReport,
    )
    from trialbook._reports import (
        ReadinessRow,
        Report,
        ReportCheck,
        ReportFigure,
        ReportRecommendation,
        Reports,
    )
    from trialbook._segments import SegmentAnalysis, SegmentedAnalysis, Segments
    from trialbook.runners.eval_errors import TargetUnavailable

__all__ = [
    "open",
    "Trialbook",
    "ABTests",
    "Session",
    "Canaries",
    "Canary",
    "CanarySession",
    "CanaryInfo",
    "CanaryStatus",
    "CanaryDecision",
    "Events",
    "Evals",
    "Analysis",
    "VariantAnalysis",
    "SegmentedAnalysis",
    "Segments",
    "SegmentAnalysis",
    "Recommendation",
    "Decision",
    "Event",
    "Recorded",
    "Test",
    "VerifyReport",
    "SuiteAdded",
    "SuiteInfo",
    "Suite",
    "EvalRun",
    "EvalReport",
    "RolloutResult",
    "RolloutScore",
    "Rollout",
    "RunSummary",
    "ScorerSummary",
    "PassAtK",
    "FlakyCase",
    "JudgeDisagreement",
    "Agreement",
    "Verdict",
    "CaseReport",
    "Rescore",
    "Export",
    "Comparison",
    "ComparedPair",
    "FailedPair",
    "PairedInterval",
    "FedToAB",
    "Reports",
    "Report",
    "ReadinessRow",
    "ReportFigure",
    "ReportRecommendation",
    "ReportCheck",
    "TrialbookError",
    "DomainError",
    "InvalidCommand",
    "NotFound",
    "AlreadyExists",
    "StateConflict",
    "StoreError",
    "StoreUnavailable",
    "NotATrialbookDatabase",
    "ConcurrencyError",
    "IdempotencyConflict",
    "AppendOnlyViolation",
    "ChainError",
    "TargetUnavailable",
]

#: names imported on first use, so ``import trialbook`` stays light for the CLI
_LAZY = {
    "ABTests": "trialbook._ab",
    "Session": "trialbook._ab",
    **dict.fromkeys(
        ("Canaries", "Canary", "CanarySession", "CanaryInfo", "CanaryStatus", "CanaryDecision"),
        "trialbook._canary",
    ),
    "Events": "trialbook._events",
    "Evals": "trialbook._evals",
    **dict.fromkeys(
        ("Analysis", "VariantAnalysis", "Recommendation", "Decision", "Event", "Recorded",
         "Test", "VerifyReport"),
        "trialbook._models",
    ),
    **dict.fromkeys(
        ("SuiteAdded", "SuiteInfo", "Suite", "EvalRun", "EvalReport", "RolloutResult",
         "RolloutScore", "Rollout", "RunSummary", "ScorerSummary", "PassAtK", "FlakyCase",
         "JudgeDisagreement", "Agreement", "Verdict", "CaseReport", "Rescore", "Export",
         "Comparison", "ComparedPair", "FailedPair", "PairedInterval", "FedToAB"),
        "trialbook._eval_models",
    ),
    **dict.fromkeys(
        ("Reports", "Report", "ReadinessRow", "ReportFigure", "ReportRecommendation", "ReportCheck"),
        "trialbook._reports",
    ),
    "TargetUnavailable": "trialbook.runners.eval_errors",
    **dict.fromkeys(("SegmentedAnalysis", "Segments", "SegmentAnalysis"), "trialbook._segments"),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trialbook' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
