"""Always-valid inference: the asymptotic confidence sequence and its p-value.

A confidence sequence is a sequence of intervals that covers the true effect
at *every* sample size simultaneously with probability at least ``1 - alpha``,
so a user may look after every result and stop whenever they like without
inflating the false-winner rate (the "peeking" problem).

The boundary used here is the normal-mixture (mixture-SPRT) boundary in its
asymptotic form:

- Waudby-Smith, Arbour, Sinha, Kennedy, Ramdas (2024), "Time-uniform central
  limit theory and asymptotic confidence sequences", Annals of Statistics;
  arXiv:2103.06476, Theorem 2.2 / eq. (14): for the mean of ``t`` i.i.d.
  observations with standard deviation ``sigma``, the half-width is
  ``sigma * sqrt(2 (t rho^2 + 1) / (t^2 rho^2) * log(sqrt(t rho^2 + 1) / alpha))``,
  and the always-valid p-value is the reciprocal of the mixture e-value
  (their eq. 155).
- Howard, Ramdas, McAuliffe, Sekhon (2021), "Time-uniform, nonparametric,
  nonasymptotic confidence sequences", Annals of Statistics 49(2): the normal
  mixture boundary and the choice of ``rho`` that makes the boundary tightest
  at a chosen sample size (their eq. 3.4 / Proposition 3).
- Johari, Koomen, Pekelis, Walsh (2017), "Peeking at A/B tests: why it matters,
  and what to do about it", KDD: the mixture-SPRT always-valid p-value for
  two-sample A/B tests (the method behind Optimizely's Stats Engine).
- GrowthBook ``packages/stats`` (``gbstats/frequentist/tests.py``,
  ``SequentialTwoSidedTTest`` and ``sequential_rho``) applies the same formulas
  to two-sample differences with ``t`` the total sample size of both arms and
  ``sigma^2 = se^2 * t``; its tuning parameter defaults to 5000.

Every function here is vectorised: it takes floats or numpy arrays.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def rho(alpha: float, tuning: float) -> float:
    """The mixture parameter that makes the boundary tightest after ``tuning`` observations.

    ``rho = sqrt((-2 log alpha + log(-2 log alpha + 1)) / tuning)``
    (Howard et al. 2021 eq. 3.4; GrowthBook ``sequential_rho``).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, not {alpha!r}")
    if not tuning > 0:
        raise ValueError(f"the tuning sample size must be positive, not {tuning!r}")
    la = -2.0 * math.log(alpha)
    return math.sqrt((la + math.log(la + 1.0)) / tuning)


def z_boundary(n: Any, alpha: Any, rho_: float) -> Any:
    """The boundary in standard-error units after ``n`` observations at level ``alpha``.

    The half-width of the confidence sequence is ``z_boundary * se`` where
    ``se`` is the standard error of the estimate at ``n``. Undefined (nan) for
    ``n <= 0``.
    """
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        tr2 = n * rho_ * rho_
        out = np.sqrt(2.0 * (tr2 + 1.0) / tr2 * np.log(np.sqrt(tr2 + 1.0) / alpha))
    return np.where(n > 0, out, np.nan)


def p_value(z: Any, n: Any, rho_: float) -> Any:
    """The always-valid p-value of a z statistic after ``n`` observations.

    ``p = min(1, sqrt(n rho^2 + 1) * exp(-z^2 n rho^2 / (2 (n rho^2 + 1))))``:
    the reciprocal of the normal-mixture e-value. ``p < alpha`` exactly when the
    level-``alpha`` confidence sequence excludes zero. ``z`` may be infinite
    (p = 0); ``n <= 0`` gives p = 1.
    """
    z = np.asarray(z, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        tr2p1 = n * rho_ * rho_ + 1.0
        log_p = 0.5 * np.log(tr2p1) - z * z * (tr2p1 - 1.0) / (2.0 * tr2p1)
        p = np.minimum(1.0, np.exp(log_p))
    return np.where(n > 0, np.where(np.isnan(p), 1.0, p), 1.0)
