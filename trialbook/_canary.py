"""``tb.canaries`` and ``tb.canary(name)``: staged rollouts from code.

A router asks ``tb.canary("router-v2").assign(user_id)`` per request: the
answer is a salted hash of the unit id against the stage's threshold, computed
in process with no write and no query. The handle keeps the canary's salt and
the threshold in effect, and re-reads the threshold at most every ``refresh``
seconds (default 0.1 s), so a halt, rollback or advance recorded by another
process (``canary watch --auto``, the CLI) reaches the router within that time;
one recorded through the same handle applies at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from trialbook._ab import Session, _recorded
from trialbook._models import Recorded

if TYPE_CHECKING:
    from trialbook._client import Trialbook

#: seconds between re-reads of a canary's stage by a handle (see the module docstring)
REFRESH = 0.1
_BUCKETS = 10_000
_from_bytes = int.from_bytes
_monotonic = time.monotonic


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CanaryInfo(_Model):
    """A canary's plan and where it is (``canary list --json``, one item)."""

    name: str
    control: str
    candidate: str
    stages: list[float]
    guardrails: list[dict[str, Any]]
    metric: str
    min_results: int
    unit: str
    alpha: float
    expected_results: int
    description: str | None
    status: str
    stage: int
    percent: float
    exposure_percent: float
    results: int
    created_at: str
    created_position: int
    updated_position: int


class CanaryStatus(_Model):
    """``trialbook canary status --json``, typed: ``status.model_dump(mode="json")`` is that document."""

    canary: str
    control: str
    candidate: str
    unit: str
    status: str
    stage: int
    percent: float
    stages: list[float]
    exposure_percent: float
    metric: dict[str, Any]
    guardrails: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    results: dict[str, Any]
    settings: dict[str, Any]
    method_version: str
    position: int
    next: dict[str, Any]

    @property
    def action(self) -> str:
        """What the stage rule says happens next: advance, complete, halt, wait or none."""
        return str(self.next["action"])


class CanaryDecision(_Model):
    """A recorded advance, halt, rollback or completion (``canary advance --json`` …)."""

    canary: str
    position: int
    action: str
    type: str
    stage: int
    to_stage: int | None
    percent: float
    forced: bool
    overrode: str | None
    automatic: bool
    breached: list[str]
    note: str | None
    analysis_position: int
    method_version: str
    #: what the stage rule said in the analysis the decision rests on (``next`` of that status)
    rule: dict[str, Any]


class Canaries:
    """The canaries of one database: plan them, list them; ``tb.canary(name)`` works on one."""

    def __init__(self, tb: Trialbook) -> None:
        self._tb = tb

    def create(
        self,
        name: str,
        *,
        control: str,
        candidate: str,
        stages: Sequence[float] | str = (10, 50, 100),
        guardrails: Sequence[str] | str = (),
        metric: str = "success",
        min_results: int | None = None,
        unit: str = "user",
        alpha: float = 0.05,
        expected_results: int | None = None,
        salt: str | None = None,
        description: str | None = None,
    ) -> Canary:
        """Plan canary ``name`` (``trialbook canary create``) and return its handle.

        ``stages`` are the percentages of units sent to the candidate, in order;
        ``guardrails`` limits like ``"error_rate:+2pp"`` or ``"completion_time:+10%"``
        (none given: the primary ``metric`` may not get worse at all, ``"success:+0"``);
        ``min_results`` the candidate results each stage needs before moving on.
        The salt is random unless given. Raises ``AlreadyExists`` or ``InvalidCommand``.
        """
        from trialbook.ledger import canary as app

        with self._tb._use("canaries.create") as ledger:
            app.create(
                ledger, name, control=control, candidate=candidate, stages=stages,
                guardrails=guardrails, metric=metric, min_results=min_results, unit=unit,
                alpha=alpha, expected_results=expected_results, salt=salt,
                description=description,
            )  # fmt: skip
        return self._tb.canary(name)

    def list(self) -> list[CanaryInfo]:
        """Every canary, oldest first."""
        from trialbook.projections import canary as q

        with self._tb._use() as ledger, ledger.store.read_transaction():
            return [CanaryInfo.model_validate(c) for c in q.list_canaries(ledger.conn)]

    def get(self, name: str) -> CanaryInfo:
        """Canary ``name``'s plan and where it is; ``NotFound`` if there is none."""
        from trialbook.ledger import canary as app

        with self._tb._use() as ledger:
            return CanaryInfo.model_validate(app.require(ledger, name))


