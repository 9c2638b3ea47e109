"""``ab analyze NAME --by KEY``: the analysis broken down by a dimension of the results.

The A/B read model keeps no dimensions (a result's ``dimensions`` object stays in its
``ResultAdded`` event), so the breakdown reads them from the test's stream, up to the
snapshot's position, in the order the read model's rows have (log position): row ``i``
is the ``i``-th result recorded. The statistics are :mod:`domain.stats.segments`; the
correction is Holm across segments × variants.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trialbook.ledger import Ledger
    from trialbook.ledger.analysis import Snapshot


#: the most segments ``--by`` compares: every look of every segment is computed (memory and
#: time grow with segments x results; 2,000 segments of 4,000 results took 1.5 GB), and a
#: Holm correction over hundreds of comparisons can find almost nothing anyway
MAX_SEGMENTS = 100


def dimensions_of(ledger: Ledger, name: str, position: int) -> list[dict[str, Any] | None]:
    """Each recorded result's ``dimensions`` (None where it has none), in log order up to ``position``."""
    from trialbook.domain.ab import stream_for

    out: list[dict[str, Any] | None] = []
    for event in ledger.store.read_stream(stream_for(name)):
        if event.position > position:
            break
        if event.type == "ResultAdded":
            out.append(event.data.get("dimensions"))
    return out


def dimensions_at(conn: Any, positions: list[int]) -> dict[int, dict[str, Any]]:
    """The ``dimensions`` of the results at ``positions`` (those that have any), read from their
    events (the read model keeps none): ``ab show --json``/``--csv`` and ``tb.ab.results``."""
    import json

    out: dict[int, dict[str, Any]] = {}
    for i in range(0, len(positions), 500):
        chunk = positions[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for position, dims in conn.execute(
            f"SELECT position, json_extract(data, '$.dimensions') FROM events "  # noqa: S608 - marks only
            f"WHERE position IN ({marks}) AND type = 'ResultAdded'",
            chunk,
        ):
            if dims:
                out[int(position)] = json.loads(dims)
    return out


def segments_document(
    ledger: Ledger,
    snap: Snapshot,
    by: str,
    *,
    metric: str | None = None,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """The ``segments`` block of ``ab analyze --by KEY --json``; ``InvalidCommand`` for a bad request."""
    import numpy as np

    from trialbook.domain.errors import InvalidCommand
    from trialbook.domain.metrics import metric_named
    from trialbook.domain.stats import engine
    from trialbook.domain.stats.segments import analyze_segments, dimension_key, segment_of

    try:
        key = dimension_key(by)
        m = metric_named(metric or snap.definition.metric)
    except ValueError as e:
        raise InvalidCommand(str(e)) from None
    if m.kind not in ("binary", "continuous", "rate"):
        raise InvalidCommand(
            f"--by breaks down proportions and means; {m.name} is a {m.kind} metric: "
            "name one with --metric (e.g. --metric success)"
        )
    rows = snap.rows or ()
    dims = dimensions_of(ledger, snap.definition.name, snap.position)
    if len(dims) != len(rows):  # pragma: no cover - a read model out of step with its log
        raise AssertionError(f"{len(dims)} results in the log, {len(rows)} in the read model")
    labels = [segment_of(d, by) for d in dims]
    if set(labels) == {"(none)"}:
        raise InvalidCommand(
            f"no result of test {snap.definition.name!r} has a dimension {key!r}; record it "
            f'with `ab add-result … --dimension {key}=VALUE` (or "dimensions" in ab import)'
        )
    y = np.array([r.values.get(m.name, np.nan) for r in rows], dtype=float)
    # a segment none of whose results has a value of the metric is no comparison: left out
    # (it would only widen the correction), its results with it
    names = sorted({x for x, v in zip(labels, y, strict=True) if np.isfinite(v)})
    if not names:
        raise InvalidCommand(
            f"no result of test {snap.definition.name!r} has a value of {m.name}; "
            "name a metric the results carry with --metric"
        )
    if len(names) > MAX_SEGMENTS:
        raise InvalidCommand(
            f"--by {by}: test {snap.definition.name!r} has {len(names):,} values of {key!r}; a "
            f"breakdown compares at most {MAX_SEGMENTS} segments (each look of each is computed); "
            "break it down by a dimension with fewer values"
        )
    code = {n: i for i, n in enumerate(names)}
    seg = np.array([code.get(x, -1) for x in labels], dtype=np.int64)
    cap_text = next(
        (c for c in getattr(snap.definition, "caps", None) or () if c.split(":")[0] == m.name),
        None,
    )
    if cap_text is not None:  # capped in every analysis: here at the current pooled threshold
        from trialbook.domain.stats.cap_rule import Cap

        cap = Cap.parse(cap_text)
        y = cap.apply(y, cap.threshold(y))
    variants = snap.definition.variants
    control = snap.definition.control
    plan = float(snap.definition.expected_results or 500)
    shares = len(variants)
    per_variant = {}
    for v in variants:
        if v == control:
            continue
        arm = np.array([1 if r.variant == v else 0 if r.variant == control else -1 for r in rows])
        looks = analyze_segments(
            m.kind, y, arm, seg, names, plan * 2.0 / shares, alpha, 5, m.lower_is_better
        )
        per_variant[v] = looks
    # Holm across segments x variants, look by look, on the running p-values
    flat = [(v, j) for v, looks in per_variant.items() for j in range(len(looks))]
    if flat:
        adjusted = engine.holm_arrays(np.vstack([per_variant[v][j].p for v, j in flat]))
        for row, (v, j) in enumerate(flat):
            s = per_variant[v][j]
            s.p_adjusted = adjusted[row]
    planned = key in (getattr(snap.definition, "segments", None) or ())
    from trialbook.domain.stats.segments import segment_report

    reports = {
        v: segment_report(looks, alpha, exploratory=not planned, by=by)
        for v, looks in per_variant.items()
    }
    first: dict[str, Any] = next(iter(reports.values()), {})
    return {
        "by": by,
        "metric": m.name,
        "exploratory": not planned,
        "label": first.get("label"),
        "correction": f"Holm across {len(flat)} comparisons (segments x variants); "
        f"intervals at alpha/{len(names)} per variant",
        "variants": {v: r["segments"] for v, r in reports.items()},
        "cap": cap_text,
    }
