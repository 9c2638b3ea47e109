"""Plots as inline SVG, drawn in Python from plain lists: no plotting library, no network.

Pure functions of their data returning :class:`web.html.Safe` markup; every
label they write (a variant's or scorer's name) is escaped. Colours are SVG
presentation attributes rather than ``style`` so the pages' Content Security
Policy needs no inline styles.

- :func:`interval_plot`: each variant's lift against control and its
  always-valid interval after every result, with the recommendation as a strip;
- :func:`histogram`: a distribution (latencies) with marked quantiles;
- :func:`rate_plot`: rates with their intervals (pass rates per scorer).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any

from trialbook.web.html import Safe, el, esc

PALETTE = ("#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d")
DECISION_COLOURS = {
    "continue": "#cbd5e1",
    "ship": "#16a34a",
    "keep_control": "#64748b",
    "no_difference": "#0ea5e9",
    "blocked": "#dc2626",
    # a canary's looks: the stage rule's word for each (reports/canary.py)
    "keep_collecting": "#cbd5e1",
    "halt": "#dc2626",
    "rollback": "#64748b",
}
AXIS = "#94a3b8"
GRID = "#e2e8f0"
INK = "#334155"

Fmt = Callable[[float], str]
#: stands for a plot's clip-path id until the plot is drawn (then its content's digest)
_CLIP = "plot-area-PENDING"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]`` (about ``count`` of them)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _f(x: float) -> str:
    return f"{x:.1f}"


class _Scale:
    def __init__(self, d0: float, d1: float, r0: float, r1: float) -> None:
        self.d0, self.d1, self.r0, self.r1 = d0, d1, r0, r1

    def __call__(self, x: float) -> float:
        if self.d1 == self.d0:
            return (self.r0 + self.r1) / 2
        return self.r0 + (x - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)


def _segments(flags: Sequence[bool]) -> list[tuple[int, int]]:
    """Runs ``[start, end)`` of consecutive true flags."""
    runs, start = [], None
    for i, f in enumerate(flags):
        if f and start is None:
            start = i
        elif not f and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(flags)))
    return runs


def interval_plot(
    n: Sequence[int],
    series: Sequence[dict[str, Any]],
    *,
    fmt: Fmt,
    decisions: Sequence[str] | None = None,
    margin: float | None = None,
    markers: Sequence[tuple[float, str]] = (),
    x_label: str = "results recorded",
    y_label: str = "lift vs control",
    width: int = 760,
    height: int = 300,
) -> Safe:
    """Lift lines with shaded always-valid intervals over ``n`` (results so far), one per variant.

    ``series``: ``{"name", "lift": [...], "ci": [[lo, hi] | None, ...]}`` aligned with
    ``n``. A dashed line marks no difference (0) and, if given, ±``margin``. Under the
    plot, ``decisions`` (one per look) colour a strip by the recommendation. ``markers``
    ``(n, label)`` draw a vertical line after ``n`` results (a canary's decisions).
    """
    left, right, top, bottom = 70, 16, 28, 58 if decisions else 44
    pw, ph = width - left - right, height - top - bottom
    # the y range follows the looks after the first tenth of the results: the first few intervals
    # are very wide, and would flatten the part worth reading (the plot clips them at its edges)
    values = [0.0] + ([margin, -margin] if margin else [])
    start = (n[0] + (n[-1] - n[0]) * 0.1) if n else 0
    for s in series:
        for i, (v, ci) in enumerate(zip(s["lift"], s["ci"], strict=True)):
            if n[i] >= start and ci is not None:
                values += [v, ci[0], ci[1]] if v is not None else [ci[0], ci[1]]
    if len(values) <= 3:
        for s in series:
            values += [v for v in s["lift"] if v is not None]
    ylo, yhi = min(values), max(values)
    pad = (yhi - ylo) * 0.06 or 1.0
    yticks = nice_ticks(ylo - pad, yhi + pad)
    y = _Scale(yticks[0], yticks[-1], top + ph, top)
    x0, x1 = (n[0], n[-1]) if n else (0, 1)
    x = _Scale(x0, x1, left, left + pw)
    clip = _CLIP
    parts: list[str] = [
        el("clipPath", el("rect", x=left, y=top, width=pw, height=ph), id=clip),
        el("rect", x=left, y=top, width=pw, height=ph, fill="#ffffff", stroke=GRID),
    ]
    drawn: list[str] = []
    for t in yticks:
        parts.append(el("line", x1=left, x2=left + pw, y1=_f(y(t)), y2=_f(y(t)), stroke=GRID))
        parts.append(
            el("text", fmt(t), x=left - 6, y=_f(y(t) + 4), text_anchor="end", class_="tick")
        )
    for t in nice_ticks(x0, x1, 6):
        if x0 <= t <= x1:
            parts.append(
                el(
                    "text",
                    f"{t:,.0f}",
                    x=_f(x(t)),
                    y=top + ph + 16,
                    text_anchor="middle",
                    class_="tick",
                )
            )
    parts.append(
        el(
            "line",
            x1=left,
            x2=left + pw,
            y1=_f(y(0)),
            y2=_f(y(0)),
            stroke=INK,
            stroke_dasharray="4 3",
        )
    )
    if margin:
        for m in (margin, -margin):
            parts.append(
                el(
                    "line",
                    x1=left,
                    x2=left + pw,
                    y1=_f(y(m)),
                    y2=_f(y(m)),
                    stroke="#0ea5e9",
                    stroke_dasharray="2 4",
                    class_="margin",
                )  # fmt: skip
            )
    legend: list[str] = []
    for k, s in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        cis = s["ci"]
        for a, b in _segments([ci is not None for ci in cis]):
            upper = [f"{_f(x(n[i]))},{_f(y(cis[i][1]))}" for i in range(a, b)]
            lower = [f"{_f(x(n[i]))},{_f(y(cis[i][0]))}" for i in reversed(range(a, b))]
            drawn.append(
                el(
                    "path",
                    d="M" + " L".join(upper + lower) + " Z",
                    fill=colour,
                    fill_opacity="0.16",
                    stroke="none",
                    class_="band",
                    data_variant=s["name"],
                )  # fmt: skip
            )
        lifts = s["lift"]
        line = []
        # the lift is drawn where its interval is defined (before that, a handful of results say nothing)
        for a, b in _segments(
            [v is not None and ci is not None for v, ci in zip(lifts, cis, strict=True)]
        ):
            line.append("M" + " L".join(f"{_f(x(n[i]))},{_f(y(lifts[i]))}" for i in range(a, b)))
        if line:
            drawn.append(
                el(
                    "path",
                    d=" ".join(line),
                    fill="none",
                    stroke=colour,
                    stroke_width="2",
                    class_="lift",
                    data_variant=s["name"],
                    data_points=len(n),
                )  # fmt: skip
            )
        last = next(
            (i for i in reversed(range(len(n))) if lifts[i] is not None and cis[i] is not None),
            None,
        )
        if last is not None:
            ci = cis[last]
            tip = f"{s['name']} after {n[last]:,} results: {fmt(lifts[last])}" + (
                f", interval {fmt(ci[0])} to {fmt(ci[1])}" if ci else ""
            )
            parts.append(
                el(
                    "circle",
                    el("title", tip),
                    cx=_f(x(n[last])),
                    cy=_f(y(lifts[last])),
                    r=4,
                    fill=colour,
                    class_="last",
                )  # fmt: skip
            )
        lx = left + 8 + k * 160
        legend.append(el("rect", x=lx, y=8, width=12, height=12, fill=colour, fill_opacity="0.6"))
        legend.append(el("text", s["name"], x=lx + 17, y=18, class_="legend"))
    parts.append(el("g", *drawn, clip_path=f"url(#{clip})"))
    for at, label in markers:
        px = x(min(max(at, x0), x1))
        mx, late = _f(px), px > left + pw * 0.8  # a label near the right edge goes to its left
        parts.append(
            el(
                "g",
                el("title", f"after {at:,.0f} results: {label}"),
                el("line", x1=mx, x2=mx, y1=top, y2=top + ph, stroke=INK, stroke_dasharray="2 3"),
                el(
                    "text",
                    label,
                    x=_f(px - 3 if late else px + 3),
                    y=top + 12,
                    text_anchor="end" if late else "start",
                    class_="tick",
                ),
                class_="marker",
            )  # fmt: skip
        )
    parts += legend
    if decisions:
        sy = top + ph + 24
        runs: list[tuple[int, int, str]] = []
        for i, d in enumerate(decisions):
            if runs and runs[-1][2] == d:
                runs[-1] = (runs[-1][0], i, d)
            else:
                runs.append((i, i, d))
        for a, b, d in runs:
            xa = x(n[a - 1]) if a > 0 else x(n[0])
            xb = x(n[b])
            parts.append(
                el(
                    "rect",
                    el("title", f"results {n[a]:,}-{n[b]:,}: {d.replace('_', ' ')}"),
                    x=_f(xa),
                    y=sy,
                    width=_f(max(xb - xa, 1.0)),
                    height=8,
                    fill=DECISION_COLOURS.get(d, "#cbd5e1"),
                    class_="decision",
                    data_decision=d,
                )  # fmt: skip
            )
    parts.append(
        el("text", x_label, x=left + pw / 2, y=height - 6, text_anchor="middle", class_="label")
    )
    parts.append(
        el(
            "text",
            y_label,
            x=14,
            y=top + ph / 2,
            text_anchor="middle",
            class_="label",
            transform=f"rotate(-90 14 {_f(top + ph / 2)})",
        )  # fmt: skip
    )
    drawing = el(
        "svg", el("title", "lift and always-valid interval after every result"), *parts,
        viewBox=f"0 0 {width} {height}", class_="plot interval-plot", role="img",
        xmlns="http://www.w3.org/2000/svg",
    )  # fmt: skip
    # the id names what is drawn (hex digits, never user text): the same plot renders to the same
    # bytes in every process and every call, and two different plots on one page never share one
    digest = hashlib.sha256(drawing.encode("utf-8")).hexdigest()[:12]
    return Safe(drawing.replace(_CLIP, f"plot-area-{digest}"))


def histogram(
    values: Sequence[float],
    *,
    fmt: Fmt,
    markers: Sequence[tuple[str, float]] = (),
    unit: str = "rollouts",
    x_label: str = "",
    width: int = 760,
    height: int = 220,
    max_bins: int = 40,
) -> Safe:
    """Bars of how many ``values`` fall in each bin, with vertical ``markers`` (label, value)."""
    left, right, top, bottom = 56, 16, 14, 40
    pw, ph = width - left - right, height - top - bottom
    xs = sorted(v for v in values if v is not None and math.isfinite(v))
    if not xs:
        return el("p", "No values to plot yet.", class_="muted")
    lo, hi = xs[0], xs[-1]
    if hi == lo:
        lo, hi = lo - 0.5 * (abs(lo) or 1), hi + 0.5 * (abs(hi) or 1)
    q1, q3 = xs[len(xs) // 4], xs[(3 * len(xs)) // 4]
    width_fd = 2 * (q3 - q1) / len(xs) ** (1 / 3)
    bins = int(math.ceil((hi - lo) / width_fd)) if width_fd > 0 else int(math.sqrt(len(xs)))
    bins = max(1, min(max_bins, bins, len(xs)))
    step = (hi - lo) / bins
    counts = [0] * bins
    for v in xs:
        counts[min(bins - 1, int((v - lo) / step))] += 1
    top_count = max(counts)
    x = _Scale(lo, hi, left, left + pw)
    y = _Scale(0, top_count, top + ph, top)
    parts: list[str] = []
    for t in nice_ticks(0, top_count, 4):
        if t <= top_count and float(t).is_integer():
            parts.append(el("line", x1=left, x2=left + pw, y1=_f(y(t)), y2=_f(y(t)), stroke=GRID))
            parts.append(
                el("text", f"{t:.0f}", x=left - 6, y=_f(y(t) + 4), text_anchor="end", class_="tick")
            )
    for i, c in enumerate(counts):
        a, b = lo + i * step, lo + (i + 1) * step
        parts.append(
            el(
                "rect",
                el("title", f"{fmt(a)} to {fmt(b)}: {c} {unit}"),
                x=_f(x(a) + 0.5),
                y=_f(y(c)),
                width=_f(max(x(b) - x(a) - 1, 0.5)),
                height=_f(y(0) - y(c)),
                fill="#60a5fa",
                class_="bar",
                data_count=c,
            )  # fmt: skip
        )
    for t in nice_ticks(lo, hi, 6):
        if lo <= t <= hi:
            parts.append(
                el("text", fmt(t), x=_f(x(t)), y=top + ph + 16, text_anchor="middle", class_="tick")
            )
    for k, (label, v) in enumerate(markers):
        if v is None or not math.isfinite(v):
            continue
        parts.append(
            el(
                "line",
                x1=_f(x(v)),
                x2=_f(x(v)),
                y1=top,
                y2=top + ph,
                stroke="#b91c1c",
                stroke_dasharray="3 3",
                class_="marker",
            )
        )
        near_end = x(v) > left + pw * 0.8
        parts.append(
            el(
                "text",
                f"{label} {fmt(v)}",
                x=_f(x(v) - 4 if near_end else x(v) + 4),
                y=top + 12 + 13 * k,
                text_anchor="end" if near_end else None,
                class_="marker-label",
            )  # fmt: skip
        )
    parts.append(el("line", x1=left, x2=left + pw, y1=top + ph, y2=top + ph, stroke=AXIS))
    if x_label:
        parts.append(
            el("text", x_label, x=left + pw / 2, y=height - 6, text_anchor="middle", class_="label")
        )
    return el(
        "svg", el("title", f"distribution of {len(xs)} values"), *parts,
        viewBox=f"0 0 {width} {height}", class_="plot histogram", role="img",
        xmlns="http://www.w3.org/2000/svg",
    )  # fmt: skip


def rate_plot(rows: Sequence[dict[str, Any]], *, width: int = 760, row_height: int = 30) -> Safe:
    """Horizontal bars of rates in [0, 1] with interval whiskers: ``{"name", "rate", "ci"}``."""
    left, right, top = int(min(170, width * 0.3)), 56, 8
    height = top + row_height * len(rows) + 26
    pw = width - left - right
    x = _Scale(0.0, 1.0, left, left + pw)
    parts: list[str] = []
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(el("line", x1=_f(x(t)), x2=_f(x(t)), y1=top, y2=height - 22, stroke=GRID))
        parts.append(
            el(
                "text",
                f"{t * 100:.0f}%",
                x=_f(x(t)),
                y=height - 8,
                text_anchor="middle",
                class_="tick",
            )
        )
    for k, r in enumerate(rows):
        cy = top + row_height * k + row_height / 2
        parts.append(
            el("text", r["name"], x=left - 8, y=_f(cy + 4), text_anchor="end", class_="legend")
        )
        rate = r.get("rate")
        if rate is None:
            parts.append(el("text", "no scored rollouts", x=left + 4, y=_f(cy + 4), class_="tick"))
            continue
        parts.append(
            el(
                "rect",
                x=left,
                y=_f(cy - 8),
                width=_f(x(rate) - left),
                height=16,
                fill=PALETTE[k % len(PALETTE)],
                fill_opacity="0.75",
                class_="rate",
                data_value=rate,
            )  # fmt: skip
        )
        ci = r.get("ci")
        if ci and ci[0] is not None and ci[1] is not None:
            parts.append(
                el(
                    "path",
                    el(
                        "title",
                        f"{r['name']}: 95% interval {ci[0] * 100:.1f}% to {ci[1] * 100:.1f}%",
                    ),
                    d=f"M{_f(x(ci[0]))},{_f(cy - 5)} v10 M{_f(x(ci[0]))},{_f(cy)} H{_f(x(ci[1]))} "
                    f"M{_f(x(ci[1]))},{_f(cy - 5)} v10",
                    stroke=INK,
                    stroke_width="1.5",
                    fill="none",
                    class_="whisker",
                )  # fmt: skip
            )
        parts.append(
            el("text", f"{rate * 100:.1f}%", x=_f(x(1.0) + 6), y=_f(cy + 4), class_="tick")
        )
    return el(
        "svg", el("title", "rates with 95% intervals"), *parts,
        viewBox=f"0 0 {width} {height}", class_="plot rates", role="img",
        xmlns="http://www.w3.org/2000/svg",
    )  # fmt: skip


def outcome_bar(wins: int, ties: int, losses: int, *, width: int = 760) -> Safe:
    """One stacked bar: wins, ties and losses of a paired comparison."""
    total = wins + ties + losses
    if not total:
        return el("p", "No pairs to compare.", class_="muted")
    parts: list[str] = []
    x = 0.0
    for label, count, colour in (
        ("wins", wins, "#16a34a"),
        ("ties", ties, "#cbd5e1"),
        ("losses", losses, "#dc2626"),
    ):
        w = width * count / total
        if count:
            parts.append(
                el(
                    "rect",
                    el("title", f"{count} {label}"),
                    x=_f(x),
                    y=0,
                    width=_f(w),
                    height=22,
                    fill=colour,
                    class_=f"outcome {label}",
                    data_count=count,
                )  # fmt: skip
            )
            if w > 60:
                parts.append(
                    el(
                        "text",
                        f"{count} {label}",
                        x=_f(x + w / 2),
                        y=15,
                        text_anchor="middle",
                        class_="bar-label",
                    )
                )
        x += w
    return el(
        "svg", *parts, viewBox=f"0 0 {width} 22", class_="plot outcomes", role="img",
        xmlns="http://www.w3.org/2000/svg",
    )  # fmt: skip


__all__ = ["esc", "histogram", "interval_plot", "nice_ticks", "outcome_bar", "rate_plot"]
