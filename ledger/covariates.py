"""``--covariate case:RUN`` and ``--covariate test:OTHER.METRIC``: a covariate keyed by case.

A plain ``--covariate NAME`` is a number on each result itself. The keyed sources give
each result the value of its **case id** elsewhere in the log:

- ``case:RUN``: the case's mean score in eval run ``RUN`` (over its epochs), on the
  basis ``eval compare`` would use for the run (its first scorer, else the target's
  own score, else completion);
- ``test:OTHER.METRIC``: the mean of ``METRIC`` over the results of A/B test ``OTHER``
  (every variant) that carry the case id (a pre-period test).

Both are read **as of the analysed position** (the source's stream replayed up to it,
like ``open_as_of``), so an audit of a decision replays the same covariate. A result
without a case id, or whose case the source has no value for, has no covariate value:
like a result without the field, it is left out of the adjusted comparison, and
``settings.covariate`` counts the results in it and those left out. Whether a case is
in the source is fixed before this test assigned it, so the kept results are still a
randomised comparison.

Once the per-result vector is built the analysis is the field covariate's, on the same
code path: the values go into each row under the covariate's text (``case:RUN``) and
into each variant's moments, and :mod:`domain.stats.cuped` does the rest.

Not here: a file of pre-period values (``unit:FILE``): it is not in the log, so an
audit could not replay it; import it as a test and use ``test:OTHER.METRIC``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

#: the forms a keyed covariate takes, for error messages
FORMS = "case:RUN (a case's mean score in eval run RUN) or test:OTHER.METRIC"


@dataclass(frozen=True)
class Source:
    """A parsed keyed covariate: ``kind`` ``case`` (eval run ``name``) or ``test`` (``name``, ``metric``)."""

    text: str
    kind: str
    name: str
    metric: str | None = None


def parse(text: str) -> Source | None:
    """The keyed source ``text`` names; None for a plain field name; ``InvalidCommand`` if malformed."""
    from trialbook.domain.errors import InvalidCommand
    from trialbook.domain.metrics import CUSTOM_METRIC_RE

    if not text.strip():
        raise InvalidCommand(
            f"--covariate is empty; name a value the results carry (e.g. --covariate prior) or {FORMS}"
        )
    if ":" not in text:
        return None
    kind, _, rest = text.partition(":")
    if kind == "case" and rest:
        return Source(text, "case", rest)
    if kind == "test" and rest:
        name, dot, metric = rest.rpartition(".")
        if not dot or not name or not CUSTOM_METRIC_RE.match(metric):
            raise InvalidCommand(
                f"--covariate {text}: name the other test's metric after a dot, "
                "e.g. test:last-week.score"
            )
        return Source(text, "test", name, metric)
    raise InvalidCommand(f"--covariate {text}: a keyed covariate is {FORMS}")


def _replay(store: Any, projection: Any, position: int, stream: str) -> Any:
    from trialbook.projections.replay import replay_to

    live = getattr(store, "live", store)  # a point-in-time view's log reads the live file
    return replay_to(live, [projection], position, stream_id=stream)


def per_case(store: Any, position: int, source: Source, test: str) -> dict[str, float]:
    """Each case id's covariate value in ``source`` as of log ``position``; one-line errors."""
    from trialbook.domain.errors import InvalidCommand, NotFound

    by_case: dict[str, list[float]] = defaultdict(list)
    if source.kind == "case":
        from trialbook.domain.evals import run_stream
        from trialbook.ledger.eval_compare import _measure, choose_basis
        from trialbook.projections import eval_queries
        from trialbook.projections.evals import EvalsProjection

        with _replay(store, EvalsProjection(), position, run_stream(source.name)) as view:
            if eval_queries.get_run(view.conn, source.name, live=False) is None:
                raise NotFound(
                    f"--covariate {source.text}: no eval run named {source.name!r} at log "
                    f"position {position}; see `trialbook eval list`"
                )
            basis = choose_basis(view.conn, source.name, source.name, None)
            for (case_id, _epoch), side in _measure(view.conn, source.name, basis).scored.items():
                by_case[case_id].append(side.score)
    else:
        from trialbook.domain.ab import stream_for
        from trialbook.projections import ab_queries
        from trialbook.projections.ab import ABProjection

        if source.name == test:
            raise InvalidCommand(
                f"--covariate {source.text}: a covariate must be measured before this test; "
                "name another (pre-period) test"
            )
        with _replay(store, ABProjection(), position, stream_for(source.name)) as view:
            if ab_queries.get_test(view.conn, source.name) is None:
                raise NotFound(
                    f"--covariate {source.text}: no A/B test named {source.name!r} at log "
                    f"position {position}; see `trialbook ab list`"
                )
            rows = ab_queries.read_rows(view.conn, source.name, with_case_only=True)
        metric = source.metric or ""
        for r in rows:
            v = r.values.get(metric)
            if r.case_id is not None and v is not None and math.isfinite(v):
                by_case[r.case_id].append(float(v))
        if not by_case:
            raise InvalidCommand(
                f"--covariate {source.text}: test {source.name!r} has no results with a case id "
                f"and a value of {metric!r}"
            )
    return {case: sum(xs) / len(xs) for case, xs in by_case.items()}


def attach(snap: Any, text: str) -> Any:
    """``snap`` (a ``ledger.analysis.Snapshot``) with the keyed covariate ``text`` in its rows and moments (unchanged for a field)."""
    from trialbook.domain.errors import InvalidCommand

    source = parse(text)
    if source is None:
        return snap
    if snap.store is None or snap.rows is None:  # pragma: no cover - the ledger reads them
        raise AssertionError("a keyed covariate needs the snapshot's log and rows")
    values = per_case(snap.store, snap.position, source, snap.definition.name)
    got = joined(snap, text, values)
    if got is None:
        where = "eval run" if source.kind == "case" else "test"
        raise InvalidCommand(
            f"--covariate {text}: no result of test {snap.definition.name!r} has a case id that "
            f"{where} {source.name!r} has a value for; record case ids (--case-id) or name "
            "another source"
        )
    return got


def joined(snap: Any, text: str, values: dict[str, float]) -> Any:
    """``snap`` with ``values[case_id]`` as the value ``text`` of each result whose case has one,
    and each variant's moments of it; None when no result has one. Pure."""
    from trialbook.domain.stats import ResultRow
    from trialbook.domain.stats.moments import Moments

    rows = []
    found: dict[str, list[float]] = defaultdict(list)
    for r in snap.rows:
        x = values.get(r.case_id) if r.case_id is not None else None
        if x is None:
            rows.append(r)
            continue
        found[r.variant].append(x)
        rows.append(ResultRow(r.variant, {**r.values, text: x}, r.case_id, r.failed))
    if not found:
        return None
    variants = tuple(
        replace(v, moments={**v.moments, text: Moments.of(found[v.name])}) if v.name in found else v
        for v in snap.variants
    )
    return replace(snap, rows=tuple(rows), variants=variants)
