"""Always-valid inference: confidence sequences, their p-values, and the planned design.

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

Method 2.0 decides with a **planned design** (:func:`design_z_boundary`): most of
alpha (``HORIZON_SHARE``) goes to a boundary that is constant on the Brownian
(B-value) scale up to the planned number of results ``N`` (``--expected-results``),
``|Z_n| >= b sqrt(N / n)`` for ``n <= N``, with ``b = z_{1 - alpha_1 / 4}``. By the
reflection principle a Brownian motion crosses ``+-b`` before time 1 with probability
at most ``4 (1 - Phi(b))`` (Siegmund 1985, ch. 3; the continuous-monitoring limit of
an O'Brien-Fleming-type design, Lan & DeMets 1983), so looking after every result up
to ``N`` keeps the false-call rate at most ``alpha_1``; looks at discrete sample sizes
cross less often than the continuous path, so the guarantee is conservative. The rest
of alpha goes to the normal-mixture confidence sequence above, tuned for
``RESERVE_TUNING * N`` results, which stays valid for ever: a test that runs past its
plan keeps a valid (if slowly narrowing) interval. The two are combined by a union
bound: the design's interval is the intersection of both, its p-value
``min(p_horizon / HORIZON_SHARE, p_mixture / (1 - HORIZON_SHARE))``.

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


#: share of alpha the planned design spends by its horizon; the rest is the reserve mixture's
HORIZON_SHARE = 0.9
#: the reserve mixture is tuned to be tightest at this multiple of the planned results
RESERVE_TUNING = 4.0


def horizon_b(alpha: Any) -> Any:
    """The constant B-value boundary whose two-sided crossing chance before the horizon is at most ``alpha``.

    ``b = Phi^{-1}(1 - alpha / 4)``: one side is crossed with probability
    ``2 (1 - Phi(b))`` (reflection principle), either side with at most twice that.
    """
    from scipy.special import ndtri

    return -ndtri(np.asarray(alpha, dtype=float) / 4.0)


def reserve_rho(alpha: float, horizon: float) -> float:
    """The mixture parameter of the design's reserve (tightest at ``RESERVE_TUNING * horizon``)."""
    return rho((1.0 - HORIZON_SHARE) * alpha, RESERVE_TUNING * horizon)


