"""What users type for amounts: durations, token counts, costs, and margins by metric kind.

One set of parsers, so the CLI's options (``--completion-time 2min``,
``--tokens 1.5k``, ``--cost '$0.03'``, ``--mde 5pp``) and the plain-language
parser read the same text the same way. Pure: the standard library and the
metric catalogue only. Every parser raises :class:`UnitError`, whose one-line
message names the value and the forms that are accepted.

Durations (seconds): ``45``, ``45s``, ``2min``, ``1h30m``, ``1.5 minutes``,
``500ms``, ``1:30`` (m:ss), ``1:02:03`` (h:mm:ss).

Token counts (whole numbers): ``1200``, ``1,200``, ``1.5k``, ``2M``, ``1200 tokens``.

Costs (US dollars): ``0.03``, ``$0.03``, ``0.03 USD``, ``3c``, ``3 cents``, ``3¢``.

Margins and minimum detectable effects (``--mde``, ``--margin``), by the metric's kind:

- on a **proportion** (``success``, ``error_rate``, ``failed_call_ratio``: values
  between 0 and 1), ``5pp``, ``5 points``, ``5 pts`` and ``0.05`` are all five
  percentage points, an absolute difference of 0.05; ``5%`` (also ``5 %``,
  ``5 percent``) is **relative**: 5 % of control's rate (0.5 points when control
  succeeds 10 % of the time). A bare number of 1 or more is refused (``5`` would be
  ±500 points, and a difference of two proportions is at most 1), and so are 100
  points or more.
- on any other metric, a bare number is in the metric's units (seconds, tokens,
  dollars, the custom metric's own), ``5%`` is relative to control's mean, and
  points are refused (they only mean something on a proportion). A duration
  metric also takes ``30s``/``2min``, a cost ``$0.01``/``3c``, a token count ``1.5k``.

Each parsed margin's ``str()`` is a canonical text that parses back to it (and
that :meth:`trialbook.domain.stats.model.Effect.parse` reads as the same effect,
which is what recorded analyses store).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from trialbook.domain.errors import InvalidCommand
from trialbook.domain.metrics import METRICS

__all__ = [
    "COST_FORMS",
    "DURATION_FORMS",
    "MARGIN_FORMS",
    "PROPORTION_METRICS",
    "TOKEN_FORMS",
    "Margin",
    "UnitError",
    "format_cost",
    "format_duration",
    "format_tokens",
    "is_proportion",
    "parse_cost",
    "parse_duration",
    "parse_margin",
    "parse_tokens",
]


class UnitError(InvalidCommand, ValueError):
    """A typed amount is not in a form its parser accepts; the message names both."""


#: the accepted forms, in words, for the end of an error message (and for help texts)
DURATION_FORMS = "45 (seconds), 45s, 2min, 1h30m, 1.5 minutes, 500ms or 1:30"
TOKEN_FORMS = "1200, 1,200, 1.5k or 2M"
COST_FORMS = "0.03, $0.03 or 3c (US dollars)"
MARGIN_FORMS = "5pp or 5 points (percentage points), 5% (relative to control) or 0.05"

#: metrics whose values are proportions (0 to 1), so that points mean something on them:
#: the binary and per-session rate metrics, and the pooled failed-call ratio (the rule
#: ``domain.canary.is_proportion`` applies to canary guardrails)
PROPORTION_METRICS = frozenset(
    m.name
    for m in METRICS.values()
    if m.kind in ("binary", "rate") or m.name == "failed_call_ratio"
)
#: metrics measured in seconds, dollars and tokens: their margins take those units too
DURATION_METRICS = frozenset({"completion_time"})
COST_METRICS = frozenset({"cost", "cost_per_success"})
TOKEN_METRICS = frozenset({"tokens"})

#: the largest whole count (a 64-bit signed integer, what the read models store)
_MAX_COUNT = 2**63 - 1

_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_GROUPED = r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?"


def _decimal(number: str, text: str, what: str, forms: str) -> Decimal:
    try:
        value = Decimal(number.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the patterns only pass numbers
        raise UnitError(f"{what} {quoted(text)} is not valid; write {forms}") from None
    if not value.is_finite():  # pragma: no cover - the patterns only pass finite numbers
        raise UnitError(f"{what} {quoted(text)} is not valid; write {forms}")
    return value


def _not_negative(text: str, what: str, forms: str) -> None:
    if str(text).strip().lstrip("$").lstrip().startswith("-"):  # -1, $-1
        raise UnitError(f"{what} {quoted(text)} is negative; write {forms}")


def _finite(value: Decimal, text: str, what: str, forms: str) -> float:
    out = float(value)
    if not math.isfinite(out):
        raise UnitError(f"{what} {quoted(text)} is too large to be a number; write {forms}")
    return out


# --------------------------------------------------------------------------- durations

_DURATION_UNITS: dict[str, Decimal] = {
    **dict.fromkeys(("ms", "msec", "millisecond", "milliseconds"), Decimal("0.001")),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), Decimal(1)),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), Decimal(60)),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), Decimal(3600)),
}
_DURATION_UNIT = "|".join(sorted(map(re.escape, _DURATION_UNITS), key=len, reverse=True))
_DURATION_PART = re.compile(rf"\s*({_NUMBER})\s*({_DURATION_UNIT})(?![a-z])", re.IGNORECASE)
_CLOCK = re.compile(r"\s*(?:([0-9]+):)?([0-9]+):([0-5][0-9](?:\.[0-9]*)?)\s*")


def parse_duration(text: str) -> float:
    """Seconds in ``text``: ``45``, ``45s``, ``2min``, ``1h30m``, ``1.5 minutes``, ``1:30``.

    A bare number is seconds; parts with units add up (``1h 30m``), and a bare whole
    number after hours or minutes is the next unit down (``1h30``, ``2m15``); ``m:ss``
    and ``h:mm:ss`` are clock forms. Negative durations are refused.
    """
    what, forms = "duration", DURATION_FORMS
    source = str(text)
    _not_negative(source, what, forms)
    if re.fullmatch(rf"\s*{_NUMBER}\s*", source):
        return _finite(_decimal(source.strip(), source, what, forms), source, what, forms)
    clock = _CLOCK.fullmatch(source)
    if clock:
        hours, minutes, seconds = clock.groups()
        total = Decimal(hours or 0) * 3600 + Decimal(minutes) * 60 + Decimal(seconds)
        return _finite(total, source, what, forms)
    total, at, parts = Decimal(0), 0, 0
    last = Decimal(0)
    while at < len(source) and source[at:].strip():
        m = _DURATION_PART.match(source, at)
        if not m:
            # a bare whole number after hours or minutes is the next unit down: 1h30, 2m15
            tail = re.fullmatch(r"\s*([0-9]+)\s*", source[at:])
            if tail and parts and last in (Decimal(3600), Decimal(60)):
                total += Decimal(tail.group(1)) * (last / 60)
                break
            raise UnitError(f"duration {quoted(source)} is not valid; write {forms}")
        number, unit = m.groups()
        last = _DURATION_UNITS[unit.lower()]
        total += _decimal(number, source, what, forms) * last
        at, parts = m.end(), parts + 1
    if parts == 0:
        raise UnitError(f"duration {quoted(source)} is not valid; write {forms}")
    return _finite(total, source, what, forms)


def format_duration(seconds: float) -> str:
    """``seconds`` as text :func:`parse_duration` reads back exactly: ``1h30m``, ``45s``, ``0.25s``."""
    if seconds >= 60 and float(seconds).is_integer() and seconds < 10**12:
        whole = int(seconds)
        hours, rest = divmod(whole, 3600)
        minutes, secs = divmod(rest, 60)
        parts = [(hours, "h"), (minutes, "m"), (secs, "s")]
        return "".join(f"{n}{u}" for n, u in parts if n) or "0s"
    return f"{seconds!r}s" if not float(seconds).is_integer() else f"{int(seconds)}s"


# --------------------------------------------------------------------------- token counts

_TOKEN_SCALES: dict[str, int] = {
    **dict.fromkeys(("k", "thousand"), 1_000),
    **dict.fromkeys(("m", "mn", "million"), 1_000_000),
    **dict.fromkeys(("b", "bn", "billion"), 1_000_000_000),
}
_TOKEN_SCALE = "|".join(sorted(map(re.escape, _TOKEN_SCALES), key=len, reverse=True))
_TOKENS = re.compile(
    rf"\s*({_GROUPED}|{_NUMBER})\s*({_TOKEN_SCALE})?\s*(?:tokens?|toks?)?\s*", re.IGNORECASE
)


def _token_amount(text: str) -> Decimal:
    _not_negative(text, "token count", TOKEN_FORMS)
    m = _TOKENS.fullmatch(str(text))
    if not m:
        raise UnitError(f"token count {quoted(text)} is not valid; write {TOKEN_FORMS}")
    number, scale = m.groups()
    value = _decimal(number, text, "token count", TOKEN_FORMS)
    if scale:
        value *= _TOKEN_SCALES[scale.lower()]
    return value


def parse_tokens(text: str) -> int:
    """A whole number of tokens in ``text``: ``1200``, ``1,200``, ``1.5k``, ``2M``.

    ``k`` is a thousand and ``M`` (or ``m``) a million; the count must come out
    whole (``1.2345k`` is refused) and not be negative.
    """
    value = _token_amount(text)
    if value != value.to_integral_value():
        amount = f"{value.normalize():f}"
        of = "" if amount == text.strip() else f" ({amount})"  # 1.2345k is 1234.5; 1.5 is 1.5
        raise UnitError(
            f"token count {quoted(text)} is not a whole number of tokens{of}; write {TOKEN_FORMS}"
        )
    if value > _MAX_COUNT:
        raise UnitError(f"token count {quoted(text)} is too large; write {TOKEN_FORMS}")
    return int(value)


def format_tokens(count: int) -> str:
    """``count`` with thousands separators (``1,200``), which :func:`parse_tokens` reads back."""
    return f"{int(count):,}"


# --------------------------------------------------------------------------- costs

_COST = re.compile(
    rf"\s*(\$)?\s*({_GROUPED}|{_NUMBER})\s*"
    r"(\$|usd|dollars?|c|cents?|¢)?\s*",
    re.IGNORECASE,
)


def parse_cost(text: str) -> float:
    """US dollars in ``text``: ``0.03``, ``$0.03``, ``0.03 USD``, ``3c``, ``3 cents``.

    Cents divide by 100 exactly (``3c`` is ``0.03``); a cost is never negative.
    """
    source = str(text)
    _not_negative(source, "cost", COST_FORMS)
    m = _COST.fullmatch(source)
    if not m:
        raise UnitError(f"cost {quoted(source)} is not valid; write {COST_FORMS}")
    dollar, number, unit = m.groups()
    unit = (unit or "").lower()
    cents = unit in {"c", "cent", "cents", "¢"}
    if dollar and (cents or unit == "$"):
        raise UnitError(f"cost {quoted(source)} is not valid; write {COST_FORMS}")
    value = _decimal(number, source, "cost", COST_FORMS)
    return _finite(value / 100 if cents else value, source, "cost", COST_FORMS)


def format_cost(usd: float | None) -> str:
    """A cost for people, the one way trialbook prints costs: ``$0.03``, ``$0.000018``, ``$1,234.50``.

    Two decimals at least, and enough to show three significant digits of a small
    cost (never rounded to ``$0.0000``, never in exponent form); ``None`` is ``-``.
    """
    if usd is None:
        return "-"
    value = float(usd)
    if not math.isfinite(value):
        return f"${value}"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value == 0:
        return "$0.00"
    if value >= 1:
        return f"{sign}${value:,.2f}"
    # three significant digits below a dollar, at least two decimals
    decimals = max(2, 2 - math.floor(math.log10(value)))
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0")
        whole, _, frac = text.partition(".")
        text = f"{whole}.{frac.ljust(2, '0')}"
    return f"{sign}${text}"


def quoted(text: str, limit: int = 40) -> str:
    """``text`` quoted for an error message, cut to ``limit`` characters (a pasted value of
    thousands of digits stays one readable line)."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


