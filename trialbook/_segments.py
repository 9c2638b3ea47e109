"""The typed ``segments`` block of ``ab analyze NAME --by KEY --json``: ``tb.ab.analyze(name, by=KEY)``."""

from __future__ import annotations

from trialbook._models import Analysis, _Model


class SegmentAnalysis(_Model):
    """One segment's comparison of a variant with control (the last look; Holm across segments)."""

    segment: str
    n_variant: int
    n_control: int
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_adjusted: float | None
    different: bool


class Segments(_Model):
    """The breakdown by one dimension: per variant, its segments; labelled exploratory or planned."""

    by: str
    metric: str
    exploratory: bool
    label: str | None
    correction: str
    #: variant name -> its segments, in segment order
    variants: dict[str, list[SegmentAnalysis]]
    #: the cap applied to the metric (``ab create --cap``), if any
    cap: str | None

    def of(self, variant: str, segment: str) -> SegmentAnalysis:
        """Variant ``variant``'s figures in ``segment`` (``KeyError`` if it has none)."""
        for s in self.variants[variant]:
            if s.segment == segment:
                return s
        raise KeyError(segment)


class SegmentedAnalysis(Analysis):
    """An :class:`Analysis` with its breakdown by a dimension (``ab analyze --by KEY --json``)."""

    segments: Segments
