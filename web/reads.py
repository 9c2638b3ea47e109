"""What the web view shows, read through the application layer the CLI uses: plain JSON-ready dicts.

Each function takes a :class:`trialbook.ledger.Ledger` and reads only: the
numbers are the ones the CLI's ``--json`` prints because they come from the
same functions (``ab analyze`` → :func:`trialbook.ledger.analysis.analyze_test`,
``eval show`` → :func:`trialbook.ledger.evals.run_report`, ``eval compare`` →
:func:`trialbook.ledger.evals.compare_runs` without ``--into-ab``, …). The JSON
endpoints of :mod:`web.server` return these dicts as they are and the pages
render them, so a page can be checked against the CLI number by number.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trialbook.ledger import Ledger

#: looks kept for the interval plot (the first, the last and evenly spaced ones between)
PLOT_LOOKS = 400
#: events per page of the log
LOG_LIMIT = 100


def head(ledger: Ledger) -> dict[str, Any]:
    """The log's last position and hash (what the pages poll to refresh)."""
    position, digest = ledger.store.head()
    return {"position": position, "hash": digest}


# --------------------------------------------------------------------------- A/B tests


def tests(ledger: Ledger) -> list[dict[str, Any]]:
    """Every test (archived ones too) with its latest decision and current recommendation.

    The test rows and decisions are ``ab list --all --json``; ``recommendation`` is
    ``ab analyze --json``'s (or ``error`` when the test cannot be analysed yet).
    """
    from trialbook.domain.errors import DomainError
    from trialbook.ledger.analysis import analyze_test
    from trialbook.projections import ab_queries
    from trialbook.projections.ab_decisions import latest_decisions

    with ledger.store.read_transaction() as conn:
        rows = ab_queries.list_tests(conn, include_archived=True)
        decided = latest_decisions(conn)
        out = []
        for t in rows:
            item = {**t, "decision": decided.get(t["name"]), "recommendation": None, "error": None}
            try:
                item["recommendation"] = analyze_test(ledger, t["name"])["recommendation"]
            except DomainError as e:
                item["error"] = str(e)
            out.append(item)
    return out


def test_page(ledger: Ledger, name: str, **options: Any) -> dict[str, Any]:
    """Everything a test's page shows, from one consistent read of the file.

    ``test`` (``ab show --json``'s), ``analysis`` (``ab analyze --json``), ``summary``
    (``ab summary --json``), ``history`` (the lift and interval after every result,
    see :func:`trialbook.domain.stats.interval_history`) and ``decisions`` (each
    recorded decision with whether it reproduces, ``audit check --json``'s).
    ``options`` are ``ab analyze``'s (``metric``, ``alpha``, ``mde``, ``margin``).
    """
    from trialbook.domain.errors import DomainError
    from trialbook.ledger.analysis import analyze_test, require_test
    from trialbook.projections import ab_queries

    with ledger.store.read_transaction() as conn:
        test = require_test(ledger, name)
        summary = ab_queries.summary(conn, name)
        analysis = error = None
        try:
            analysis = analyze_test(ledger, name, **options)
        except DomainError as e:
            error = str(e)
        hist = history(ledger, name, **options) if analysis is not None else None
        decisions = decision_audits(ledger, name)
        position = ledger.store.head()[0]
    return {
        "test": test,
        "position": position,
        "analysis": analysis,
        "error": error,
        "summary": summary,
        "history": hist,
        "decisions": decisions,
    }


def history(
    ledger: Ledger, name: str, max_looks: int | None = PLOT_LOOKS, **options: Any
) -> dict[str, Any]:
    """Test ``name``'s trajectory: the recommendation (``ab analyze --history``) and each variant's
    lift and always-valid interval after every result (``max_looks`` of them, evenly spaced)."""
    from trialbook.domain.stats import interval_history
    from trialbook.ledger.analysis import analysis_input, snapshot

    snap = snapshot(ledger, name, rows=True)
    inp = analysis_input(snap, **options)
    out = interval_history(inp, max_looks=max_looks)
    out["results"] = len(snap.rows or ())
    out["position"] = snap.position
    out["metric"] = inp.metric
    return out


def decision_audits(ledger: Ledger, name: str) -> list[dict[str, Any]]:
    """Each recorded decision on ``name`` (``ab_decisions``) with its audit (replayed and compared).

    The audit is ``audit check``'s, without verifying the whole file's hash chain
    (the log page shows that): ``reproduces`` says whether the analysis recomputed
    at the position the decision saw equals the one recorded with it.
    """
    from trialbook.ledger.audit import audit_test
    from trialbook.projections.ab_decisions import decisions

    recorded = decisions(ledger.conn, name)
    if not recorded:
        return []
    audits = {d["position"]: d for d in audit_test(ledger, name, verify=False)["decisions"]}
    return [{**d, "audit": audits.get(d["position"])} for d in recorded]


# --------------------------------------------------------------------------- eval runs


def runs(ledger: Ledger) -> list[dict[str, Any]]:
    """Every eval run, newest first (``eval list --json``, reversed)."""
    from trialbook.ledger import evals

    with ledger.store.read_transaction():
        return list(reversed(evals.list_runs(ledger)))


