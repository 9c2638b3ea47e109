"""Wilson's score interval for one proportion: the formula, once, for the A/B statistics
(:func:`trialbook.domain.stats.frequentist.wilson_interval`) and the verdict statistics
(:func:`trialbook.domain.stats.verdicts.wilson_interval`).

The callers differ only in how they are asked (``alpha`` against ``confidence``) and
where the normal quantile comes from (scipy for the A/B analysis, the standard
library for the eval report, which never imports numpy or scipy); the interval
is this one. Pure: the standard library only.
"""

from __future__ import annotations

import math


def wilson_bounds(successes: float, n: float, z: float) -> tuple[float, float]:
    """Wilson's score interval (Wilson 1927) for ``successes`` of ``n > 0`` at normal
    quantile ``z`` (1.96 for 95 %), without continuity correction, clamped to [0, 1]."""
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))
