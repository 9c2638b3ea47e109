"""The analysis of an A/B test, read from its read model (now or replayed), and decisions on it.

The application side of ``ab analyze``, ``ab conclude`` and the audit: the CLI,
the shell and the Python API call these and only render what they return.

- :func:`read_snapshot`: one consistent read of a test's statistics and the log head;
- :func:`open_as_of`: the test's read model replayed to a position or time;
- :func:`analysis_input`, :func:`analysis_document`, :func:`analyze_test`: the
  ``ab analyze --json`` document;
- :func:`conclude`: record a decision with the analysis it rests on.

numpy and scipy are imported only when an analysis is computed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trialbook.domain.ab import TestCreated
    from trialbook.domain.stats import AnalysisInput, ResultRow, VariantData
    from trialbook.ledger import Ledger
    from trialbook.projections.replay import PointInTime


def require_test(ledger: Ledger, name: str) -> dict[str, Any]:
    """Test ``name``'s definition from the read model; ``NotFound`` naming the fix if none."""
    from trialbook.domain.errors import NotFound
    from trialbook.projections import ab_queries

    test = ab_queries.get_test(ledger.conn, name)
    if test is None:
        raise NotFound(f"no A/B test named {name!r}; see `trialbook ab list`")
    return test


@dataclass(frozen=True)
class Snapshot:
    """What an analysis of one test reads, all from one consistent read of the database.

    ``rows`` is None when per-result rows were not read (more results than
    ``ROWS_FOR_ALL_LOOKS`` and no history asked for), else all results. A paired
    test's per-case statistics are then in ``cases`` (read model ``ab_cases``,
    one row per case). ``position`` is the log head the read saw.
    """

    test: dict[str, Any]
    definition: TestCreated
    variants: tuple[VariantData, ...]
    rows: tuple[ResultRow, ...] | None
    paired: bool
    position: int
    #: when the event at ``position`` was recorded, for a snapshot of the past
    recorded_at: str | None = None
    #: the event log it was read from (a keyed ``--covariate`` reads its source there)
    store: Any = field(default=None, repr=False, compare=False)
    #: paired and without rows: the metrics ``ab_cases`` covers and their per-case statistics
    cases: tuple[tuple[str, ...], Any] | None = field(default=None, repr=False, compare=False)
    #: paired and without rows: reads the results with a case id up to ``position`` (for
    #: a metric ``cases`` does not cover, and for methods 1.0 and 2.0); None once closed
    case_rows: Callable[[], tuple[ResultRow, ...]] | None = field(
        default=None, repr=False, compare=False
    )


def read_rows(
    conn: Any, name: str, *, with_case_only: bool = False, until: int | None = None
) -> tuple[ResultRow, ...]:
    """``projections.ab_queries.read_rows`` (the one seam the analysis reads per-result rows through)."""
    from trialbook.projections import ab_queries

    return ab_queries.read_rows(conn, name, with_case_only=with_case_only, until=until)


#: methods whose paired comparison is computed from the rows with a case id, as they were
#: (their frozen code, or their audits, read rows; see :func:`analysis_input`)
ROW_METHODS = ("1.0", "2.0", "2.1")


def read_snapshot(ledger: Ledger, name: str, *, rows: bool = False) -> Snapshot:
    """Read test ``name``'s sufficient statistics (and its rows if ``rows``) and the log head.

    Per-result rows are read only when the analysis needs them: all of them when
    ``rows`` is true (``--history``), the test has at most
    ``domain.stats.analysis.ROWS_FOR_ALL_LOOKS`` results (so that ``analyze``
    intersects its intervals over every look, as ``--history`` does) or its
    metrics need them. Otherwise everything comes from the per-variant moments
    and, when results pair up by case id across control and another variant, from
    the per-case statistics (``ab_cases``: one small row per case, not per result).
    """
    from trialbook.domain.ab import TestCreated
    from trialbook.domain.errors import NotFound
    from trialbook.domain.events import load_event
    from trialbook.domain.stats import VariantData
    from trialbook.projections import ab_queries

    conn = ledger.conn
    with ledger.store.read_transaction():
        test = ab_queries.get_test(conn, name)
        if test is None:
            raise NotFound(f"no A/B test named {name!r}; see `trialbook ab list`")
        created = ledger.store.get(test["created_position"])
        definition = created and load_event(created.type, created.schema_version, created.data)
        if not isinstance(
            definition, TestCreated
        ):  # pragma: no cover - a read model out of step with its log
            raise AssertionError(
                f"ab_tests names position {test['created_position']} as {name!r}'s creation"
            )
        moments = ab_queries.moments(conn, name)
        comoments = ab_queries.comoments(conn, name)
        variants = tuple(
            VariantData(
                v["variant"],
                v["results"],
                moments.get(v["variant"], {}),
                comoments.get(v["variant"], {}),
            )
            for v in ab_queries.variant_counts(conn, name)
        )
        paired = ab_queries.has_pairs(conn, name, test["control"])
        every = (
            rows
            or sum(v.results for v in variants) <= _rows_for_all_looks()
            or needs_rows(definition)
        )
        result_rows = read_rows(conn, name) if every else None
        cases = None
        if paired and not every:
            from trialbook.projections.ab_cases import case_statistics

            cases = case_statistics(conn, name)
        position = ledger.store.head()[0]
    case_rows = None
    if cases is not None:

        def case_rows() -> tuple[ResultRow, ...]:
            return read_rows(ledger.conn, name, with_case_only=True, until=position)

    return Snapshot(
        test,
        definition,
        variants,
        result_rows,
        paired,
        position,
        store=ledger.store,
        cases=cases,
        case_rows=case_rows,
    )


