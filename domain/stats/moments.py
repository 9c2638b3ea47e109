"""Mergeable sufficient statistics of one metric: count, mean and M2.

M2 is the sum of squared deviations from the mean. Merging uses Chan et al.'s
parallel update (Chan, Golub, LeVeque 1979), which is numerically stable where
sums of squares are not (a mean far from zero with a small spread).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


def welford(n: int, mean: float, m2: float, values: Iterable[float]) -> tuple[int, float, float]:
    """Welford's update of (count, mean, M2) by ``values``, one at a time, in order.

    The read models fold with it in log position order, so the same events give
    bit-identical numbers however they are batched.
    """
    for x in values:
        n += 1
        delta = x - mean
        mean += delta / n
        m2 += delta * (x - mean)
    return n, mean, m2


def co_welford(
    n: int,
    mean_x: float,
    mean_y: float,
    m2_x: float,
    m2_y: float,
    c_xy: float,
    pairs: Iterable[tuple[float, float]],
) -> tuple[int, float, float, float, float, float]:
    """Welford's update of paired values' (count, mean_x, mean_y, M2_x, M2_y, C_xy) by
    ``pairs``, one at a time, in order: :func:`welford` extended to the co-moment
    ``C = sum((x - mean_x) * (y - mean_y))``, bit-identical however the pairs are batched.
    """
    for x, y in pairs:
        n += 1
        dx, dy = x - mean_x, y - mean_y
        mean_x += dx / n
        mean_y += dy / n
        m2_x += dx * (x - mean_x)
        m2_y += dy * (y - mean_y)
        c_xy += dx * (y - mean_y)
    return n, mean_x, mean_y, m2_x, m2_y, c_xy


@dataclass(frozen=True)
class Moments:
    """Count, mean and sum of squared deviations (M2) of a set of finite values."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    @classmethod
    def of(cls, values: Iterable[float]) -> Moments:
        """Moments of ``values`` by Welford's single pass."""
        n, mean, m2 = welford(0, 0.0, 0.0, values)
        return cls(n, mean, max(m2, 0.0))

    def merge(self, other: Moments) -> Moments:
        """Moments of the union of both samples."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        m2 = self.m2 + other.m2 + delta * delta * self.n * other.n / n
        return Moments(n, mean, max(m2, 0.0))

    def add(self, x: float) -> Moments:
        """Moments with one more value."""
        return self.merge(Moments(1, float(x), 0.0))

    @property
    def total(self) -> float:
        """Sum of the values."""
        return self.mean * self.n

    @property
    def variance(self) -> float:
        """Sample variance (ddof=1); 0 with fewer than two values."""
        return self.m2 / (self.n - 1) if self.n > 1 else 0.0

    @property
    def sd(self) -> float:
        """Sample standard deviation (ddof=1)."""
        return math.sqrt(self.variance)


@dataclass(frozen=True)
class CoMoments:
    """Mergeable sufficient statistics of paired values (x, y): both means, M2s and the co-moment.

    Enough for the delta method on a pooled ratio ``sum(x) / sum(y)`` (for
    example failed calls over all calls). Merging follows the same parallel
    update as :class:`Moments`, extended to the co-moment
    ``C = sum((x - mean_x) * (y - mean_y))``.
    """

    n: int = 0
    mean_x: float = 0.0
    mean_y: float = 0.0
    m2_x: float = 0.0
    m2_y: float = 0.0
    c_xy: float = 0.0

    @classmethod
    def of(cls, pairs: Iterable[tuple[float, float]]) -> CoMoments:
        """Co-moments of ``(x, y)`` pairs."""
        acc = cls()
        for x, y in pairs:
            acc = acc.merge(cls(1, float(x), float(y), 0.0, 0.0, 0.0))
        return acc

    def merge(self, other: CoMoments) -> CoMoments:
        """Co-moments of the union of both samples."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        dx = other.mean_x - self.mean_x
        dy = other.mean_y - self.mean_y
        w = self.n * other.n / n
        return CoMoments(
            n,
            self.mean_x + dx * other.n / n,
            self.mean_y + dy * other.n / n,
            max(self.m2_x + other.m2_x + dx * dx * w, 0.0),
            max(self.m2_y + other.m2_y + dy * dy * w, 0.0),
            self.c_xy + other.c_xy + dx * dy * w,
        )

    @property
    def x(self) -> Moments:
        """Moments of the x values alone."""
        return Moments(self.n, self.mean_x, self.m2_x)

    @property
    def y(self) -> Moments:
        """Moments of the y values alone."""
        return Moments(self.n, self.mean_y, self.m2_y)

    @property
    def covariance(self) -> float:
        """Sample covariance (ddof=1); 0 with fewer than two pairs."""
        return self.c_xy / (self.n - 1) if self.n > 1 else 0.0
