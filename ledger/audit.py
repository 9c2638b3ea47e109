"""Audits of A/B decisions: does every recorded decision on a test still reproduce from the log?

For each ``TestConcluded`` event of a test, :func:`audit_test` replays the log
up to the position the decision's analysis saw (into a private database, see
``projections.replay``), recomputes the analysis with the options and method
version recorded in it, and compares the two documents number by number. It
also gathers the evidence (the result events the analysis counted: who
recorded them, when and with which typed command), what the current data says,
and whether the hash chain of the whole file verifies. The shell's
``audit`` commands and ``tb.ab.audit`` render or return the document.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from trialbook.ledger.documents import Recorders, audit_failures, chain_check, compare, plain, spans

if TYPE_CHECKING:
    from trialbook.ledger import Ledger

__all__ = [
    "FIGURES",
    "audit_test",
    "compare",
    "evidence",
    "failures",
    "recommendation_of",
    "said",
    "setup_of",
    "setup_text",
    "spans",
]

#: the per-variant figures shown side by side (recorded, recomputed, now)
FIGURES = ("n", "estimate", "lift", "ci", "p_value", "status")
MAX_SHOWN_DIFFERENCES = 6


# --------------------------------------------------------------------------- point in time


# --------------------------------------------------------------------------- evidence


def evidence(ledger: Ledger, name: str, until: int) -> dict[str, Any]:
    """The result events of test ``name`` up to ``until``: per variant and per recorder, with positions."""
    from trialbook.domain.ab import stream_for
    from trialbook.domain.catalog import read_as

    by_variant: dict[str, list[int]] = {}
    recorders = Recorders()
    count = 0
    for e in ledger.store.read_all(
        until_position=until, stream_id=stream_for(name), types=["ResultAdded"]
    ):
        count += 1
        variant = read_as(e.type, e.schema_version, e.data)[1].get("variant", "?")
        by_variant.setdefault(variant, []).append(e.position)
        recorders.add(e, e.metadata.get("command", "-"))
    return {
        "results": count,
        "up_to_position": until,
        "by_variant": {
            v: {"results": len(ps), "positions": spans(ps)} for v, ps in by_variant.items()
        },
        "recorders": recorders.rows(),
    }


def _figures(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"variant": v["name"], **{k: v.get(k) for k in FIGURES}} for v in doc.get("variants", [])
    ]


# --------------------------------------------------------------------------- the audit


def _options(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``analysis_input`` options an analysis document was computed with."""
    settings = doc.get("settings") or {}
    return {
        "metric": doc.get("metric"),
        "alpha": doc.get("alpha", 0.05),
        "mde": settings.get("mde"),
        "margin": settings.get("equivalence_margin"),
        # a CUPED-adjusted decision (#21) is replayed adjusted by the same covariate
        "covariate": (settings.get("covariate") or {}).get("name"),
    }


def setup_of(doc: dict[str, Any]) -> dict[str, Any]:
    """How a recorded analysis was set up: the options it was computed with and the caps in force."""
    settings = doc.get("settings") or {}
    return {
        **_options(doc),
        "caps": [
            {
                "cap": c.get("cap"),
                "threshold": c.get("threshold"),
                "capped_results": c.get("capped_results"),
            }
            for c in settings.get("caps") or []
        ],
    }


def setup_text(setup: dict[str, Any]) -> str:
    """``metric cost, alpha 0.05, CUPED-adjusted by prior, cost capped at p99 (0.09; 3 results)``."""
    parts = [f"metric {setup.get('metric')}", f"alpha {setup.get('alpha')}"]
    if setup.get("mde") is not None:
        parts.append(f"mde {setup['mde']}")
    if setup.get("margin") is not None:
        parts.append(f"equivalence margin {setup['margin']}")
    if setup.get("covariate"):
        parts.append(f"CUPED-adjusted by {setup['covariate']}")
    for c in setup.get("caps") or []:
        metric, _, at = str(c["cap"]).partition(":")
        n = c.get("capped_results")
        parts.append(
            f"{metric} capped at {at} ({c['threshold']:.6g}; {n} result{'s' if n != 1 else ''} capped)"
            if isinstance(c.get("threshold"), int | float)
            else f"{metric} capped at {at}"
        )
    return ", ".join(parts)


def recommendation_of(doc: dict[str, Any] | None) -> dict[str, Any]:
    rec = (doc or {}).get("recommendation") or {}
    return {"decision": rec.get("decision"), "variant": rec.get("variant")}


def said(rec: dict[str, Any]) -> str:
    if rec.get("decision") is None:
        return "nothing"
    return str(rec["decision"]) + (
        f" {rec['variant']}" if rec["decision"] == "ship" and rec.get("variant") else ""
    )