class Canary:
    """One canary. ``assign`` is the hot path; everything else reads or appends through the ledger."""

    def __init__(self, tb: Trialbook, name: str, *, refresh: float = REFRESH) -> None:
        self._tb = tb
        self.name = name
        self.refresh_every = refresh
        self._deadline = 0.0
        self._read(force=True)

    # ------------------------------------------------------------------ assignment

    def _read(self, force: bool = False) -> None:
        """Re-read salt, arms and threshold; skipped (retried soon) while another call holds the handle."""
        from trialbook.ledger import canary as app
        from trialbook.projections import canary as q

        lock = self._tb._lock
        if not lock.acquire(blocking=force):
            self._deadline = time.monotonic() + 0.005  # a writer holds the handle: keep the cache
            return
        try:
            with self._tb._use() as ledger:
                row = q.assignment(ledger.conn, self.name)
        finally:
            lock.release()
        if row is None:
            raise app.not_found(self.name)
        salt, control, candidate, threshold, status, stage = row
        self._prefix = f"{salt}:".encode()
        self.control, self.candidate = control, candidate
        # one tuple, swapped at once: a thread reading it never sees half an update
        self._state = (threshold, stage if status == "running" else None, status, stage)
        self._threshold = threshold
        self._deadline = time.monotonic() + self.refresh_every

    def refresh(self) -> None:
        """Re-read the canary's stage now (``assign`` does so by itself every ``refresh`` seconds)."""
        self._read(force=True)

    def assign(self, unit_id: str | int) -> str:
        """The variant for ``unit_id``: the candidate's name while its bucket is under the stage's.

        Sticky and deterministic (the same answer in every process), no write, no
        query; after a halt or rollback every unit gets the control, after completion
        the candidate. ``InvalidCommand`` for an empty or non-text unit id.
        """
        if _monotonic() >= self._deadline:
            self._read()
        if type(unit_id) is not str or not unit_id:
            unit_id = _unit(unit_id)
        try:
            key = self._prefix + unit_id.encode()
        except UnicodeEncodeError:
            _unit(unit_id)
            raise
        if _from_bytes(sha256(key).digest()[:4], "big") % _BUCKETS < self._threshold:
            return self.candidate
        return self.control

    def bucket(self, unit_id: str | int) -> int:
        """The unit's bucket (0 … 9999); it gets the candidate while ``bucket < percent * 100``."""
        from trialbook.domain.canary import bucket

        return bucket(self._prefix[:-1].decode(), _unit(unit_id))

    def _assignment(self, unit_id: str | int) -> tuple[str, int | None]:
        """``(variant, stage)`` with one state read; stage None when the canary is not running."""
        if time.monotonic() >= self._deadline:
            self._read()
        threshold, stage, _, _ = self._state
        key = self._prefix + _unit(unit_id).encode()
        b = _from_bytes(sha256(key).digest()[:4], "big") % _BUCKETS
        return (self.candidate if b < threshold else self.control), stage

    @property
    def status_name(self) -> str:
        """``running``, ``halted``, ``rolled_back`` or ``completed`` (as of the last re-read)."""
        if time.monotonic() >= self._deadline:
            self._read()
        return self._state[2]

    @property
    def stage(self) -> int:
        """The current stage, 1-based (the last one reached once stopped), as of the last re-read."""
        if time.monotonic() >= self._deadline:
            self._read()
        return self._state[3]

    @property
    def exposure_percent(self) -> float:
        """The percentage of units assign() sends to the candidate now."""
        if time.monotonic() >= self._deadline:
            self._read()
        return self._threshold * 100 / _BUCKETS

    # ------------------------------------------------------------------ results

    def add_result(
        self,
        *,
        variant: str,
        stage: int | str | None = None,
        unit_id: str | int | None = None,
        event_id: str | None = None,
        **fields: Any,
    ) -> Recorded:
        """Record one session's result (``canary add-result``); ``fields`` as ``tb.ab.add_result``
        (``transcript``, the session's chat messages, included).

        ``stage`` is the stage the session ran under, by its number (1 = the first) or its
        percentage as ``"10%"`` (default: the current one);
        ``unit_id``, when given, must have been assigned ``variant`` at that stage.
        Raises ``NotFound``, ``InvalidCommand`` or ``StateConflict`` (nothing recorded).
        """
        row = {"variant": variant, "stage": stage, "unit_id": unit_id, **fields}
        (recorded,) = self._add([row], "canary.add_result", [event_id] if event_id else None)
        return recorded

    def add_results(self, rows: Iterable[Mapping[str, Any]]) -> list[Recorded]:
        """Record many results in one transaction, all or nothing (``canary import``)."""
        return self._add(list(rows), "canary.add_results", None)

    def import_file(self, path: str | Path) -> list[Recorded]:
        """Import a JSONL file of results (``canary import``): all or nothing, errors name the line."""
        from trialbook.ledger import canary as app

        rows, sources = app.read_file(path)
        with self._tb._use("canary.import_file") as ledger:
            recorded = app.add_results(ledger, self.name, rows, sources=sources)
        return [_recorded(e) for e in recorded]

    def _add(
        self, rows: Sequence[Mapping[str, Any]], call: str, event_ids: list[str] | None
    ) -> list[Recorded]:
        from trialbook.domain.transcripts import stash_transcript
        from trialbook.ledger import canary as app

        blobs: list[bytes] = []
        stashed: list[Any] = []
        for i, row in enumerate(rows, 1):
            if isinstance(row, Mapping) and ("transcript" in row or "transcript_blob" in row):
                where = f"result {i}: transcript" if len(rows) > 1 else "transcript"
                values, blob = stash_transcript(row, where)
                if blob is not None:
                    blobs.append(blob)
                row = values
            stashed.append(row)
        with self._tb._use(call) as ledger:
            if not blobs:
                recorded = app.add_results(ledger, self.name, stashed, event_ids=event_ids)
            else:
                with ledger.store.transaction():  # the blobs are rolled back with the results
                    for blob in blobs:
                        ledger.store.put_blob(blob, "application/json")
                    recorded = app.add_results(ledger, self.name, stashed, event_ids=event_ids)
        return [_recorded(e) for e in recorded]

    def session(
        self,
        unit_id: str | int,
        *,
        case_id: str | None = None,
        session_id: str | None = None,
        metrics: Mapping[str, float] | None = None,
        notes: str | None = None,
    ) -> CanarySession:
        """Assign ``unit_id`` and measure one session of the variant it gets (``s.variant``).

        As ``tb.ab.session``: count tool calls, usage, messages inside the block; on
        leaving, the result is recorded with the stage the session started under and
        the unit id. If the canary was not running when the session started (halted,
        rolled back, completed), nothing is recorded (``s.recorded`` stays None).
        """
        return CanarySession(self, unit_id, case_id, session_id, metrics, notes)

    # ------------------------------------------------------------------ reading and deciding

    def info(self) -> CanaryInfo:
        """The canary's plan and where it is."""
        return self._tb.canaries.get(self.name)

    def status(self, *, at: int | None = None, as_of: str | None = None) -> CanaryStatus:
        """``canary status --json``, typed: each guardrail's always-valid interval, results per
        stage and arm, alerts, and what the stage rule says happens next. ``at`` (a position)
        or ``as_of`` (a UTC time) replays the log to that point first."""
        from trialbook.ledger import canary as app

        with self._tb._use() as ledger:
            doc = app.status(ledger, self.name, at=at, as_of=as_of)
        return CanaryStatus.model_validate(doc)

    def decisions(self) -> list[dict[str, Any]]:
        """Every recorded decision on this canary, oldest first (without the analyses)."""
        from trialbook.ledger import canary as app
        from trialbook.projections import canary as q

        with self._tb._use() as ledger, ledger.store.read_transaction():
            app.require(ledger, self.name)
            return q.decisions(ledger.conn, self.name)

    def _decide(self, action: str, **options: Any) -> CanaryDecision:
        from trialbook.ledger import canary as app

        try:
            with self._tb._use(f"canary.{action}") as ledger:
                doc = app.decide(ledger, self.name, action, **options)
        finally:
            self._deadline = 0.0  # whatever happened, assign() re-reads the stage next time
        return CanaryDecision.model_validate(doc)

    def advance(
        self, *, to: float | None = None, force: bool = False, note: str | None = None
    ) -> CanaryDecision:
        """Move to the next stage (``canary advance``), if the stage rule allows it.

        The rule: the stage has its minimum of candidate results, no guardrail is
        breached and no data-quality alert blocks. ``to`` guards against racing
        someone else: refused unless it is the next stage's percentage. ``force``
        overrides the rule and is recorded as such. ``StateConflict`` says why not.
        """
        return self._decide("advance", to=to, force=force, note=note)

    def halt(self, *, note: str | None = None) -> CanaryDecision:
        """Stop the canary by hand (``canary halt``): every unit gets the control from now on."""
        return self._decide("halt", note=note)

    def rollback(self, *, note: str | None = None) -> CanaryDecision:
        """Abandon the candidate for good (``canary rollback``): every unit gets the control."""
        return self._decide("rollback", note=note)

    def complete(self, *, force: bool = False, note: str | None = None) -> CanaryDecision:
        """Finish the rollout at the last stage (``canary complete``): every unit gets the candidate."""
        return self._decide("complete", force=force, note=note)

    def step(self, *, advance: bool = True) -> CanaryDecision | None:
        """One look of ``canary watch --auto``: halt on a breach, else advance if the rule allows.

        Returns the decision taken, or None. Completion is never automatic.
        """
        from trialbook.ledger import canary as app

        try:
            with self._tb._use("canary.step") as ledger:
                out = app.step(ledger, self.name, advance=advance)
        finally:
            self._deadline = 0.0
        decision = out["decision"]
        return None if decision is None else CanaryDecision.model_validate(decision)

    def audit(self) -> dict[str, Any]:
        """Every decision replayed to the position it saw and recomputed (``canary audit --json``)."""
        from trialbook.ledger import canary as app

        with self._tb._use() as ledger:
            return app.audit(ledger, self.name)

    def __repr__(self) -> str:
        return f"<trialbook.Canary {self.name!r}>"


