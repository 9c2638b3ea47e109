"""Canaries, the application side: plan, record results, read the status, decide, audit.

The CLI (``trialbook canary …``), the shell and the Python API (``tb.canary``)
call these and only render what they return.

- :func:`create`, :func:`add_results`: commands with their checks (the salt is drawn here);
- :func:`read_snapshot`, :func:`status`: the ``canary status --json`` document, now or
  replayed to a position (:func:`open_as_of`);
- :func:`decide`: advance, halt, roll back or complete, with the analysis computed
  and the decision appended in one write transaction (no result can slip in between);
- :func:`step`: one look of ``canary watch --auto``;
- :func:`audit`: every decision replayed to the position it saw and recomputed.

numpy and scipy are imported only when a status is computed.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trialbook.domain.canary import CanaryCreated
    from trialbook.domain.stats.canary import StageData
    from trialbook.ledger import Ledger
    from trialbook.projections.replay import PointInTime
    from trialbook.store.base import RecordedEvent


def not_found(name: str) -> Exception:
    from trialbook.domain.errors import NotFound

    return NotFound(
        f"no canary named {name!r}; see `trialbook canary list`, or create it with "
        f"`trialbook canary create {name} --control A --candidate B`"
    )


def require(ledger: Any, name: str) -> dict[str, Any]:
    """Canary ``name``'s row of the read model; ``NotFound`` naming the fix if none."""
    from trialbook.projections import canary as q

    row = q.get_canary(ledger.conn, name)
    if row is None:
        raise not_found(name)
    return row


def create(
    ledger: Ledger,
    name: str,
    *,
    control: str,
    candidate: str,
    stages: Sequence[float] | str | None = None,
    guardrails: Sequence[str] = (),
    metric: str = "success",
    min_results: int | None = None,
    unit: str = "user",
    alpha: float = 0.05,
    expected_results: int | None = None,
    salt: str | None = None,
    description: str | None = None,
) -> RecordedEvent:
    """Plan canary ``name``; ``stages`` as numbers or ``"10,50,100"``, guardrails as text.

    The salt is drawn at random unless given (the same salt gives the same buckets).
    """
    from trialbook.domain import canary as d
    from trialbook.domain.commands import build
    from trialbook.domain.errors import InvalidCommand

    if isinstance(stages, str):
        try:
            stages = d.parse_stages(stages)
        except ValueError as e:
            raise InvalidCommand(str(e)) from None
    try:
        checked = d.check_stages(tuple(d.DEFAULT_STAGES if stages is None else stages))
    except ValueError as e:
        raise InvalidCommand(str(e)) from None
    if isinstance(guardrails, str):
        guardrails = (guardrails,)
    command = build(
        d.CreateCanary,
        name=name,
        control=control,
        candidate=candidate,
        stages=checked,
        guardrails=tuple(d.parse_guardrail(g) for g in guardrails),
        metric=metric,
        min_results=d.DEFAULT_MIN_RESULTS if min_results is None else min_results,
        unit=unit,
        salt=secrets.token_hex(8) if salt is None else salt,
        alpha=alpha,
        expected_results=expected_results,
        description=description,
    )
    (recorded,) = ledger.execute(command)
    return recorded


def result_fields(row: Any, where: str | None = None) -> Any:
    """A ``CanaryResultFields`` from a mapping (the keys of an import line) or one already built."""
    from collections.abc import Mapping

    from pydantic import ValidationError

    from trialbook.domain.canary import CanaryResultFields
    from trialbook.domain.canonical import new_event_id
    from trialbook.domain.commands import explain
    from trialbook.domain.errors import InvalidCommand
    from trialbook.ledger.importing import ALIASES

    if isinstance(row, CanaryResultFields):
        return row
    prefix = f"{where}: " if where else ""
    if not isinstance(row, Mapping):
        raise InvalidCommand(
            f'{prefix}a result is a mapping of result fields like {{"variant": "router-v2", ...}}, '
            f"not {type(row).__name__}"
        )
    values = {ALIASES.get(k, k): v for k, v in row.items() if v is not None}
    if isinstance(values.get("error_messages"), str):
        values["error_messages"] = [values["error_messages"]]
    if "error_messages" in values and isinstance(values["error_messages"], list):
        values["error_messages"] = tuple(values["error_messages"])
    if isinstance(values.get("unit_id"), int) and not isinstance(values["unit_id"], bool):
        values["unit_id"] = str(values["unit_id"])
    values.setdefault("session_id", new_event_id())
    try:
        return CanaryResultFields.model_validate(values)
    except ValidationError as e:
        raise InvalidCommand(f"{prefix}{explain(e, plain=True)}") from None