def _audit_decision(
    ledger: Ledger, name: str, event: Any, now: dict[str, Any] | None, now_error: str | None
) -> dict[str, Any]:
    from trialbook.domain.ab import against_recommendation
    from trialbook.domain.errors import DomainError
    from trialbook.domain.stats import METHOD_VERSION, analyze
    from trialbook.ledger.analysis import (
        analysis_document,
        analysis_input,
        open_as_of,
        read_snapshot,
    )

    data = event.data
    meta = event.metadata
    recorded = data["analysis"]
    seen = int(data["position"])
    recomputed: dict[str, Any] | None = None
    error = None
    try:
        with open_as_of(ledger, name, at=seen) as view:
            # a quantile metric needs every row whatever the test's size (#21)
            rows = ":p" in str(recorded.get("metric") or "") or bool(
                (recorded.get("settings") or {}).get("covariate")
            )
            snap = read_snapshot(view, name, rows=rows)  # type: ignore[arg-type]
            # with the method the decision was recorded with (older ones stay selectable)
            inp = analysis_input(snap, **_options(recorded), method_version=data["method_version"])
            recomputed = plain(analysis_document(analyze(inp), seen))
    except DomainError as e:
        error = str(e)
    differences = compare(recorded, recomputed) if recomputed is not None else []
    same_method = data["method_version"] == METHOD_VERSION
    out = {
        "position": event.position,
        "recorded_at": event.recorded_at,
        "actor": meta.get("actor"),
        "command": meta.get("command"),
        "tier": meta.get("tier"),
        "choice": data["choice"],
        "variant": data.get("variant"),
        "note": data.get("note"),
        "against_recommendation": bool(data.get("against_recommendation")),
        "analysis_position": seen,
        "analysis": setup_of(recorded),
        "method_version": data["method_version"],
        "method_version_now": METHOD_VERSION,
        "same_method": same_method,
        "reproduces": recomputed is not None and not differences,
        "error": error,
        "differences": differences,
        "recorded": {"recommendation": recommendation_of(recorded), "figures": _figures(recorded)},
        "recomputed": None
        if recomputed is None
        else {"recommendation": recommendation_of(recomputed), "figures": _figures(recomputed)},
        "evidence": evidence(ledger, name, seen),
        "now": None,
    }
    if now is not None:
        rec = recommendation_of(now)
        out["now"] = {
            "position": now["position"],
            "results": sum(int(v.get("results", 0)) for v in now.get("variants", [])),
            "recommendation": rec,
            "agrees_with_decision": not against_recommendation(
                data["choice"], data.get("variant"), rec
            ),
            "figures": _figures(now),
        }
    elif now_error is not None:
        out["now"] = {"error": now_error}
    return out


def audit_test(ledger: Ledger, name: str, *, verify: bool = True) -> dict[str, Any]:
    """The audit document of test ``name``: every decision replayed, recomputed and compared."""
    from trialbook.domain.ab import stream_for
    from trialbook.domain.errors import DomainError, NotFound
    from trialbook.domain.stats import METHOD_VERSION
    from trialbook.ledger.analysis import analyze_test
    from trialbook.projections import ab_queries

    test = ab_queries.get_test(ledger.conn, name)
    if test is None:
        raise NotFound(f"no A/B test named {name!r}; see `trialbook ab list`")
    head, head_hash = ledger.store.head()
    chain = chain_check(ledger, verify)
    concluded = list(ledger.store.read_all(stream_id=stream_for(name), types=["TestConcluded"]))
    nows: dict[str, tuple[dict[str, Any] | None, str | None]] = {}
    decisions = []
    for event in concluded:
        options = _options(event.data["analysis"])
        key = json.dumps(options, sort_keys=True)
        if key not in nows:
            try:
                nows[key] = (plain(analyze_test(ledger, name, **options)), None)
            except DomainError as e:
                nows[key] = (None, str(e))
        decisions.append(_audit_decision(ledger, name, event, *nows[key]))
    return {
        "test": name,
        "database": ledger.name,
        "audited_at_position": head,
        "head_hash": head_hash,
        "created_position": test["created_position"],
        "method_version_now": METHOD_VERSION,
        "chain": chain,
        "decisions": decisions,
        "now_evidence": evidence(ledger, name, head) if decisions else None,
        "reproduced": sum(d["reproduces"] for d in decisions),
        "not_reproduced": sum(not d["reproduces"] for d in decisions),
    }


def failures(doc: dict[str, Any]) -> list[str]:
    """Why the audit fails (empty when every decision reproduces and the chain verifies)."""
    return audit_failures(doc, doc["test"])


# --------------------------------------------------------------------------- rendering