# --------------------------------------------------------------------------- metric values


def format_number(x: float, *, signed: bool = False) -> str:
    """A metric's value for people: four significant digits, never in exponent form between
    1e-6 and 1e15 (``0.00005033``, not ``5.033e-05``; ``12345``, not ``1.234e+04``)."""
    sign = "+" if signed and x >= 0 else ""
    a = abs(x)
    if a == 0 or not math.isfinite(a):
        return f"{x:+g}" if signed else f"{x:g}"
    if not 1e-6 <= a < 1e15:
        return f"{x:+.4g}" if signed else f"{x:.4g}"
    decimals = max(0, 3 - math.floor(math.log10(a)))
    text = f"{x:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return sign + text


def p_text(p: float | None) -> str:
    """A p-value as analyses print it: ``0.012``, ``< 0.001``, ``-`` for none."""
    if p is None:
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def pct(x: float | None, digits: int = 1) -> str:
    """A share as a percentage: ``12.5%``, ``-`` for none."""
    return "-" if x is None else f"{x * 100:.{digits}f}%"


def guardrail_texts(g: Mapping[str, Any]) -> tuple[str, str, str]:
    """One guardrail of an ``ab analyze --json`` document as people read it: its worsening,
    its always-valid interval and its limit (``+2.0%`` on a relative guardrail, ``+0.05``
    on an absolute one). The CLI's analysis and the web view print these same texts."""
    relative = g["relative"]

    def amount(x: float | None) -> str:
        if x is None:
            return "-"
        return f"{x * 100:+.1f}%" if relative else f"{x:+.4g}"

    ci = "not yet defined" if g["ci"] is None else f"{amount(g['ci'][0])} to {amount(g['ci'][1])}"
    limit = f"+{g['limit'] * 100:g}%" if relative else f"+{g['limit']:g}"
    return amount(g["worsening"]), ci, limit