def add_results(
    ledger: Ledger,
    name: str,
    rows: Sequence[Any],
    *,
    sources: Sequence[str] | None = None,
    event_ids: Sequence[str | None] | None = None,
) -> list[RecordedEvent]:
    """Record results (mappings or ``CanaryResultFields``), all or nothing."""
    from trialbook.domain import canary as d
    from trialbook.domain.commands import build
    from trialbook.domain.errors import InvalidCommand

    built = []
    for i, row in enumerate(rows, 1):
        where = sources[i - 1] if sources else (f"result {i}" if len(rows) > 1 else None)
        built.append(result_fields(row, where))
    if not built:
        raise InvalidCommand("no results to add")
    command = build(
        d.AddCanaryResults,
        canary=name,
        results=tuple(built),
        sources=tuple(sources) if sources else None,
    )
    return ledger.execute(command, event_ids=event_ids)


def read_file(path: Any) -> tuple[list[Any], list[str]]:
    """The results of a JSONL file (``canary import``), each line checked, with its label."""
    from pathlib import Path

    from trialbook.ledger.importing import json_lines, read_text

    rows, sources = [], []
    for where, obj in json_lines(read_text(Path(path)), path):
        rows.append(result_fields(obj, where))
        sources.append(where)
    return rows, sources


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Snapshot:
    """What a status reads, from one consistent read: the plan, where it is, each stage's data."""

    row: dict[str, Any]
    definition: CanaryCreated
    stages: tuple[StageData, ...]
    position: int

    def document(self) -> dict[str, Any]:
        """The ``canary status --json`` document of this snapshot."""
        from trialbook.domain.stats.canary import status_document

        return status_document(
            self.definition,
            status=self.row["status"],
            stage=self.row["stage"],
            stages=self.stages,
            position=self.position,
        )


def read_snapshot(ledger: Any, name: str) -> Snapshot:
    """Canary ``name``'s plan, status and per-stage statistics, and the log head, in one read."""
    from trialbook.domain.canary import CanaryCreated
    from trialbook.domain.events import load_event
    from trialbook.domain.stats.canary import ArmData, StageData
    from trialbook.projections import canary as q

    with ledger.store.read_transaction():
        conn = ledger.conn
        row = q.get_canary(conn, name)
        if row is None:
            raise not_found(name)
        created = ledger.store.get(row["created_position"])
        definition = created and load_event(created.type, created.schema_version, created.data)
        if not isinstance(definition, CanaryCreated):  # pragma: no cover - read model out of step
            raise AssertionError(f"canary_canaries names position {row['created_position']}")
        cells = q.stage_statistics(conn, name)
        position = ledger.store.head()[0]
    values = _quantile_values(ledger, definition, position)
    stages = []
    for number in range(1, row["stage"] + 1):
        arms = cells.get(number, {})
        c = arms.get("control", (0, {}, {}))
        t = arms.get("candidate", (0, {}, {}))
        stages.append(
            StageData(
                ArmData(*c, values=values.get((number, "control"), {})),
                ArmData(*t, values=values.get((number, "candidate"), {})),
            )
        )
    return Snapshot(row, definition, tuple(stages), position)


