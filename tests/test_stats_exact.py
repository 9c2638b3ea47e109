"""McNemar's exact test and the Wilcoxon signed-rank test computed without ``scipy.stats``
give scipy's very floats."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialbook.domain.stats import frequentist

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 51, 100, 1001, 30_000])
def test_mcnemar_equals_scipys_binomial_test_for_every_split(n: int) -> None:
    ks = range(n + 1) if n <= 1001 else random.Random(n).sample(range(n + 1), 300)
    for b in ks:
        assert frequentist.mcnemar_exact(b, n - b) == scipy_stats.binomtest(b, n, 0.5).pvalue


@given(st.integers(0, 400_000), st.integers(0, 400_000))
@settings(max_examples=200, deadline=None)
def test_mcnemar_equals_scipy_on_large_tables(b: int, c: int) -> None:
    want = 1.0 if b + c == 0 else float(scipy_stats.binomtest(b, b + c, 0.5).pvalue)
    assert frequentist.mcnemar_exact(b, c) == want


@given(
    st.lists(
        st.one_of(
            st.sampled_from([-1.0, 1.0, 0.5, -0.5, 2.0, 0.0]),
            st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
        ),
        min_size=2,
        max_size=400,
    )
)
@settings(max_examples=300, deadline=None)
def test_wilcoxon_equals_scipy(diffs: list[float]) -> None:
    nonzero = [d for d in diffs if d != 0]
    got = frequentist.wilcoxon_p(diffs)
    assert frequentist.wilcoxon_p(np.asarray(diffs)) == got
    if len(nonzero) < 2:
        assert got is None
        return
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = float(scipy_stats.wilcoxon(nonzero).pvalue)
    assert got == want


def test_wilcoxon_equals_scipy_on_many_tied_signs() -> None:
    rng = random.Random(3)
    for n in (51, 52, 1_000, 210_000):
        diffs = [rng.choice((-1.0, 1.0)) for _ in range(n)]
        want = float(scipy_stats.wilcoxon(diffs).pvalue)
        assert frequentist.wilcoxon_p(diffs) == want
