"""Statistics for A/B tests and evals: pure functions over sufficient statistics or value arrays.

Importing this package is cheap: the moments are loaded at once, the analysis
(numpy, and scipy inside functions) only when one of its names is first used,
so the CLI's write commands never pay for it.

    from trialbook.domain.stats import AnalysisInput, VariantData, Moments, analyze
    analysis = analyze(AnalysisInput(test="t", variants=(...), control="cold", metric="success"))
    analysis.to_json()["recommendation"]
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from trialbook.domain.stats.moments import CoMoments, Moments

if TYPE_CHECKING:
    from trialbook.domain.stats.analysis import (
        METHOD_VERSION,
        Analysis,
        analyze,
        history,
        interval_history,
    )
    from trialbook.domain.stats.model import (
        AnalysisInput,
        Effect,
        ResultRow,
        VariantData,
        rows_from_results,
        variant_data_from_rows,
    )

__all__ = [
    "METHOD_VERSION",
    "Analysis",
    "AnalysisInput",
    "CoMoments",
    "Effect",
    "Moments",
    "ResultRow",
    "VariantData",
    "analyze",
    "history",
    "interval_history",
    "rows_from_results",
    "variant_data_from_rows",
]

_LAZY = {
    "METHOD_VERSION": "trialbook.domain.stats.analysis",
    "Analysis": "trialbook.domain.stats.analysis",
    "analyze": "trialbook.domain.stats.analysis",
    "history": "trialbook.domain.stats.analysis",
    "interval_history": "trialbook.domain.stats.analysis",
    "AnalysisInput": "trialbook.domain.stats.model",
    "Effect": "trialbook.domain.stats.model",
    "ResultRow": "trialbook.domain.stats.model",
    "VariantData": "trialbook.domain.stats.model",
    "variant_data_from_rows": "trialbook.domain.stats.model",
    "rows_from_results": "trialbook.domain.stats.model",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
