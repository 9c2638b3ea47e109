"""A cap rule (``cost:p99``, ``completion_time:600``): parsed and checked without numpy, so ``ab create`` stays light.

The statistics of capping are :mod:`domain.stats.capping`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CAP_RE = re.compile(
    r"^([a-z][a-z0-9_]{0,63}):(?:p(\d{1,2}(?:\.\d{1,3})?)|([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?))$"
)
CAP_HELP = (
    "write METRIC:pNN (a percentile, e.g. cost:p99) or METRIC:NUMBER (e.g. completion_time:600)"
)


@dataclass(frozen=True)
class Cap:
    """A cap of ``metric``: at its ``quantile`` (a fraction) of the pooled values, or at ``value``."""

    metric: str
    quantile: float | None = None
    value: float | None = None

    def __post_init__(self) -> None:
        if (self.quantile is None) == (self.value is None):
            raise ValueError("a cap has either a quantile or a value")
        if self.quantile is not None and not 0.5 <= self.quantile < 1.0:
            raise ValueError(
                f"cap {self}: the percentile must be at least 50 and below 100, e.g. cost:p99"
            )
        if self.value is not None and not (math.isfinite(self.value) and self.value > 0):
            raise ValueError(f"cap {self}: the value must be a positive number")

    def __str__(self) -> str:
        if self.quantile is not None:
            return f"{self.metric}:p{self.quantile * 100:g}"
        return f"{self.metric}:{self.value:g}"

    @classmethod
    def parse(cls, text: str) -> Cap:
        """``Cap("cost", quantile=0.99)`` for ``cost:p99``; ``Cap("completion_time", value=600)`` for ``completion_time:600``."""
        m = CAP_RE.match(text.strip())
        if m is None and re.fullmatch(
            r"[a-z][a-z0-9_]{0,63}:p(?:100(?:\.0{1,3})?|-\d{1,3}(?:\.\d{1,3})?)", text.strip()
        ):
            raise ValueError(  # cost:p100, cost:p-1: a percentile out of range, not a typo
                f"cap {text.strip()}: the percentile must be at least 50 and below 100, "
                "e.g. cost:p99"
            )
        if m is None:
            raise ValueError(f"cap {text!r} is not valid; {CAP_HELP}")
        metric, pct, number = m.groups()
        if pct is not None:
            return cls(metric, quantile=float(pct) / 100.0)
        return cls(metric, value=float(number))

    def threshold(self, pooled: Sequence[float] | Any) -> float:
        """The cap's threshold for these pooled values (nan when there are none)."""
        if self.value is not None:
            return float(self.value)
        import numpy as np

        x = np.asarray(pooled, dtype=float)
        x = x[np.isfinite(x)]
        q = float(self.quantile or 0.0)
        return float(np.quantile(x, q)) if x.size else math.nan

    def apply(self, values: Sequence[float] | Any, threshold: float) -> Any:
        """``min(value, threshold)`` per value (nan stays nan)."""
        import numpy as np

        x = np.asarray(values, dtype=float)
        return np.where(np.isfinite(x), np.minimum(x, threshold), x)