class MetricUnits:
    """How one metric's values and differences read: proportions in %, their differences in
    points, everything else as :func:`format_number` (the same in the CLI, the web view and
    reports)."""

    def __init__(self, kind: str) -> None:
        self.binary = kind == "binary"

    def value(self, x: float | None) -> str:
        if x is None:
            return "-"
        return f"{x * 100:.1f}%" if self.binary else format_number(x)

    def diff(self, d: float | None) -> str:
        if d is None:
            return "-"
        return f"{d * 100:+.1f} pts" if self.binary else format_number(d, signed=True)

    def interval(self, ci: Sequence[float] | None) -> str:
        if ci is None:
            return "not yet defined"
        if self.binary:
            return f"{ci[0] * 100:+.1f} to {ci[1] * 100:+.1f} pts"
        return f"{format_number(ci[0], signed=True)} to {format_number(ci[1], signed=True)}"

    def effect(self, x: float | None) -> str:
        if x is None:
            return "-"
        return f"{x * 100:.1f} pts" if self.binary else format_number(x)

    def tick(self, d: float) -> str:
        """An axis label: whole points, or three significant digits."""
        return f"{d * 100:+.0f} pts" if self.binary else f"{d:+.3g}"


# --------------------------------------------------------------------------- margins


@dataclass(frozen=True)
class Margin:
    """A margin or minimum detectable effect: relative (a fraction of control) or in units.

    On a proportion the units are proportions: ``Margin(0.05)`` is five
    percentage points. ``text`` is the canonical form :func:`parse_margin` (and
    ``Effect.parse``) reads back as this margin: ``5pp``, ``10%``, ``2.5``.
    """

    value: float
    relative: bool
    text: str

    def __str__(self) -> str:
        return self.text