def needs_rows(definition: Any, metric: str | None = None, covariate: str | None = None) -> bool:
    """Whether an analysis needs every result's row: quantile metrics, caps and covariates do."""
    names = [metric or definition.metric, *(g.metric for g in definition.guardrails or ())]
    return bool(covariate or getattr(definition, "caps", None) or any(":p" in n for n in names))


def _rows_for_all_looks() -> int:
    from trialbook.domain.stats.analysis import ROWS_FOR_ALL_LOOKS

    return ROWS_FOR_ALL_LOOKS


def analysis_input(
    snap: Snapshot,
    *,
    metric: str | None = None,
    alpha: float = 0.05,
    mde: str | None = None,
    margin: str | None = None,
    method_version: str | None = None,
    covariate: str | None = None,
) -> AnalysisInput:
    """The :class:`AnalysisInput` of a snapshot; bad options raise a one-line ``InvalidCommand``.

    The always-valid design is planned for the test's ``expected_results``
    (recorded at creation), else the statistics' default. ``method_version``
    computes with an older method (an audit of a decision recorded with it).
    ``covariate`` is a field of the results or a keyed source (``case:RUN``,
    ``test:OTHER.METRIC``; :mod:`ledger.covariates`), read as of the snapshot.
    """
    from trialbook.domain.stats import AnalysisInput

    if covariate is not None:
        from trialbook.ledger.covariates import attach

        snap = attach(snap, covariate)
    rows, cases = snap.rows, None
    if rows is None and snap.cases is not None:
        covered, cells = snap.cases
        guards = [g.metric for g in snap.definition.guardrails or ()]
        from trialbook.projections.ab_cases import slots_of

        wanted = slots_of(metric or snap.definition.metric, guards)
        if method_version in ROW_METHODS or not set(wanted) <= set(covered):
            rows = _case_rows(snap, metric)
        else:
            cases = cells
    inp = AnalysisInput.from_request(
        snap.definition,
        snap.variants,
        rows,
        metric=metric,
        alpha=alpha,
        mde=mde,
        margin=margin,
        method_version=method_version,
        covariate=covariate,
        cases=cases,
    )
    if rows is not None and snap.rows is None and method_version not in ROW_METHODS:
        # a metric ab_cases does not keep: the same per-case statistics, from the rows
        from trialbook.domain.stats import engine

        inp = replace(inp, rows=None, cases=engine.case_cells(engine.spec_of(inp), rows))
    return inp


def _case_rows(snap: Snapshot, metric: str | None) -> tuple[ResultRow, ...]:
    from trialbook.domain.errors import InvalidCommand

    if snap.case_rows is None:
        raise InvalidCommand(
            f"the analysis of {metric or snap.definition.metric!r} as of position "
            f"{snap.position} needs the paired results; give --metric to the snapshot"
        )
    return snap.case_rows()


def analysis_document(analysis: Any, position: int) -> dict[str, Any]:
    """``Analysis.to_json()`` with the log ``position`` it was computed at, after ``method_version``."""
    out: dict[str, Any] = {}
    for key, value in analysis.to_json().items():
        out[key] = value
        if key == "method_version":
            out["position"] = position
    out.setdefault("position", position)
    return out


