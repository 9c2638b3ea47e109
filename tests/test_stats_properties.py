"""Hypothesis properties of the statistics: merging, symmetry, shift invariance, total functions."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trialbook.domain.ab import Guardrail
from trialbook.domain.stats import (
    AnalysisInput,
    CoMoments,
    Effect,
    Moments,
    ResultRow,
    VariantData,
    analyze,
    history,
    variant_data_from_rows,
)

FINITE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
SAMPLES = st.lists(FINITE, max_size=30)
SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def close(a: float, b: float, scale: float = 1.0) -> bool:
    return math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-7 * max(1.0, scale))


class TestMerging:
    @given(SAMPLES, SAMPLES, SAMPLES)
    def test_merging_moments_is_associative(
        self, a: list[float], b: list[float], c: list[float]
    ) -> None:
        ma, mb, mc = Moments.of(a), Moments.of(b), Moments.of(c)
        left, right = ma.merge(mb).merge(mc), ma.merge(mb.merge(mc))
        scale = max([abs(x) for x in a + b + c] + [1.0])
        assert left.n == right.n
        assert close(left.mean, right.mean, scale)
        assert close(left.m2, right.m2, scale**2 * max(left.n, 1))

    @given(SAMPLES, SAMPLES)
    def test_merged_moments_equal_moments_of_the_concatenation(
        self, a: list[float], b: list[float]
    ) -> None:
        merged, whole = Moments.of(a).merge(Moments.of(b)), Moments.of(a + b)
        scale = max([abs(x) for x in a + b] + [1.0])
        assert merged.n == whole.n == len(a + b)
        assert close(merged.mean, whole.mean, scale)
        assert close(merged.m2, whole.m2, scale**2 * max(whole.n, 1))
        if whole.n:
            assert close(merged.mean, float(np.mean(a + b)), scale)
        if whole.n > 1:
            assert close(merged.variance, float(np.var(a + b, ddof=1)), scale**2)

    @given(
        st.lists(st.tuples(FINITE, FINITE), max_size=20),
        st.lists(st.tuples(FINITE, FINITE), max_size=20),
        st.lists(st.tuples(FINITE, FINITE), max_size=20),
    )
    def test_merging_co_moments_is_associative_and_equals_the_concatenation(
        self,
        a: list[tuple[float, float]],
        b: list[tuple[float, float]],
        c: list[tuple[float, float]],
    ) -> None:
        ca, cb, cc = CoMoments.of(a), CoMoments.of(b), CoMoments.of(c)
        left, right, whole = ca.merge(cb).merge(cc), ca.merge(cb.merge(cc)), CoMoments.of(a + b + c)
        scale = max([abs(v) for p in a + b + c for v in p] + [1.0])
        for got in (left, right):
            assert got.n == whole.n
            assert close(got.mean_x, whole.mean_x, scale) and close(got.mean_y, whole.mean_y, scale)
            big = scale**2 * max(whole.n, 1)
            assert close(got.m2_x, whole.m2_x, big) and close(got.m2_y, whole.m2_y, big)
            assert close(got.c_xy, whole.c_xy, big)
        if whole.n > 1:
            xs, ys = [p[0] for p in a + b + c], [p[1] for p in a + b + c]
            assert close(whole.covariance, float(np.cov(xs, ys, ddof=1)[0, 1]), scale**2)


# --------------------------------------------------------------------------- analysis properties

MOMENTS = st.builds(
    lambda n, mean, sd: Moments(n, mean, (n - 1) * sd * sd if n > 1 else 0.0),
    st.integers(0, 5000),
    st.floats(-1e4, 1e4),
    # no spread at all, or a spread doubles can still tell apart after a shift of 1e4
    # (near the engine's "no spread" guard, relative to the means, tests check p-values
    # only where they are defined on both sides)
    st.one_of(st.just(0.0), st.floats(1e-6, 1e3)),
)
PROPORTION = st.builds(
    lambda n, s: (
        Moments.of([1.0] * s + [0.0] * (n - s)) if n < 60 else Moments(n, s / n, s * (n - s) / n)
    ),
    st.integers(0, 3000),
    st.integers(0, 3000),
).filter(lambda m: m.mean <= 1)


def two(metric: str, control: Moments, variant: Moments, swap: bool = False) -> AnalysisInput:
    a = VariantData("a", control.n, {metric: control})
    b = VariantData("b", variant.n, {metric: variant})
    return AnalysisInput(test="t", variants=(a, b), control="b" if swap else "a", metric=metric)


def row_of(analysis: Any, name: str) -> dict[str, Any]:
    return next(v for v in analysis.to_json()["variants"] if v["name"] == name)


class TestSymmetry:
    @SLOW
    @given(MOMENTS, MOMENTS)
    def test_swapping_labels_flips_the_sign_of_the_lift(self, x: Moments, y: Moments) -> None:
        forward = row_of(analyze(two("completion_time", x, y)), "b")
        backward = row_of(analyze(two("completion_time", x, y, swap=True)), "a")
        if forward["lift"] is None:
            assert backward["lift"] is None
            return
        assert backward["lift"] == pytest.approx(-forward["lift"], rel=1e-9, abs=1e-9)
        assert (backward["p_value"] is None) == (forward["p_value"] is None)
        if forward["p_value"] is not None:
            assert backward["p_value"] == pytest.approx(forward["p_value"], rel=1e-6, abs=1e-12)
            assert backward["ci"] == pytest.approx(
                [-forward["ci"][1], -forward["ci"][0]], rel=1e-9, abs=1e-9
            )

    @SLOW
    @given(PROPORTION, PROPORTION)
    def test_swapping_labels_flips_the_sign_for_proportions(self, x: Moments, y: Moments) -> None:
        forward = row_of(analyze(two("success", x, y)), "b")
        backward = row_of(analyze(two("success", x, y, swap=True)), "a")
        if forward["lift"] is not None:
            assert backward["lift"] == pytest.approx(-forward["lift"], abs=1e-12)
            for b, f in [
                (backward["p_value"], forward["p_value"]),
                (backward["fixed_horizon"]["p_value"], forward["fixed_horizon"]["p_value"]),
            ]:
                # undefined (None) on one side means undefined on the other
                assert (b is None) == (f is None)
                if f is not None:
                    assert b == pytest.approx(f, rel=1e-9, abs=1e-15)
            if forward["p_beats_control"] is not None and backward["p_beats_control"] is not None:
                assert backward["p_beats_control"] + forward["p_beats_control"] == pytest.approx(
                    1.0, abs=0.01
                )


class TestShift:
    @SLOW
    @given(MOMENTS, MOMENTS, st.floats(-1e4, 1e4))
    # found by CI: sd 1e-6 shifted by 2236 lands on the "no spread" guard
    @example(Moments(5, 0.0, 0.0), Moments(5, 1.0, 4.0000000000000015e-12), 2236.0)
    def test_adding_a_constant_shifts_estimates_and_keeps_p_values(
        self, x: Moments, y: Moments, c: float
    ) -> None:
        base = analyze(two("score", x, y)).to_json()
        moved = analyze(
            two("score", Moments(x.n, x.mean + c, x.m2), Moments(y.n, y.mean + c, y.m2))
        ).to_json()
        for b, m in zip(base["variants"], moved["variants"], strict=True):
            if b["estimate"] is not None:
                assert m["estimate"] == pytest.approx(b["estimate"] + c, rel=1e-9, abs=1e-6)
            if b["lift"] is not None:
                assert m["lift"] == pytest.approx(b["lift"], rel=1e-6, abs=1e-6)
        # a standard error within ~100x of the engine's "no spread" guard (1e-10 of the
        # means' scale) may fall on either side of it once shifted: p-values are then
        # undefined on one side only, by design
        se = math.sqrt(sum(m.m2 / (m.n - 1) / m.n for m in (x, y) if m.n > 1))
        scale = abs(x.mean) + abs(y.mean) + abs(x.mean + c) + abs(y.mean + c)
        if se <= 1e-8 * scale:
            return
        for b, m in zip(base["variants"], moved["variants"], strict=True):
            for key in ("p_value", "p_value_adjusted"):
                if (
                    b[key] is not None
                    and b["lift"] is not None
                    and abs(b["lift"]) > 1e-6 * (abs(c) + 1)
                ):
                    assert m[key] == pytest.approx(b[key], rel=1e-5, abs=1e-12)
            if (
                b["fixed_horizon"]
                and b["fixed_horizon"]["p_value"] is not None
                and b["lift"]
                and abs(b["lift"]) > 1e-6 * (abs(c) + 1)
            ):
                assert m["fixed_horizon"]["p_value"] == pytest.approx(
                    b["fixed_horizon"]["p_value"], rel=1e-5, abs=1e-12
                )

    @settings(max_examples=40, deadline=None)
    @given(
        st.lists(st.floats(0, 100), min_size=6, max_size=40),
        st.lists(st.floats(0, 100), min_size=6, max_size=40),
        st.floats(-1000, 1000),
    )
    def test_shifting_raw_values_keeps_the_p_value(
        self, a: list[float], b: list[float], c: float
    ) -> None:
        def run(shift: float) -> dict[str, Any]:
            return row_of(
                analyze(
                    two(
                        "score",
                        Moments.of([v + shift for v in a]),
                        Moments.of([v + shift for v in b]),
                    )
                ),
                "b",
            )

        base, moved = run(0.0), run(c)
        if base["p_value"] is not None and np.std(a) > 1e-3 and np.std(b) > 1e-3:
            assert moved["p_value"] == pytest.approx(base["p_value"], rel=1e-4, abs=1e-9)


# --------------------------------------------------------------------------- total functions

VARIANTS = ("control", "b", "c")


@st.composite
def results(draw: st.DrawFn) -> tuple[tuple[str, ...], list[ResultRow]]:
    k = draw(st.integers(2, 3))
    names = VARIANTS[:k]
    n = draw(st.integers(0, 80))
    cases = draw(st.integers(1, 12))
    rows = []
    for _ in range(n):
        values: dict[str, float] = {}
        if draw(st.booleans()) or True:
            values["success"] = float(draw(st.booleans()))
        if draw(st.integers(0, 4)):
            values["completion_time"] = draw(st.floats(0, 1e4))
        calls = draw(st.integers(0, 12))
        if draw(st.integers(0, 4)):
            failed = draw(st.integers(0, calls))
            values["tool_calls"] = float(calls)
            values["failed_calls"] = float(failed)
            if calls:
                values["error_rate"] = failed / calls
        if draw(st.booleans()):
            values["score"] = draw(st.sampled_from([0.0, 0.5, 1.0, draw(st.floats(-5, 5))]))
        rows.append(
            ResultRow(
                variant=draw(st.sampled_from(names)),
                values=values,
                case_id=draw(st.one_of(st.none(), st.integers(0, cases).map(str))),
                failed=draw(st.integers(0, 9)) == 0,
            )
        )
    return names, rows


METRICS = st.sampled_from(
    ["success", "completion_time", "error_rate", "failed_call_ratio", "score"]
)
OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "alpha": st.sampled_from([0.01, 0.05, 0.1]),
        "mde": st.builds(Effect, st.floats(0.001, 2), st.booleans()),
        "equivalence_margin": st.builds(Effect, st.floats(0.001, 2), st.booleans()),
        "tuning": st.floats(10, 1e5),
        "min_results": st.integers(2, 10),
        "secondary_metrics": st.sampled_from([(), ("score",), ("score", "completion_time")]),
    },
)
GUARDS = st.lists(
    st.builds(
        Guardrail,
        metric=st.sampled_from(["completion_time", "cost", "error_rate", "tokens"]),
        limit=st.floats(0, 1),
        relative=st.booleans(),
    ),
    max_size=2,
)


def build(
    data: tuple[tuple[str, ...], list[ResultRow]],
    metric: str,
    guards: list[Guardrail],
    options: dict[str, Any],
) -> AnalysisInput:
    names, rows = data
    return AnalysisInput(
        test="prop",
        variants=variant_data_from_rows(rows, names),
        control=names[0],
        metric=metric,
        guardrails=tuple(g for g in guards if g.metric != metric),
        rows=tuple(rows),
        **options,
    )


class TestTotal:
    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(results(), METRICS, GUARDS, OPTIONS)
    def test_no_valid_input_makes_analyze_raise_or_emit_nan(
        self,
        data: tuple[tuple[str, ...], list[ResultRow]],
        metric: str,
        guards: list[Guardrail],
        options: dict[str, Any],
    ) -> None:
        inp = build(data, metric, guards, options)
        out = analyze(inp).to_json()
        text = json.dumps(out, allow_nan=False)  # raises on nan or infinity
        assert json.loads(text) == out
        rec = out["recommendation"]
        assert rec["decision"] in {"ship", "keep_control", "continue", "no_difference", "blocked"}
        assert rec["reason"]
        assert (rec["variant"] is None) == (rec["decision"] in {"continue", "blocked"})
        for v in out["variants"]:
            for key in ("n", "estimate", "lift", "ci", "p_value", "p_beats_control"):
                assert key in v
            if v["p_value"] is not None:
                assert 0 <= v["p_value"] <= 1
            if v["ci"] is not None:
                assert v["ci"][0] <= v["ci"][1]

    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(results(), METRICS, GUARDS, OPTIONS)
    def test_history_ends_where_analyze_stands(
        self,
        data: tuple[tuple[str, ...], list[ResultRow]],
        metric: str,
        guards: list[Guardrail],
        options: dict[str, Any],
    ) -> None:
        inp = build(data, metric, guards, options)
        trail = history(inp)
        assert [h["n"] for h in trail] == list(range(1, len(data[1]) + 1))
        json.dumps(trail, allow_nan=False)
        if trail:
            rec = analyze(inp).to_json()["recommendation"]
            assert (trail[-1]["decision"], trail[-1]["variant"]) == (
                rec["decision"],
                rec["variant"],
            )