def _quantile_values(
    ledger: Any, definition: Any, position: int
) -> dict[tuple[int, str], dict[str, tuple[float, ...]]]:
    """(stage, arm) -> base metric -> values, for the canary's quantile metrics (none: ``{}``).

    The canary projection keeps moments only, so the values are read from the canary's
    ``CanaryResultAdded`` events up to ``position``.
    """
    from trialbook.domain.canary import stream_for
    from trialbook.domain.metrics import metric_named, observations

    bases = {
        metric_named(name).numerator or name
        for name in (definition.metric, *(g.metric for g in definition.guardrails))
        if ":p" in name
    }
    if not bases:
        return {}
    out: dict[tuple[int, str], dict[str, list[float]]] = {}
    for event in ledger.store.read_stream(stream_for(definition.name)):
        if event.position > position:
            break
        if event.type != "CanaryResultAdded":
            continue
        data = event.data
        arm = "candidate" if data.get("variant") == definition.candidate else "control"
        obs = observations(data)
        cell = out.setdefault((int(data["stage"]), arm), {})
        for base in bases:
            if base in obs:
                cell.setdefault(base, []).append(float(obs[base]))
    return {k: {b: tuple(v) for b, v in per.items()} for k, per in out.items()}


def open_as_of(
    ledger: Ledger, name: str, *, at: int | None = None, as_of: str | None = None
) -> PointInTime:
    """Canary ``name``'s read model replayed to a position or time, in a private database."""
    from trialbook.domain.canary import stream_for
    from trialbook.domain.errors import NotFound
    from trialbook.projections import canary as q
    from trialbook.projections.canary import CanaryProjection
    from trialbook.projections.replay import replay_to, resolve_position

    position = resolve_position(ledger.store, at=at, as_of=as_of)
    view = replay_to(ledger.store, [CanaryProjection()], position, stream_id=stream_for(name))
    if q.get_canary(view.conn, name) is None:
        view.close()
        live = require(ledger, name)
        raise NotFound(
            f"canary {name!r} did not exist yet at position {position}; "
            f"it was created at position {live['created_position']}"
        )
    return view


def status(
    ledger: Ledger, name: str, *, at: int | None = None, as_of: str | None = None
) -> dict[str, Any]:
    """The ``canary status --json`` document: now, or as it was at ``at``/``as_of``."""
    if at is None and as_of is None:
        return read_snapshot(ledger, name).document()
    with open_as_of(ledger, name, at=at, as_of=as_of) as view:
        return read_snapshot(view, name).document()


def history(
    ledger: Ledger,
    name: str,
    *,
    until: int | None = None,
    max_looks: int | None = None,
    events: Sequence[RecordedEvent] | None = None,
) -> dict[str, Any]:
    """Canary ``name``'s primary comparison after every result up to position ``until`` (the
    log head if None), and its decisions: :func:`trialbook.domain.stats.canary.interval_history`
    of the canary's events. Reads only; the last look is ``canary status --at until``'s.
    ``events``: the canary stream's events up to ``until``, when the caller has read them."""
    from trialbook.domain.canary import CanaryCreated, stream_for
    from trialbook.domain.catalog import read_as
    from trialbook.domain.events import load_event
    from trialbook.domain.stats.canary import interval_history

    if events is None:
        with ledger.store.read_transaction():
            if until is None:
                require(ledger, name)
                until = ledger.store.head()[0]
            events = list(ledger.store.read_all(until_position=until, stream_id=stream_for(name)))
    definition = None
    later = []
    for e in events:
        if e.type == "CanaryCreated" and definition is None:
            definition = load_event(e.type, e.schema_version, e.data)
        elif definition is not None:
            later.append((e.position, e.type, read_as(e.type, e.schema_version, e.data)[1]))
    if not isinstance(definition, CanaryCreated):
        raise not_found(name)
    return interval_history(definition, later, max_looks=max_looks)


# --------------------------------------------------------------------------- deciding