def run_page(ledger: Ledger, run_id: str) -> dict[str, Any]:
    """``eval show RUN --json``."""
    from trialbook.ledger import evals

    return evals.run_report(ledger, run_id)


def case_page(ledger: Ledger, run_id: str, case_id: str) -> dict[str, Any]:
    """``eval show RUN --case ID --json``, plus the case as the suite holds it (``case``: its
    input, expected output and criteria) and each rollout's stored trace and large output."""
    from trialbook.domain.errors import DomainError
    from trialbook.ledger import evals

    with ledger.store.read_transaction():
        detail = evals.case_report(ledger, run_id, case_id)
        run = evals.require_run(ledger, run_id)
        case = None
        try:
            suite = evals.suite_document(ledger, run["suite"], run["suite_version"])
            case = next((c for c in suite["cases"] if c["id"] == case_id), None)
        except DomainError:
            pass
        for r in detail["rollouts"]:
            r["trace"] = _blob(ledger, r.get("trace_blob"))
            if r.get("output") is None and r.get("output_blob"):
                r["output"] = _blob(ledger, r["output_blob"])
    return {**detail, "run": run, "case": case}


def _blob(ledger: Ledger, digest: str | None) -> Any:
    if not digest:
        return None
    content = ledger.store.get_blob(digest)
    if content is None:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


def compare_page(ledger: Ledger, run_a: str, run_b: str, scorer: str | None) -> dict[str, Any]:
    """``eval compare RUN_A RUN_B --json`` (never ``--into-ab``: nothing is recorded)."""
    from trialbook.ledger import evals

    return evals.compare_runs(ledger, run_a, run_b, scorer=scorer)


# --------------------------------------------------------------------------- the log


def log(
    ledger: Ledger,
    *,
    stream: str | None = None,
    type_: str | None = None,
    actor: str | None = None,
    before: int | None = None,
    limit: int = LOG_LIMIT,
) -> dict[str, Any]:
    """The last ``limit`` events matching the filters (before position ``before``), newest first,
    as ``events log --json`` prints them, with the event types and streams for the filters."""
    store = ledger.store
    where, params = [], []
    for clause, value in (
        ("stream_id = ?", stream),
        ("type = ?", type_),
        ("json_extract(metadata, '$.actor') = ?", actor),
        ("position < ?", before),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with store.read_transaction() as conn:
        positions = [
            r[0]
            for r in conn.execute(
                f"SELECT position FROM events {clause} ORDER BY position DESC LIMIT ?",
                [*params, int(limit) + 1],
            )
        ]
        more = len(positions) > limit
        events = [e.to_dict() for p in positions[:limit] if (e := store.get(p)) is not None]
        types = [r[0] for r in conn.execute("SELECT DISTINCT type FROM events ORDER BY type")]
        position, digest = store.head()
    return {
        "events": events,
        "more": more,
        "types": types,
        "head": {"position": position, "hash": digest},
        "filters": {"stream": stream, "type": type_, "actor": actor, "before": before},
    }


def event(ledger: Ledger, position: int) -> dict[str, Any]:
    """One event (``events show N --json``); ``NotFound`` if there is none."""
    from trialbook.domain.errors import NotFound

    e = ledger.store.get(position)
    if e is None:
        raise NotFound(f"no event at position {position}; see the log")
    return e.to_dict()


# --------------------------------------------------------------------------- canaries


def canaries(ledger: Ledger) -> list[dict[str, Any]]:
    """Every canary, oldest first: ``canary list --json``."""
    from trialbook._canary import CanaryInfo
    from trialbook.projections import canary as q

    with ledger.store.read_transaction():
        return [CanaryInfo.model_validate(c).model_dump() for c in q.list_canaries(ledger.conn)]


def canary_status(ledger: Ledger, name: str) -> dict[str, Any]:
    """``canary status NAME --json``."""
    from trialbook._canary import CanaryStatus
    from trialbook.ledger import canary as app

    return CanaryStatus.model_validate(app.status(ledger, name)).model_dump(mode="json")


def canary_page(ledger: Ledger, name: str) -> dict[str, Any]:
    """A canary's page: ``info`` (``canary list``'s row), ``status`` (``canary status --json``),
    ``decisions`` (each recorded advance, halt, rollback or completion, oldest first) and
    ``history`` (the primary comparison after every result, the report's ``plots.lift``)."""
    from trialbook._canary import CanaryInfo
    from trialbook.ledger import canary as app
    from trialbook.projections import canary as q
    from trialbook.reports.canary import look_word

    with ledger.store.read_transaction():
        info = CanaryInfo.model_validate(app.require(ledger, name)).model_dump()
        status = canary_status(ledger, name)
        decisions = q.decisions(ledger.conn, name)
        history = app.history(ledger, name, until=status["position"], max_looks=PLOT_LOOKS)
    history["decision"] = [
        look_word(s, a) for s, a in zip(history["status"], history["action"], strict=True)
    ]
    return {"info": info, "status": status, "decisions": decisions, "history": history}
