"""Statistics for A/B tests and evals: pure functions over sufficient statistics or value arrays.

Importing this package is cheap: the moments are loaded at once, the analysis
(numpy, and scipy inside functions) only when one of its names is first used,
so the CLI's write commands never pay for it.

    from domain.stats import AnalysisInput, VariantData, Moments, analyze
    analysis = analyze(AnalysisInput(test="t", variants=(...), control="cold", metric="success"))
    analysis.to_json()["recommendation"]
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from domain.stats.moments import CoMoments, Moments

if TYPE_CHECKING:
    from domain.stats.analysis import METHOD_VERSION, Analysis, analyze, history
    from domain.stats.model import (
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
    "rows_from_results",
    "variant_data_from_rows",
]

_LAZY = {
    "METHOD_VERSION": "domain.stats.analysis",
    "Analysis": "domain.stats.analysis",
    "analyze": "domain.stats.analysis",
    "history": "domain.stats.analysis",
    "AnalysisInput": "domain.stats.model",
    "Effect": "domain.stats.model",
    "ResultRow": "domain.stats.model",
    "VariantData": "domain.stats.model",
    "variant_data_from_rows": "domain.stats.model",
    "rows_from_results": "domain.stats.model",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