def decide(
    ledger: Ledger,
    name: str,
    action: str,
    *,
    force: bool = False,
    to: float | None = None,
    note: str | None = None,
    automatic: bool = False,
) -> dict[str, Any]:
    """Record ``action`` (advance, halt, rollback, complete) with the analysis it rests on.

    The analysis is computed and the decision appended inside one write
    transaction, so the decision counts exactly the results recorded before it.
    Returns the decision document (``canary advance --json`` …).
    """
    with ledger.store.transaction():
        snap = read_snapshot(ledger, name)
        return _record(ledger, snap, snap.document(), action, force, to, note, automatic)


def _record(
    ledger: Ledger,
    snap: Snapshot,
    doc: dict[str, Any],
    action: str,
    force: bool = False,
    to: float | None = None,
    note: str | None = None,
    automatic: bool = False,
) -> dict[str, Any]:
    from trialbook.domain import canary as d
    from trialbook.domain.commands import build

    name = snap.definition.name
    command = build(
        d.DecideCanary,
        canary=name,
        action=action,
        to=to,
        force=force,
        automatic=automatic,
        note=note,
        analysis=doc,
        method_version=d.METHOD_VERSION,
        position=snap.position,
    )
    (recorded,) = ledger.execute(command)
    data = recorded.data
    stages = snap.definition.stages
    return {
        "canary": name,
        "position": recorded.position,
        "action": action,
        "type": recorded.type,
        "stage": data["stage"],
        "to_stage": data.get("to_stage"),
        "percent": stages[data.get("to_stage", data["stage"]) - 1],
        "forced": bool(data.get("forced", False)),
        "overrode": data.get("overrode"),
        "automatic": bool(data.get("automatic", False)),
        "breached": list(data.get("breached", ())),
        "note": data.get("note"),
        "analysis_position": snap.position,
        "method_version": d.METHOD_VERSION,
        #: what the stage rule said in the analysis the decision rests on
        "rule": doc["next"],
    }


def step(ledger: Ledger, name: str, *, advance: bool = True) -> dict[str, Any]:
    """One look of ``canary watch --auto``: halt on a breach, advance when the rule allows.

    Returns ``{"status": doc, "decision": decision or None}``; ``status`` is the
    document the look was taken on. The look and the decision are one write
    transaction, so no result slips in between. Completion is never automatic:
    it is a person's decision.
    """
    with ledger.store.transaction():
        snap = read_snapshot(ledger, name)
        doc = snap.document()
        action = doc["next"]["action"]
        if action not in ("halt", "advance") or (action == "advance" and not advance):
            return {"status": doc, "decision": None}
        decision = _record(ledger, snap, doc, action, automatic=action == "halt")
    return {"status": doc, "decision": decision}


# --------------------------------------------------------------------------- audit


def evidence(ledger: Ledger, name: str, until: int) -> dict[str, Any]:
    """The result events of canary ``name`` up to ``until``: per stage and arm, and per recorder."""
    from trialbook.domain.canary import stream_for
    from trialbook.ledger.documents import Recorders, spans

    row = require(ledger, name)
    cells: dict[tuple[int, str], list[int]] = {}
    recorders = Recorders()
    count = 0
    for e in ledger.store.read_all(
        until_position=until, stream_id=stream_for(name), types=["CanaryResultAdded"]
    ):
        count += 1
        arm = "candidate" if e.data.get("variant") == row["candidate"] else "control"
        cells.setdefault((int(e.data["stage"]), arm), []).append(e.position)
        recorders.add(e, e.metadata.get("call") or e.metadata.get("command", "-"))
    return {
        "results": count,
        "up_to_position": until,
        "by_stage": [
            {"stage": s, "arm": arm, "results": len(ps), "positions": spans(ps)}
            for (s, arm), ps in sorted(cells.items())
        ],
        "recorders": recorders.rows(),
    }


#: what each decision type is called in an audit
KINDS = {
    "CanaryAdvanced": "advance",
    "CanaryHalted": "halt",
    "CanaryRolledBack": "rollback",
    "CanaryCompleted": "complete",
}


