"""Read models folded from the event log."""

from __future__ import annotations

from trialbook.projections.base import Projection, Projector

__all__ = ["Projection", "Projector", "default_projections"]


def default_projections() -> list[Projection]:
    """Every read model trialbook keeps, in the order they are folded."""
    from trialbook.projections.ab import ABProjection
    from trialbook.projections.ab_decisions import ABDecisionsProjection
    from trialbook.projections.canary import CanaryProjection
    from trialbook.projections.evals import EvalsProjection

    return [ABProjection(), ABDecisionsProjection(), EvalsProjection(), CanaryProjection()]
