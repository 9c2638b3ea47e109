"""What an analysis reports of its quantile, capped and CUPED-adjusted metrics (beside method 2.0's figures).

- :func:`fixed_horizon`: the labelled fixed-horizon comparison for such a metric (the
  moments' Welch test would compare the wrong thing);
- :func:`method_suffix`: what the method label adds ("capped at cost:p99");
- :func:`settings`: the ``settings.caps`` and ``settings.covariate`` blocks of
  ``ab analyze --json``: each cap with its threshold, the results it cut and the
  **uncapped** lift beside the capped one; the covariate with its slope, the variance
  reduction achieved, the **unadjusted** lift and a note when it does not help.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from trialbook.domain.stats.frequentist import FixedResult


def _values(inp: Any, key: str, variant: str) -> np.ndarray:
    rows = inp.rows or ()
    x = np.fromiter(
        (r.values.get(key, math.nan) for r in rows if r.variant == variant), dtype=float
    )
    return x


def _pairs(inp: Any, y: str, x: str, variant: str) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = _values(inp, y, variant), _values(inp, x, variant)
    ok = np.isfinite(ys) & np.isfinite(xs)
    return ys[ok], xs[ok]


def _num(x: Any) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None


def _interval(lo: float, hi: float) -> tuple[float, float] | None:
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


def _cap_of(spec: Any, name: str) -> Any:
    return next((c for c in getattr(spec, "caps", ()) if c.metric == name), None)


def _is_adjusted(spec: Any, metric: Any) -> bool:
    return (
        spec.covariate is not None and metric.name == spec.primary.name and metric.kind != "ratio"
    )


def fixed_horizon(
    inp: Any, spec: Any, metric: Any, variant: str, control: str
) -> FixedResult | None:
    """The fixed-horizon comparison of a quantile, capped or adjusted metric; None for any other."""
    from trialbook.domain.stats import capping, cuped, frequentist, quantiles
    from trialbook.domain.stats.moments import Moments

    if metric.kind == "quantile":
        base, p = quantiles.parse_quantile(metric.name) or ("", 0.5)
        v = _values(inp, base, variant)
        c = _values(inp, base, control)
        got = quantiles.fixed_horizon(v[np.isfinite(v)], c[np.isfinite(c)], p, inp.alpha)
        return FixedResult(
            f"difference of p{p * 100:g} (order-statistic standard error, normal)",
            _num(got["diff"]),
            _num(got["p_value"]),
            _interval(got["ci_low"], got["ci_high"]),
        )
    if _is_adjusted(spec, metric):
        yv, xv = _pairs(inp, metric.name, spec.covariate, variant)
        yc, xc = _pairs(inp, metric.name, spec.covariate, control)
        if min(len(yv), len(yc)) < 2:
            return FixedResult("CUPED-adjusted difference (normal)", None, None, None)
        got = cuped.fixed_horizon(yv, xv, yc, xc, inp.alpha)
        return FixedResult(
            "CUPED-adjusted difference (normal; the OLS treatment coefficient)",
            _num(got["diff"]),
            _num(got["p_value"]),
            _interval(got["ci_low"], got["ci_high"]),
        )
    cap = _cap_of(spec, metric.name)
    if cap is not None and metric.kind in ("continuous", "rate"):
        v, c = _values(inp, metric.name, variant), _values(inp, metric.name, control)
        t = capping.Cap.threshold(cap, np.concatenate([v, c]))
        welch = frequentist.welch(
            Moments.of(cap.apply(v[np.isfinite(v)], t).tolist()),
            Moments.of(cap.apply(c[np.isfinite(c)], t).tolist()),
            inp.alpha,
        )
        return FixedResult(
            f"Welch t-test of values capped at {cap}",
            welch.lift,
            welch.p_value,
            welch.ci,
            welch.relative_lift,
            welch.relative_ci,
        )
    return None


def method_suffix(spec: Any, metric: Any) -> str:
    """What the method label adds for a capped or adjusted metric ("" for any other)."""
    if _is_adjusted(spec, metric):
        return f", CUPED-adjusted by {spec.covariate} (plan read as information)"
    cap = _cap_of(spec, metric.name)
    if cap is not None and metric.kind in ("continuous", "rate"):
        return f", values capped at {cap}"
    return ""


def settings(inp: Any, spec: Any, ev: Any) -> dict[str, Any]:
    """``settings.caps`` / ``settings.covariate`` of the analysis (empty when neither is used)."""
    from trialbook.domain.stats import capping, cuped, engine

    out: dict[str, Any] = {}
    c = spec.control
    caps = []
    for cap in getattr(spec, "caps", ()):
        if cap.metric not in ev.arms:
            continue
        pooled = np.concatenate([_values(inp, cap.metric, n) for n in spec.names])
        t = cap.threshold(pooled)
        entry: dict[str, Any] = capping.summary(cap, pooled, t)
        uncapped = {}
        for i in spec.others:
            mv = engine.MomentArrays(
                *(np.array([x]) for x in _moments(inp, cap.metric, spec.names[i]))
            )
            mc = engine.MomentArrays(
                *(np.array([x]) for x in _moments(inp, cap.metric, spec.names[c]))
            )
            av, ac = engine.mean_arm(mv), engine.mean_arm(mc)
            uncapped[spec.names[i]] = {
                "lift": _num(av.est[-1] - ac.est[-1]),
                "estimate": _num(av.est[-1]),
                "control_estimate": _num(ac.est[-1]),
            }
        entry["uncapped"] = uncapped
        entry["capped_lift"] = {
            spec.names[i]: _num(ev.comparisons[cap.metric][i].diff[-1]) for i in spec.others
        }
        caps.append(entry)
    if caps:
        out["caps"] = caps
    if spec.covariate is not None and spec.primary.name in ev.arms:
        m = spec.primary.name
        per = {}
        for i in spec.others:
            yv, xv = _pairs(inp, m, spec.covariate, spec.names[i])
            yc, xc = _pairs(inp, m, spec.covariate, spec.names[c])
            raw_v, raw_c = _values(inp, m, spec.names[i]), _values(inp, m, spec.names[c])
            got = (
                cuped.fixed_horizon(yv, xv, yc, xc, inp.alpha)
                if min(len(yv), len(yc)) >= 2
                else {"variance_reduction": math.nan, "theta": math.nan}
            )
            vr = float(got["variance_reduction"])
            per[spec.names[i]] = {
                "theta": _num(got["theta"]),
                "variance_reduction": _num(vr),
                "results_with_covariate": int(len(yv) + len(yc)),
                "unadjusted_lift": _num(np.nanmean(raw_v) - np.nanmean(raw_c))
                if len(raw_v) and len(raw_c)
                else None,
                "adjusted_lift": _num(ev.comparisons[m][i].diff[-1]),
                "note": cuped.note(vr),
            }
            if ":" in spec.covariate:  # keyed by case (ledger.covariates): say how many it missed
                per[spec.names[i]]["results_without_covariate"] = int(
                    np.isfinite(raw_v).sum() + np.isfinite(raw_c).sum() - len(yv) - len(yc)
                )
        out["covariate"] = {"name": spec.covariate, "variants": per}
    return out


def _moments(inp: Any, metric: str, variant: str) -> tuple[float, float, float]:
    mo = inp.variant(variant).moments.get(metric)
    if mo is None:
        return (0.0, 0.0, 0.0)
    return (float(mo.n), float(mo.mean), float(mo.m2))