def _rule_held(kind: str, data: dict[str, Any], doc: dict[str, Any]) -> bool | None:
    """Whether the replayed analysis let the stage rule take this decision (None: a person's call)."""
    action = doc["next"]["action"]
    if kind in ("advance", "complete"):
        return None if data.get("forced") else action == kind
    if kind == "halt":
        return action == "halt" if data.get("automatic") else None
    return None


def audit(ledger: Ledger, name: str, *, verify: bool = True) -> dict[str, Any]:
    """Every decision on canary ``name`` replayed to the position it saw, recomputed and compared."""
    from trialbook.domain.canary import DECISION_TYPES, METHOD_VERSION, stream_for
    from trialbook.domain.errors import DomainError
    from trialbook.ledger.documents import chain_check, compare, plain

    row = require(ledger, name)
    head, head_hash = ledger.store.head()
    chain = chain_check(ledger, verify)
    events = list(ledger.store.read_all(stream_id=stream_for(name), types=list(DECISION_TYPES)))
    decisions = []
    for e in events:
        data = e.data
        recorded = data["analysis"]
        seen = int(data["position"])
        kind = KINDS[e.type]
        recomputed = None
        error = None
        try:
            with open_as_of(ledger, name, at=seen) as view:
                recomputed = plain(read_snapshot(view, name).document())
        except DomainError as exc:
            error = str(exc)
        differences = compare(recorded, recomputed) if recomputed is not None else []
        decisions.append(
            {
                "position": e.position,
                "recorded_at": e.recorded_at,
                "actor": e.metadata.get("actor"),
                "command": e.metadata.get("call") or e.metadata.get("command"),
                "tier": e.metadata.get("tier"),
                "kind": kind,
                "stage": data["stage"],
                "to_stage": data.get("to_stage"),
                "forced": bool(data.get("forced", False)),
                "overrode": data.get("overrode"),
                "automatic": bool(data.get("automatic", False)),
                "breached": list(data.get("breached", ())),
                "note": data.get("note"),
                "analysis_position": seen,
                "method_version": data["method_version"],
                "same_method": data["method_version"] == METHOD_VERSION,
                "reproduces": recomputed is not None and not differences,
                "rule_held": None if recomputed is None else _rule_held(kind, data, recomputed),
                "error": error,
                "differences": differences,
                "recorded": _summary(recorded),
                "recomputed": None if recomputed is None else _summary(recomputed),
                "evidence": evidence(ledger, name, seen),
            }
        )
    return {
        "canary": name,
        "database": str(getattr(ledger, "name", ledger.path)),
        "audited_at_position": head,
        "head_hash": head_hash,
        "created_position": row["created_position"],
        "method_version_now": METHOD_VERSION,
        "chain": chain,
        "decisions": decisions,
        "now": _summary(status(ledger, name)),
        "reproduced": sum(d["reproduces"] for d in decisions),
        "not_reproduced": sum(not d["reproduces"] for d in decisions),
    }


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The figures an audit shows beside each other: stage, next step, every guardrail."""
    return {
        "position": doc["position"],
        "status": doc["status"],
        "stage": doc["stage"],
        "percent": doc["percent"],
        "results": doc["results"]["total"],
        "next": doc["next"]["action"],
        "guardrails": [
            {k: g[k] for k in ("metric", "status", "worsening", "ci")} for g in doc["guardrails"]
        ],
    }


def failures(doc: dict[str, Any]) -> list[str]:
    """Why a canary audit fails (empty when every decision reproduces, the chain verifies and
    the stage rule allowed each decision on the replayed data)."""
    from trialbook.ledger.documents import audit_failures

    out = audit_failures(doc, f"canary {doc['canary']}")
    broke = [d for d in doc["decisions"] if d["rule_held"] is False]
    if broke:
        which = ", ".join(f"#{d['position']}" for d in broke)
        out.append(f"the stage rule did not allow decision {which} on the replayed data")
    return out