def _unit(unit_id: Any) -> str:
    from trialbook.domain.canary import unit_text

    return unit_text(unit_id)


class CanarySession(Session):
    """One measured session of the variant a unit is assigned; see :meth:`Canary.session`."""

    def __init__(
        self,
        canary: Canary,
        unit_id: str | int,
        case_id: str | None,
        session_id: str | None,
        metrics: Mapping[str, float] | None,
        notes: str | None,
    ) -> None:
        super().__init__(None, canary.name, "", case_id, session_id, metrics, notes)  # type: ignore[arg-type]
        self._canary = canary
        self.unit_id = _unit(unit_id)
        #: the stage the session started under; None when the canary was not running
        self.stage: int | None = None

    def __enter__(self) -> CanarySession:
        self.variant, self.stage = self._canary._assignment(self.unit_id)
        super().__enter__()
        return self

    def _row(self, exc: BaseException | None) -> dict[str, Any] | None:
        """Nothing when the canary was not running as the session started."""
        if self.stage is None:
            return None
        return {**self._fields(exc), "stage": self.stage, "unit_id": self.unit_id}

    def _record(self, row: dict[str, Any]) -> Recorded:
        (recorded,) = self._canary._add([row], "canary.session", None)
        return recorded

    async def __aenter__(self) -> CanarySession:
        return self.__enter__()