def is_proportion(metric: str) -> bool:
    """Whether ``metric``'s values are proportions (0 to 1), on which points are meant."""
    return metric in PROPORTION_METRICS


#: a number as ``Effect.parse`` reads it, so that canonical texts keep the typed digits
_EFFECT_NUMBER = r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
_MARGIN = re.compile(
    rf"\s*\+?\s*({_EFFECT_NUMBER})\s*"
    r"(%|percent|per\s*cent|pp|p\.p\.|pts?|points?|percentage\s+points?)?\s*",
    re.IGNORECASE,
)


def parse_margin(text: str, metric: str, *, allow_zero: bool = False) -> Margin:
    """A margin or MDE for ``metric`` in ``text``; the rules by metric kind are the module's.

    ``5pp``/``5 points``/``0.05`` on a proportion are five points; ``5%`` is
    relative to control on every metric; a bare ``5`` (or ``150pp``) on a
    proportion is refused with the reason. Zero and negative margins are refused.
    """
    source = str(text)
    kind = METRICS[metric].kind if metric in METRICS else "continuous"
    proportion = is_proportion(metric)
    forms = MARGIN_FORMS if proportion else _unit_forms(metric)
    if source.strip().startswith("-"):
        raise UnitError(
            f"{quoted(source)} is negative; an effect or margin is a size, larger than zero: write {forms}"
        )
    m = _MARGIN.fullmatch(source)
    if not m:
        unsigned = re.sub(r"^\s*\+", "", source)
        converted = _margin_in_units(unsigned, metric, allow_zero=allow_zero)
        if converted is not None:
            return converted
        raise UnitError(f"{quoted(source)} is not valid on {metric}; write {forms}")
    number, unit = m.groups()
    value = _finite(_decimal(number, source, "margin", forms), source, "margin", forms)
    unit = re.sub(r"\s+", " ", (unit or "").lower())
    if not (value > 0 or (allow_zero and value == 0)):
        raise UnitError(f"{quoted(source)} must be larger than zero; write {forms}")
    if unit in {"%", "percent", "per cent"}:
        return Margin(float(number) / 100, True, f"{number}%")
    if unit:  # points
        if not proportion:
            raise UnitError(
                f"{quoted(source)}: points are percentage points of a proportion, and {metric} "
                f"is not one ({kind}); write {forms}"
            )
        points = float(number)
        if points >= 100:
            raise UnitError(
                f"{quoted(source)} is {points:g} points on {metric}, a proportion: two "
                f"proportions differ by less than 100 points; write e.g. 5pp"
            )
        return Margin(points / 100, False, f"{number}pp")
    if proportion and value >= 1:
        raise UnitError(
            f"{quoted(source)} on {metric} (a proportion) would be {value * 100:g} points, and "
            f"two proportions differ by less than 1 (100 points); write {value:g}pp for "
            f"{value:g} points, {value:g}% for {value:g} % of control's rate, or "
            f"{value / 100:g} as a proportion"
        )
    return Margin(float(number), False, number)


