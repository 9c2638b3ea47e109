"""The parts of the ``ab analyze`` report for caps, covariates and segments (``--cap``, ``--covariate``, ``--by``)."""

from __future__ import annotations

import textwrap
from typing import Any

from trialbook.domain.units import MetricUnits, p_text

WIDTH = 100
#: the one way metric differences print (ab analyze, the web view and reports use it too)
_UNITS = MetricUnits("continuous")


def _f(x: float | None) -> str:
    return _UNITS.diff(x)


def _ci(ci: list[float] | None) -> str:
    return "-" if not ci else _UNITS.interval(ci)


def _quantile_size(doc: dict[str, Any]) -> list[str]:
    """A note while a variant has too few values for the quantile to have an interval (p95: 73)."""
    from trialbook.domain.metrics import parse_quantile
    from trialbook.domain.stats.quantiles import min_results

    parsed = parse_quantile(str(doc["metric"]))
    if parsed is None:
        return []
    need = min_results(parsed[1])
    counts = [(v["name"], int(v.get("n") or 0)) for v in doc.get("variants", ())]
    if all(n >= need for _, n in counts):
        return []
    have = ", ".join(f"{name} has {n:,}" for name, n in counts)
    text = (
        f"{doc['metric']} has no interval until each variant has {need:,} results with a value "
        f"of {parsed[0]} ({have}); no call is made before. A lower percentile needs fewer."
    )
    return ["", textwrap.fill(text, WIDTH)]


def render_extras(doc: dict[str, Any]) -> str:
    """Lines about caps, the covariate and the segment breakdown ("" when none is in ``doc``)."""
    lines: list[str] = []
    settings = doc.get("settings") or {}
    if doc.get("kind") == "quantile":
        lines += _quantile_size(doc)
    for cap in settings.get("caps") or ():
        lines += ["", f"Capped at {cap['cap']} (fixed at ab create):"]
        if cap["threshold"] is None:
            metric = str(cap["cap"]).split(":", 1)[0]
            lines.append(f"  no threshold yet: no result has a value of {metric}")
        else:
            lines.append(
                f"  threshold {cap['threshold']:.4g}; {cap['capped_results']} result(s) above it "
                "were capped"
            )
        for name, un in cap["uncapped"].items():
            lines.append(
                f"  {name}: capped lift {_f(cap['capped_lift'].get(name))}, "
                f"uncapped lift {_f(un['lift'])} (uncapped means {un['estimate']:.4g} vs "
                f"{un['control_estimate']:.4g})"
                if un["estimate"] is not None and un["control_estimate"] is not None
                else f"  {name}: capped lift {_f(cap['capped_lift'].get(name))}"
            )
    cov = settings.get("covariate")
    if cov:
        lines += ["", f"CUPED: adjusted by {cov['name']} (the analysis above is the adjusted one):"]
        for name, c in cov["variants"].items():
            vr = c["variance_reduction"]
            lines.append(
                f"  {name}: adjusted lift {_f(c['adjusted_lift'])}, unadjusted {_f(c['unadjusted_lift'])}; "
                f"variance reduction {'-' if vr is None else f'{vr:.0%}'} "
                f"(theta {_f(c['theta'])}, {c['results_with_covariate']} results with {cov['name']})"
            )
            if c.get("results_without_covariate"):
                lines.append(
                    f"    {c['results_without_covariate']} result(s) without a value of "
                    f"{cov['name']} (no case id, or a case it lacks) are left out of the comparison"
                )
            if c.get("note"):
                lines.append(
                    textwrap.fill(c["note"], WIDTH, initial_indent="    ", subsequent_indent="    ")
                )
    seg = doc.get("segments")
    if seg:
        lines += [
            "",
            f"By {seg['by']} ({seg['label']}; {seg['correction']}), {seg['metric']}:",
        ]
        for name, rows in seg["variants"].items():
            for r in rows:
                mark = "  different" if r["different"] else ""
                lines.append(
                    f"  {name} / {r['segment']}: n {r['n_variant']} vs {r['n_control']}, "
                    f"lift {_f(r['diff'])}, always-valid CI {_ci([r['ci_low'], r['ci_high']] if r['ci_low'] is not None and r['ci_high'] is not None else None)}, "
                    f"p {p_text(r['p_value'])}, Holm p {p_text(r['p_adjusted'])}{mark}"
                )
    return "\n".join(lines)
