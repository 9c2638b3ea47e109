"""Plots for the terminal: the lift and always-valid interval of each variant over results, as text.

Pure functions of :func:`trialbook.domain.stats.interval_history`'s output. One
line per look: an axis of ``width`` characters with the interval drawn between
brackets, the lift as a dot and no difference as a bar. Where the terminal's
encoding cannot show the box-drawing characters, plain ASCII is used instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

UNICODE = {"line": "─", "dot": "●", "zero": "│", "left": "├", "right": "┤"}
ASCII = {"line": "-", "dot": "o", "zero": "|", "left": "[", "right": "]"}


def can_draw(encoding: str | None) -> bool:
    """Whether text in ``encoding`` can hold the box-drawing characters."""
    try:
        "".join(UNICODE.values()).encode(encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return False
    return True


def interval_lines(
    hist: dict[str, Any],
    variant: str,
    fmt: Callable[[float], str],
    *,
    width: int = 56,
    unicode: bool = True,
) -> list[str]:
    """``variant``'s lift and interval at each look of ``hist``, one line each, on a shared axis."""
    g = UNICODE if unicode else ASCII
    s = hist["variants"][variant]
    looks = [
        (n, lift, ci)
        for n, lift, ci in zip(hist["n"], s["lift"], s["ci"], strict=True)
        if ci is not None
    ]
    if not looks:
        return [f"{variant}: no interval yet (too few results)"]
    lo = min(0.0, *(ci[0] for _, _, ci in looks))
    hi = max(0.0, *(ci[1] for _, _, ci in looks))
    span = (hi - lo) or 1.0

    def col(x: float) -> int:
        return max(0, min(width - 1, round((x - lo) / span * (width - 1))))

    label = max(len(f"{n:,}") for n, _, _ in looks)
    head = f"{'results':>{max(label, 7)}}  {fmt(lo)}"
    lines = [head + fmt(hi).rjust(width + max(label, 7) + 2 - len(head))]
    for n, lift, ci in looks:
        row = [" "] * width
        a, b = col(ci[0]), col(ci[1])
        for i in range(a, b + 1):
            row[i] = g["line"]
        row[a], row[b] = g["left"], g["right"]
        z = col(0.0)
        if row[z] == " " or row[z] == g["line"]:
            row[z] = g["zero"]
        if lift is not None:
            row[col(lift)] = g["dot"]
        lines.append(f"{n:>{max(label, 7)},}  {''.join(row)}  {fmt(ci[0])} to {fmt(ci[1])}")
    return lines


BAR = {True: "█", False: "#"}


def histogram_lines(
    values: list[float | None],
    fmt: Callable[[float], str],
    *,
    bins: int = 10,
    width: int = 40,
    unicode: bool = True,
    distinct: int = 12,
) -> list[str]:
    """How many ``values`` fall in each bin, one line per bin: its range, a bar and the count.

    With ``distinct`` or fewer different values (pass/fail scores, 1-10 ratings), one
    line per value instead of ranges. ``None`` and non-finite values are left out.
    """
    import math

    xs = sorted(v for v in values if v is not None and math.isfinite(v))
    if not xs:
        return ["no values yet"]
    bar = BAR[unicode]
    levels = sorted(set(xs))
    rows: list[tuple[str, int]]
    if len(levels) <= distinct:
        rows = [(fmt(v), xs.count(v)) for v in levels]
    else:
        lo, hi = xs[0], xs[-1]
        step = (hi - lo) / bins
        counts = [0] * bins
        for v in xs:
            counts[min(bins - 1, int((v - lo) / step))] += 1
        rows = [
            (f"{fmt(lo + i * step)} to {fmt(lo + (i + 1) * step)}", c) for i, c in enumerate(counts)
        ]
    top = max(c for _, c in rows)
    label = max(len(t) for t, _ in rows)
    return [
        f"{t:>{label}}  {(bar * max(1 if c else 0, round(c / top * width))):<{width}}  {c:,}"
        for t, c in rows
    ]
