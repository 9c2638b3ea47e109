"""The catalogue of A/B metrics: what each one measures, its kind and its good direction.

Kinds:
- ``binary``: 0/1 per result (success); two-proportion methods.
- ``continuous``: one number per result (time, tokens, cost, score …); Welch.
- ``rate``: a per-session rate averaged over sessions (mean of per-session error rates,
  or of tool success rates): a continuous mean over sessions, not a share of sessions;
  Welch. A session without tool calls has no rate and is left out of the mean.
- ``ratio``: a pooled ratio of two per-result sums (failed calls / all calls,
  cost per success); the delta method, from :class:`~domain.stats.moments.CoMoments`.

Custom metrics recorded with ``--metric key=value`` are continuous and higher-is-better
unless the test's definition says otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["binary", "continuous", "rate", "ratio", "quantile"]

CUSTOM_METRIC_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: ``BASE:pNN`` (``completion_time:p95``, ``cost:p99.9``): a quantile of a per-result metric
QUANTILE_METRIC_RE = re.compile(r"^([a-z][a-z0-9_]{0,63}):p(\d{1,2}(?:\.\d{1,3})?)$")


def parse_quantile(name: str) -> tuple[str, float] | None:
    """``("completion_time", 0.95)`` for ``completion_time:p95``; None for a name without ``:pNN``.

    Raises ``ValueError`` for ``:p0`` or a malformed percentile.
    """
    m = QUANTILE_METRIC_RE.match(name)
    if m is None:
        if re.fullmatch(
            r"[a-z][a-z0-9_]{0,63}:p(?:100(?:\.0{1,3})?|-\d{1,3}(?:\.\d{1,3})?)", name
        ):  # p100, p-5
            raise ValueError(
                f"quantile metric {name!r}: the percentile must lie between 0 and 100 "
                "(exclusive), e.g. completion_time:p95 or cost:p99.9"
            )
        if ":p" in name:
            raise ValueError(
                f"quantile metric {name!r} is not valid; write METRIC:pNN, e.g. completion_time:p95"
            )
        return None
    p = float(m.group(2)) / 100.0
    if not 0.0 < p < 1.0:
        raise ValueError(
            f"quantile metric {name!r}: the percentile must lie between 0 and 100 "
            "(exclusive), e.g. completion_time:p95 or cost:p99.9"
        )
    return m.group(1), p


@dataclass(frozen=True)
class Metric:
    """One measurable quantity of a result."""

    name: str
    kind: Kind
    lower_is_better: bool
    description: str
    #: for ratio metrics: the names of the per-result numerator and denominator values
    numerator: str | None = None
    denominator: str | None = None


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("success", "binary", False, "share of sessions that succeeded"),
        Metric(
            "error_rate",
            "rate",
            True,
            "mean of per-session failed-call rates (failed / tool calls)",
        ),
        Metric(
            "tool_success_rate",
            "rate",
            False,
            "mean of per-session succeeded-call rates (successful / tool calls); the "
            "warm-session framework's avg_success_rate",
        ),
        Metric(
            "failed_call_ratio",
            "ratio",
            True,
            "all failed calls / all tool calls (pooled)",
            numerator="failed_calls",
            denominator="tool_calls",
        ),
        Metric("completion_time", "continuous", True, "seconds to complete a session"),
        Metric("tool_calls", "continuous", True, "tool calls per session"),
        Metric("errors", "continuous", True, "errors per session"),
        Metric("messages", "continuous", True, "messages per session"),
        Metric("corrections", "continuous", True, "user corrections per session"),
        Metric("tokens", "continuous", True, "tokens per session"),
        Metric("cost", "continuous", True, "USD per session"),
        Metric("score", "continuous", False, "score per session"),
        Metric(
            "cost_per_success",
            "ratio",
            True,
            "all cost / all successes (pooled)",
            numerator="cost",
            denominator="success",
        ),
    ]
}

#: the metrics whose values are proportions (0 to 1): the binary ones, the per-session rates and
#: the pooled failed-call ratio. A difference of two lies in [-1, 1]; a margin or limit on one
#: may be written in percentage points.
PROPORTIONS: frozenset[str] = frozenset(
    m.name
    for m in METRICS.values()
    if m.kind in ("binary", "rate") or m.name == "failed_call_ratio"
)

#: the pooled ratios whose co-moments the A/B projection keeps, as (numerator, denominator)
RATIO_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (m.numerator, m.denominator)
    for m in METRICS.values()
    if m.numerator is not None and m.denominator is not None
)


#: why ``--metric success_rate`` is refused (by ``ab create`` and ``ab analyze``): the words
#: mean two things
SUCCESS_RATE_IS_AMBIGUOUS = (
    "'success_rate' means two things, so name one: success is the share of sessions that "
    "succeeded (trialbook's success rate); tool_success_rate is the mean over sessions of the "
    "share of a session's tool calls that succeeded (the warm-session framework's success_rate)"
)

#: names a custom ``--metric key=value`` may not take: the catalogue's metrics and the
#: per-result values they are computed from (a custom value would be read as the built-in)
RESERVED_METRIC_NAMES: frozenset[str] = frozenset(METRICS) | {"failed_calls", "successful_calls"}


def metric_named(name: str, lower_is_better: Mapping[str, bool] | None = None) -> Metric:
    """The metric called ``name``: a built-in, a custom continuous metric, or a quantile of one (``cost:p99``)."""
    if name in METRICS:
        return METRICS[name]
    quantile = parse_quantile(name)
    if quantile is not None:
        base = metric_named(quantile[0], lower_is_better)
        if base.kind not in ("continuous", "rate"):
            raise ValueError(
                f"quantile metric {name!r}: {base.name} is {base.kind}; a quantile needs a "
                "per-result number such as completion_time, cost or tokens"
            )
        return Metric(
            name, "quantile", base.lower_is_better, f"{quantile[1] * 100:g}th percentile of {base.name}",
            numerator=base.name,
        )  # fmt: skip
    if not CUSTOM_METRIC_RE.match(name):
        raise ValueError(f"{name!r} is not a metric name")
    lower = bool((lower_is_better or {}).get(name, False))
    return Metric(name, "continuous", lower, f"custom metric {name}")


def add_outcome_and_calls(
    obs: dict[str, float], success: Any, tool_calls: Any, ok_calls: Any, errors: Any
) -> None:
    """Put the outcome and the tool-call values into ``obs``: success, tool calls, failed calls,
    error rate and tool success rate (only with calls), errors. The one statement of these
    rules, for :func:`observations` and for the A/B read model's rows
    (``projections.ab.row_values``)."""
    if success is not None:
        obs["success"] = 1.0 if success else 0.0
    if tool_calls is not None:
        obs["tool_calls"] = float(tool_calls)
        if ok_calls is not None:
            failed = tool_calls - ok_calls
            obs["failed_calls"] = float(failed)
            if tool_calls > 0:
                obs["error_rate"] = failed / tool_calls
                obs["tool_success_rate"] = ok_calls / tool_calls
    if errors is not None:
        obs["errors"] = float(errors)


def observations(result: Mapping[str, Any]) -> dict[str, float]:
    """The per-result values every metric is computed from, for one result's data.

    Missing values are left out (a result without tool calls has no error rate and no
    tool success rate: there is no call to succeed or fail).
    Custom metrics appear under their own names.
    """
    obs: dict[str, float] = {}
    errors = result.get("errors")
    if errors is None and result.get("error_messages"):
        errors = len(result["error_messages"])  # messages given without a count: count them
    add_outcome_and_calls(
        obs, result.get("success"), result.get("tool_calls"), result.get("successful_calls"), errors
    )
    for name in ("completion_time", "messages", "corrections", "tokens", "cost", "score"):
        value = result.get(name)
        if value is not None:
            obs[name] = float(value)
    for name, value in (result.get("metrics") or {}).items():
        if name not in obs:
            obs[name] = float(value)
    return obs