def analyze_test(
    ledger: Ledger,
    name: str,
    *,
    at: int | None = None,
    as_of: str | None = None,
    by: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The ``ab analyze --json`` document of test ``name`` (options as :func:`analysis_input`).

    Now, or replayed to log position ``at`` or time ``as_of`` (see :func:`open_as_of`).
    ``by`` adds the breakdown by that dimension (``segments``, as ``ab analyze --by KEY``).
    """
    from trialbook.domain.stats import analyze

    rows = (
        ":p" in (options.get("metric") or "")
        or options.get("covariate") is not None
        or by is not None
    )
    snap = snapshot(ledger, name, at=at, as_of=as_of, rows=rows, metric=options.get("metric"))
    doc = analysis_document(analyze(analysis_input(snap, **options)), snap.position)
    if by is not None:
        from trialbook.ledger.segments import segments_document

        seen: Any = snap  # the Snapshot of this module (mypy sees it under two names)
        doc["segments"] = segments_document(
            ledger, seen, by, metric=options.get("metric"), alpha=options.get("alpha", 0.05)
        )
    return doc


def snapshot(
    ledger: Ledger,
    name: str,
    *,
    at: int | None = None,
    as_of: str | None = None,
    rows: bool = False,
    metric: str | None = None,
) -> Snapshot:
    """:func:`read_snapshot` now, or of the log replayed to ``at``/``as_of`` (closed after reading).

    A replayed paired test whose per-case statistics do not cover ``metric`` (the
    test's own by default) has its rows with a case id read before the replay closes.
    """
    if at is None and as_of is None:
        return read_snapshot(ledger, name, rows=rows)
    past = open_as_of(ledger, name, at=at, as_of=as_of)
    try:
        snap = read_snapshot(past, name, rows=rows)  # type: ignore[arg-type]
        kept = None
        if snap.cases is not None and snap.case_rows is not None:
            from trialbook.projections.ab_cases import slots_of

            guards = [g.metric for g in snap.definition.guardrails or ()]
            if not set(slots_of(metric or snap.definition.metric, guards)) <= set(snap.cases[0]):
                kept = snap.case_rows()
    finally:
        past.close()
    read = None if kept is None else (lambda: kept)
    return replace(snap, recorded_at=past.recorded_at, case_rows=read)


def open_as_of(
    ledger: Ledger, name: str, *, at: int | None = None, as_of: str | None = None
) -> PointInTime:
    """Test ``name``'s read model replayed up to a position or time, in a private database.

    Only the test's own stream is folded (its tables are keyed by test, so this
    is exact). Raises ``NotFound`` if the test did not exist yet at that point.
    """
    from trialbook.domain.ab import stream_for
    from trialbook.domain.errors import NotFound
    from trialbook.projections import ab_queries
    from trialbook.projections.ab import ABProjection
    from trialbook.projections.replay import replay_to, resolve_position

    store = ledger.store
    position = resolve_position(store, at=at, as_of=as_of)
    view = replay_to(store, [ABProjection()], position, stream_id=stream_for(name))
    if ab_queries.get_test(view.conn, name) is None:
        view.close()
        live = ab_queries.get_test(ledger.conn, name)
        if live is None:
            raise NotFound(f"no A/B test named {name!r}; see `trialbook ab list`")
        raise NotFound(
            f"test {name!r} did not exist yet at position {position}; "
            f"it was created at position {live['created_position']}"
        )
    return view


def conclude(
    ledger: Ledger,
    name: str,
    *,
    ship: str | None = None,
    keep_control: bool = False,
    stop: bool = False,
    note: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Record a decision on test ``name`` with the current analysis (``ab conclude --json``).

    Exactly one of ``ship``, ``keep_control`` and ``stop``; ``options`` as
    :func:`analysis_input`. Returns the ``ab conclude --json`` document.
    """
    from trialbook.domain import ab as d
    from trialbook.domain.commands import build
    from trialbook.domain.errors import InvalidCommand
    from trialbook.domain.stats import METHOD_VERSION, analyze

    given = [
        flag
        for flag, on in (("ship", ship is not None), ("keep_control", keep_control), ("stop", stop))
        if on
    ]
    if len(given) != 1:
        raise InvalidCommand(
            "give exactly one of --ship VARIANT, --keep-control or --stop"
            + (f" (got {' and '.join('--' + g.replace('_', '-') for g in given)})" if given else "")
        )
    choice = given[0]
    rows = ":p" in (options.get("metric") or "") or options.get("covariate") is not None
    snap = read_snapshot(ledger, name, rows=rows)
    doc = analysis_document(analyze(analysis_input(snap, **options)), snap.position)
    command = build(
        d.ConcludeTest,
        test=name,
        choice=choice,
        variant=ship,
        note=note,
        analysis=doc,
        method_version=METHOD_VERSION,
        position=snap.position,
    )
    (recorded,) = ledger.execute(command)
    data = recorded.data
    return {
        "test": name,
        "position": recorded.position,
        "choice": choice,
        "variant": data.get("variant"),
        "against_recommendation": data["against_recommendation"],
        "recommendation": doc["recommendation"],
        "analysis_position": snap.position,
        "method_version": METHOD_VERSION,
    }
