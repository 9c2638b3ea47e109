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