def horizon_z_boundary(n: Any, horizon: Any, alpha: Any) -> Any:
    """The horizon part of the design's boundary: ``b sqrt(N / n)`` for ``0 < n <= N``, else infinite."""
    n = np.asarray(n, dtype=float)
    horizon = np.asarray(horizon, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        zh = horizon_b(HORIZON_SHARE * np.asarray(alpha, dtype=float)) * np.sqrt(horizon / n)
    return np.where((n > 0) & (n <= horizon), zh, np.inf)


def design_z_boundary(n: Any, horizon: Any, alpha: Any, rho_reserve: float) -> Any:
    """The planned design's boundary in standard-error units after ``n`` of ``horizon`` planned results.

    The smaller of the horizon boundary at level ``HORIZON_SHARE * alpha`` and the
    reserve mixture boundary at level ``(1 - HORIZON_SHARE) * alpha``; nan for ``n <= 0``.
    """
    n = np.asarray(n, dtype=float)
    zm = z_boundary(n, (1.0 - HORIZON_SHARE) * np.asarray(alpha, dtype=float), rho_reserve)
    out = np.fmin(horizon_z_boundary(n, horizon, alpha), zm)
    return np.where(n > 0, out, np.nan)


def design_p_value(z: Any, n: Any, horizon: Any, rho_reserve: float) -> Any:
    """The always-valid p-value of the planned design: ``p < a`` exactly when its level-``a`` interval excludes 0.

    ``min(1, p_h / HORIZON_SHARE, p_m / (1 - HORIZON_SHARE))`` with
    ``p_h = 4 (1 - Phi(|z| sqrt(n / N)))`` while ``n <= N`` (1 after) and ``p_m``
    the reserve mixture's p-value.
    """
    from scipy.special import ndtr

    z = np.abs(np.asarray(z, dtype=float))
    n = np.asarray(n, dtype=float)
    horizon = np.asarray(horizon, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ph = np.where((n > 0) & (n <= horizon), 4.0 * ndtr(-z * np.sqrt(n / horizon)), 1.0)
    ph = np.where(np.isnan(ph), 1.0, ph)
    pm = p_value(z, n, rho_reserve)
    return np.minimum(1.0, np.minimum(ph / HORIZON_SHARE, pm / (1.0 - HORIZON_SHARE)))


# --------------------------------------------------------------------------- when will it decide?


def passage_cdf(u: Any, distance: Any, drift: Any) -> Any:
    """P(a unit-variance Brownian motion with ``drift`` has reached ``distance`` by time ``u``).

    The inverse-Gaussian law of the first passage time (e.g. Siegmund 1985, eq. 3.15):
    ``Phi((drift u - d) / sqrt(u)) + exp(2 drift d) Phi((-drift u - d) / sqrt(u))``,
    for any real drift (the second term in logs, so a large ``drift * d`` cannot
    overflow). 1 where ``distance <= 0``; 0 at ``u <= 0``.
    """
    from scipy.special import log_ndtr, ndtr

    u = np.asarray(u, dtype=float)
    d = np.asarray(distance, dtype=float)
    mu = np.asarray(drift, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        su = np.sqrt(u)
        first = ndtr((mu * u - d) / su)
        second = np.exp(2.0 * mu * d + log_ndtr((-mu * u - d) / su))
        out = np.clip(np.nan_to_num(first) + np.nan_to_num(second), 0.0, 1.0)
    out = np.where(u > 0, out, 0.0)
    return np.where(d <= 0, 1.0, out)


def _bisect(f: Any, lo: Any, hi: Any, steps: int = 80) -> Any:
    """Elementwise root of an increasing ``f`` on ``[lo, hi]`` (geometric bisection; ``lo > 0``)."""
    lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
    for _ in range(steps):
        mid = np.sqrt(lo * hi)
        below = f(mid) < 0
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return hi


def design_stopping_quantiles(
    q: Any,
    *,
    s0: Any,
    info0: Any,
    unit_var: Any,
    clock0: Any,
    clock_per_unit: float,
    horizon: Any,
    level: float,
    rho_reserve: float,
    effect: Any,
) -> tuple[Any, Any]:
    """How many more units (results per variant, or pairs) until the design decides, at quantile ``q``.

    On the information scale ``u`` (``1 / se^2``) the score ``S = estimate * u`` is a
    Brownian motion with drift ``effect``; it starts at ``s0`` (the current estimate
    times the current information ``info0``; each further unit adds ``1 / unit_var``
    of information and ``clock_per_unit`` results to the boundary's clock, which
    stands at ``clock0``). The design decides when ``S`` reaches the boundary
    ``z(n) sqrt(u)``. Each phase (the horizon boundary up to the plan, the reserve
    after it) is linearised where the expected path meets it, and the first passage
    through a line is inverse Gaussian (:func:`passage_cdf`; exact for the horizon
    boundary, whose score-scale form is flat). Returns ``(units, beyond_plan)``:
    the ``q``-quantile of the additional units (inf if never), and whether it lies
    past the planned horizon. The t correction of small samples is ignored, so at
    small sizes the figure is slightly optimistic.
    """
    arrays = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (q, s0, info0, unit_var, clock0, horizon, effect))
    )
    q, s0, i0, v, n0, big_n, delta = (np.array(a, dtype=float) for a in arrays)
    cpu = float(clock_per_unit)
    u_n = (big_n - n0) / (cpu * v)  # information still to come before the plan's horizon

    def clock(u: Any) -> Any:
        return n0 + cpu * v * u

    def g_h(u: Any) -> Any:  # used up to the plan's end only (rounding may step just past it)
        return horizon_z_boundary(np.minimum(clock(u), big_n), big_n, level) * np.sqrt(i0 + u)

    def g_r(u: Any) -> Any:
        return z_boundary(clock(u), (1.0 - HORIZON_SHARE) * level, rho_reserve) * np.sqrt(i0 + u)

    def linearise(g: Any, u_star: Any) -> tuple[Any, Any]:
        eps = 1e-4 * np.maximum(u_star, 1e-12)
        slope = (g(u_star + eps) - g(np.maximum(u_star - eps, 1e-15))) / (
            u_star + eps - np.maximum(u_star - eps, 1e-15)
        )
        slope = np.where(np.isfinite(slope), slope, 0.0)
        dist = g(u_star) - slope * u_star - s0
        return dist, delta - slope

    tiny = np.maximum(1e-9 * np.maximum(i0, 1.0 / v), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # the horizon phase: where the expected path meets the boundary (or the plan's end)
        in_plan = u_n > tiny
        end = np.where(in_plan, u_n, 2 * tiny)
        meets = in_plan & (s0 + delta * end - g_h(end) >= 0)
        u_h = np.where(
            meets,
            _bisect(lambda u: s0 + delta * u - g_h(u), tiny, np.maximum(end, 2 * tiny)),
            end,
        )
        dist_h, drift_h = linearise(g_h, u_h)
        f_end = np.where(in_plan, passage_cdf(end, dist_h, drift_h), 0.0)
        # the reserve phase, after the plan
        start = np.where(in_plan, u_n, tiny)
        hi = np.maximum(2 * start, 1.0 / v)
        for _ in range(200):
            short = s0 + delta * hi - g_r(hi) < 0
            if not short.any():
                break
            hi = np.where(short, hi * 2, hi)
        u_r = _bisect(lambda u: s0 + delta * u - g_r(u), start, hi)
        dist_r, drift_r = linearise(g_r, u_r)

        # where the tests that have not decided by the plan's end stand then: the law of a
        # drifted Brownian motion killed at the (linearised) horizon boundary, by images
        grid = np.linspace(0.0, 1.0, 161)[:-1]
        spread = np.sqrt(np.maximum(end, 1e-300))
        y0 = -np.maximum(dist_h, 0.0)  # start, relative to the boundary (absorbed at 0)
        low = np.minimum(y0 + drift_h * end, 0.0) - 8.0 * spread
        y = low[..., None] * (1.0 - grid)  # from low up to (not including) 0
        t_ = end[..., None]
        dens = (
            np.exp(-0.5 * ((y - y0[..., None] - drift_h[..., None] * t_) / spread[..., None]) ** 2)
            - np.exp(
                -2.0 * drift_h[..., None] * y0[..., None]
                - 0.5 * ((y + y0[..., None] - drift_h[..., None] * t_) / spread[..., None]) ** 2
            )
        ) / (spread[..., None] * math.sqrt(2 * math.pi))
        weights = np.maximum(np.nan_to_num(dens), 0.0) * (-low[..., None] / len(grid))
        # distance from each standing point to the reserve boundary at the plan's end
        s_end = y + (s0 + dist_h + (delta - drift_h) * end)[..., None]
        r_end = (s0 + dist_r + (delta - drift_r) * end)[..., None]
        gap = r_end - s_end

        def cdf(u: Any) -> Any:
            plan = np.where(in_plan, passage_cdf(np.minimum(u, end), dist_h, drift_h), 0.0)
            after = np.maximum(u - end, 0.0)[..., None]
            later = (weights * passage_cdf(after, gap, drift_r[..., None])).sum(axis=-1)
            later = np.minimum(later, 1.0 - f_end)
            reserve_only = passage_cdf(u, dist_r, drift_r)
            return np.where(in_plan, np.where(u <= end, plan, f_end + later), reserve_only)

        already = s0 - np.where(in_plan, g_h(tiny), g_r(tiny)) >= 0
        top = hi * 64
        reachable = cdf(top) >= q
        units = _bisect(lambda u: cdf(u) - q, tiny, top) * v
        units = np.where(already, 0.0, np.where(reachable, units, np.inf))
        beyond = ~already & ~(in_plan & (cdf(end) >= q))
    return units, beyond