def _base(metric: str) -> str:
    """The metric whose units ``metric`` is in: a quantile's (``completion_time:p95``) is its base's."""
    return metric.partition(":")[0]


def _unit_forms(metric: str) -> str:
    metric = _base(metric)
    if metric in DURATION_METRICS:
        return "30 (seconds), 30s, 2min or 10% (relative to control)"
    if metric in COST_METRICS:
        return "0.01, $0.01, 1c or 10% (relative to control)"
    if metric in TOKEN_METRICS:
        return "200, 1.5k or 10% (relative to control)"
    return f"2.5 (in {metric}'s units) or 10% (relative to control)"


def _margin_in_units(text: str, metric: str, *, allow_zero: bool) -> Margin | None:
    """A margin with the metric's own unit (``30s``, ``$0.01``, ``1.5k``) in plain units, if it is one."""
    value: float | None = None
    metric = _base(metric)
    try:
        if metric in DURATION_METRICS:
            value = parse_duration(text)
        elif metric in COST_METRICS:
            value = parse_cost(text)
        elif metric in TOKEN_METRICS:
            value = _finite(_token_amount(text), text, "margin", TOKEN_FORMS)
    except UnitError:
        return None
    if value is None:
        return None
    if not value > 0:
        raise UnitError(f"{quoted(text)} must be larger than zero; write {_unit_forms(metric)}")
    return Margin(value, False, _exact_text(value))


def _exact_text(value: float) -> str:
    """The shortest decimal text that reads back as exactly ``value`` (``repr``, without exponent)."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = f"{Decimal(text):f}"
    return text
