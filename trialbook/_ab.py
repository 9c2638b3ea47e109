"""``tb.ab``: A/B tests from code: create, record results (one, many, or a measured session),
analyse, conclude."""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from trialbook._models import Analysis, Decision, Recorded, Test

if TYPE_CHECKING:
    from trialbook._client import Trialbook
    from trialbook.domain.ab import CreateTest
    from trialbook.store.base import RecordedEvent

Difficulty = Literal["easy", "medium", "hard"]


def _recorded(e: RecordedEvent) -> Recorded:
    """The public :class:`Recorded` of a stored envelope (its fields read by name)."""
    return Recorded.model_validate(e, from_attributes=True)


def _result(fields: Any, blobs: list[bytes] | None = None) -> Any:
    """A ``ResultFields`` from a mapping (the keys of an ``ab import`` line) or one already built.

    A ``transcript`` (chat messages) becomes ``transcript_blob``; its bytes are added to
    ``blobs``, to be stored in the transaction that records the result.
    """
    from trialbook.domain import ab as d
    from trialbook.domain.commands import build

    values = _values(fields, blobs)
    return values if isinstance(values, d.ResultFields) else build(d.ResultFields, **values)


def _values(fields: Any, blobs: list[bytes] | None = None) -> Any:
    """The values :func:`_result` validates (``fields`` itself when already built)."""
    from trialbook.domain import ab as d
    from trialbook.domain.canonical import new_event_id

    if isinstance(fields, d.ResultFields):
        return fields
    if not isinstance(fields, Mapping):
        from trialbook.domain.errors import InvalidCommand

        raise InvalidCommand(
            f"a result is a mapping of result fields (variant, success, …), not {type(fields).__name__}"
        )
    values = {k: v for k, v in fields.items() if v is not None}
    if "transcript" in values or "transcript_blob" in values:
        from trialbook.domain.transcripts import stash_transcript

        values, blob = stash_transcript(values)
        if blob is not None and blobs is not None:
            blobs.append(blob)
    if "error_messages" in values:
        values["error_messages"] = tuple(values["error_messages"])
    values.setdefault("session_id", new_event_id())
    return values


def _test(ledger: Any, row: dict[str, Any]) -> Test:
    """A read-model row of ``ab_tests`` with what only the definition event holds (the planned
    results, caps and segments fixed at creation)."""
    from trialbook.domain.catalog import read_as

    created = ledger.store.get(row["created_position"])
    data = read_as(created.type, created.schema_version, created.data)[1] if created else {}
    return Test.model_validate(
        {
            **row,
            "expected_results": data.get("expected_results"),
            "caps": list(data.get("caps") or ()),
            "segments": list(data.get("segments") or ()),
        }
    )


def create_command(
    name: str,
    *,
    variants: Sequence[str] = ("control", "treatment"),
    control: str | None = None,
    metric: str = "success",
    guardrails: Sequence[str] = (),
    split: Mapping[str, float] | None = None,
    task_id: str | None = None,
    description: str | None = None,
    prompt: str | None = None,
    category: str | None = None,
    difficulty: Difficulty | None = None,
    expected_results: int | None = None,
    expected_tools: Sequence[str] | None = None,
    success_criteria: Sequence[str] | None = None,
    caps: Sequence[str] = (),
    segments: Sequence[str] = (),
) -> CreateTest:
    """The checked command ``AB.create`` records, built without a store: the domain's own
    rules (names, variants, the metric, guardrails, caps, …) raise ``InvalidCommand`` here,
    so the shell can hold an offered ``ab create`` line to them before anyone confirms it."""
    from trialbook.domain import ab as d
    from trialbook.domain.commands import build

    if isinstance(variants, str):
        variants = tuple(v.strip() for v in variants.split(","))
    if isinstance(expected_tools, str):
        expected_tools = tuple(t.strip() for t in expected_tools.split(","))
    if isinstance(success_criteria, str):
        success_criteria = (success_criteria,)
    # one rule given as text is that rule, not its characters ("model" is one segment)
    guardrails, caps, segments = (
        (x,) if isinstance(x, str) else x for x in (guardrails, caps, segments)
    )
    return build(
        d.CreateTest,
        name=name,
        variants=tuple(variants),
        control=control,
        metric=metric,
        guardrails=d.read_guardrails(guardrails),
        split=dict(split) if split is not None else None,
        task_id=task_id,
        description=description,
        prompt=prompt,
        category=category,
        difficulty=difficulty,
        expected_results=expected_results,
        expected_tools=tuple(expected_tools) if expected_tools else None,
        success_criteria=tuple(success_criteria) if success_criteria else None,
        caps=tuple(caps) or None,
        segments=tuple(segments) or None,
    )


class ABTests:
    """The A/B tests of one database. Names are the CLI's: ``create`` is ``ab create``, …"""

    def __init__(self, tb: Trialbook) -> None:
        self._tb = tb

    # ------------------------------------------------------------------ writing

    def create(
        self,
        name: str,
        *,
        variants: Sequence[str] = ("control", "treatment"),
        control: str | None = None,
        metric: str = "success",
        guardrails: Sequence[str] = (),
        split: Mapping[str, float] | None = None,
        task_id: str | None = None,
        description: str | None = None,
        prompt: str | None = None,
        category: str | None = None,
        difficulty: Difficulty | None = None,
        expected_results: int | None = None,
        expected_tools: Sequence[str] | None = None,
        success_criteria: Sequence[str] | None = None,
        caps: Sequence[str] = (),
        segments: Sequence[str] = (),
    ) -> Test:
        """Create test ``name`` (``trialbook ab create``); returns its definition.

        ``guardrails`` are ``"metric:+10%"`` or ``"metric:+2.5"`` limits a winner
        must not break; ``expected_results`` tunes the always-valid boundary and is
        fixed here so it cannot be re-tuned while watching. ``expected_tools`` (a
        list, or ``"a,b"``) and ``success_criteria`` (a list of texts) are kept on
        the test as the warm-session framework's task defines them. ``caps``
        (``"cost:p99"``, ``"completion_time:600"``) cap those metrics in every analysis;
        ``segments`` names the result dimensions planned for ``analyze(by=)``. Raises
        ``AlreadyExists`` or ``InvalidCommand`` (nothing recorded then).
        """
        command = create_command(
            name,
            variants=variants,
            control=control,
            metric=metric,
            guardrails=guardrails,
            split=split,
            task_id=task_id,
            description=description,
            prompt=prompt,
            category=category,
            difficulty=difficulty,
            expected_results=expected_results,
            expected_tools=expected_tools,
            success_criteria=success_criteria,
            caps=caps,
            segments=segments,
        )
        with self._tb._use("ab.create") as ledger:
            ledger.execute(command)
        return self.get(command.name)

    def add_result(
        self,
        test: str,
        *,
        variant: str,
        session_id: str | None = None,
        success: bool | None = None,
        tool_calls: int | None = None,
        successful_calls: int | None = None,
        errors: int | None = None,
        error_messages: Sequence[str] = (),
        completion_time: float | None = None,
        start_time: str | float | None = None,
        end_time: str | float | None = None,
        messages: int | None = None,
        corrections: int | None = None,
        tokens: int | None = None,
        cost: float | None = None,
        score: float | None = None,
        case_id: str | None = None,
        metrics: Mapping[str, float] | None = None,
        notes: str | None = None,
        transcript: Sequence[Mapping[str, Any]] | None = None,
        event_id: str | None = None,
        dimensions: Mapping[str, str] | None = None,
    ) -> Recorded:
        """Record one session's result for ``variant`` of ``test`` (``ab add-result``).

        Durable when it returns. ``start_time``/``end_time`` (ISO 8601 text or epoch
        seconds) are kept as given, and give ``completion_time`` when it is not given;
        ``results`` returns them. ``case_id`` pairs results across variants;
        ``metrics`` holds custom metrics; ``transcript`` the session's chat messages
        (``{role, content, tool_calls?, name?, tool_call_id?}``, stored as a blob the
        event names by hash; ``trialbook export dataset`` writes them out). Pass your
        own ``event_id`` (a UUID) to make a retry safe: the same id with the same
        content returns the first recording.
        Raises ``NotFound``, ``InvalidCommand`` or ``StateConflict`` (nothing recorded).
        """
        fields = {
            "variant": variant,
            "session_id": session_id,
            "success": success,
            "tool_calls": tool_calls,
            "successful_calls": successful_calls,
            "errors": errors,
            "error_messages": tuple(error_messages) or None,
            "completion_time": completion_time,
            "start_time": start_time,
            "end_time": end_time,
            "messages": messages,
            "corrections": corrections,
            "tokens": tokens,
            "cost": cost,
            "score": score,
            "case_id": case_id,
            "metrics": dict(metrics) if metrics else None,
            "notes": notes,
            "transcript": transcript,
            "dimensions": dict(dimensions) if dimensions else None,
        }
        (recorded,) = self._add(test, [fields], "ab.add_result", [event_id] if event_id else None)
        return recorded

    def add_results(self, test: str, rows: Iterable[Mapping[str, Any]]) -> list[Recorded]:
        """Record many results at once, all or nothing, in one transaction (``ab import``).

        Each row is a mapping with the keys of ``add_result`` (``variant``,
        ``success``, ``tool_calls``, …). One bad row raises ``InvalidCommand``
        naming it ("result 3: …") and nothing is recorded.
        """
        from trialbook.domain import ab as d
        from trialbook.domain.commands import build
        from trialbook.domain.errors import InvalidCommand

        values: list[Any] = []
        blobs: list[bytes] = []
        refused: InvalidCommand | None = None
        for i, row in enumerate(rows, 1):
            try:
                values.append(_values(row, blobs))
            except InvalidCommand as e:
                refused = InvalidCommand(f"result {i}: {e}")
                break
        # the plain rows checked a column at a time; the others (and any the quick checks
        # are unsure of) by pydantic, in order, so the first bad row is the one named
        built: list[Any] = []
        for i, (fields, row) in enumerate(zip(d.quick_results(values), values, strict=True), 1):
            if fields is None:
                try:
                    fields = (
                        row if isinstance(row, d.ResultFields) else build(d.ResultFields, **row)
                    )
                except InvalidCommand as e:
                    raise InvalidCommand(f"result {i}: {e}") from None
            built.append(fields)
        if refused is not None:
            raise refused
        return self._add(test, built, "ab.add_results", None, blobs)

    def _add(
        self,
        test: str,
        rows: Sequence[Any],
        call: str,
        event_ids: list[str] | None,
        blobs: list[bytes] | None = None,
    ) -> list[Recorded]:
        from trialbook.domain import ab as d
        from trialbook.domain.commands import build
        from trialbook.ledger.ledger import execute_with_blobs

        blobs = [] if blobs is None else blobs
        results = tuple(_result(r, blobs) for r in rows)
        command = (
            # every result is validated already: not a second time, one by one, here
            d.AddResults.model_construct(test=test, results=results, sources=None)
            if isinstance(test, str)
            else build(d.AddResults, test=test, results=results)
        )
        with self._tb._use(call) as ledger:
            recorded = execute_with_blobs(ledger, command, blobs, event_ids=event_ids)
        return [_recorded(e) for e in recorded]

    def import_file(self, test: str | None, path: str | Path) -> builtins.list[Recorded]:
        """Import a file of results (``ab import``): all or nothing, errors name the line and field.

        ``path`` is JSONL (one result per line, trialbook's keys or the warm-session
        framework's ``SessionResult`` keys) into the existing test ``test``; or a test
        file the warm-session framework saved (``~/.hermes/ab_tests/<test_id>.json``),
        which creates ``test`` (its test id when ``test`` is None) with variants
        cold/warm, or adds only its new sessions when imported again; or (with
        ``test=None``) a directory of such files. Returns what was recorded (the
        ``TestCreated`` first for a new test; nothing when all was recorded before).
        """
        from trialbook.ledger.importing import import_batches, read_import

        batches = read_import(Path(path).expanduser(), test)
        with self._tb._use("ab.import_file") as ledger:
            return [_recorded(e) for e in import_batches(ledger, batches).recorded]

    def session(
        self,
        test: str,
        *,
        variant: str,
        case_id: str | None = None,
        session_id: str | None = None,
        metrics: Mapping[str, float] | None = None,
        notes: str | None = None,
    ) -> Session:
        """A context manager that measures one session and records it as one result on leaving.

        Inside the block, count what happens (``s.tool_call(ok=...)``,
        ``s.usage(tokens=..., cost=...)``, ``s.message()``, ``s.correction()``,
        ``s.metric(name, value)``, ``s.score(x)``, ``s.fail()``). On leaving, the
        completion time is measured and the result recorded: a success unless an
        exception escaped the block (recorded as a failure with its message, then
        re-raised) or ``s.fail()`` was called. Works with ``with`` and ``async with``.
        """
        return Session(self, test, variant, case_id, session_id, metrics, notes)

    def conclude(
        self,
        test: str,
        *,
        ship: str | None = None,
        keep_control: bool = False,
        stop: bool = False,
        note: str | None = None,
        metric: str | None = None,
        alpha: float = 0.05,
        mde: str | None = None,
        margin: str | None = None,
        covariate: str | None = None,
    ) -> Decision:
        """Record a decision on ``test`` with the analysis it rests on (``ab conclude``).

        Give exactly one of ``ship=VARIANT``, ``keep_control=True`` or ``stop=True``.
        The current analysis and the log position it saw are recorded with it, so an
        audit can replay and check it. Going against the recommendation is allowed and
        recorded as such (``Decision.against_recommendation``).
        """
        from trialbook.ledger.analysis import conclude

        with self._tb._use("ab.conclude") as ledger:
            doc = conclude(
                ledger, test, ship=ship, keep_control=keep_control, stop=stop, note=note,
                metric=metric, alpha=alpha, mde=mde, margin=margin, covariate=covariate,
            )  # fmt: skip
        return Decision.model_validate(doc)

    def audit(self, test: str, *, verify: bool = True) -> dict[str, Any]:
        """Does every decision recorded on ``test`` still reproduce from the log? (``audit --json``)

        Each decision's analysis is recomputed on the log replayed to the position it
        saw, with the options and method version it recorded, and compared number by
        number; with the evidence it rests on, what the data says now, and (``verify``)
        whether the file's hash chain checks out. ``doc["problems"]`` lists what failed
        (the lines ``trialbook audit`` exits 1 with); empty when everything reproduces.
        """
        from trialbook.ledger.audit import audit_test, failures

        with self._tb._use() as ledger:
            doc = audit_test(ledger, test, verify=verify)
        return {**doc, "problems": failures(doc)}

    def archive(self, test: str, *, reason: str | None = None) -> Recorded:
        """Hide ``test`` from lists and refuse new results (``ab archive``); nothing is deleted."""
        from trialbook.domain import ab as d
        from trialbook.domain.commands import build

        return self._one(build(d.ArchiveTest, test=test, reason=reason), "ab.archive")

    def restore(self, test: str) -> Recorded:
        """Undo ``archive`` (``ab restore``)."""
        from trialbook.domain import ab as d
        from trialbook.domain.commands import build

        return self._one(build(d.RestoreTest, test=test), "ab.restore")

    def _one(self, command: Any, call: str) -> Recorded:
        with self._tb._use(call) as ledger:
            (recorded,) = ledger.execute(command)
        return _recorded(recorded)

    # ------------------------------------------------------------------ reading

    def get(self, test: str) -> Test:
        """Test ``test``'s definition and result count; ``NotFound`` if there is none."""
        from trialbook.ledger.analysis import require_test

        with self._tb._use() as ledger:
            return _test(ledger, require_test(ledger, test))

    def list(self, *, include_archived: bool = False) -> builtins.list[Test]:
        """Every test, oldest first (archived ones only with ``include_archived``)."""
        from trialbook.projections import ab_queries

        with self._tb._use() as ledger, ledger.store.read_transaction() as conn:
            return [_test(ledger, t) for t in ab_queries.list_tests(conn, include_archived)]

    def results(self, test: str, *, limit: int | None = None) -> builtins.list[dict[str, Any]]:
        """``test``'s results in recording order (the last ``limit`` if given), as ``ab show --json``.

        Each has its ``dimensions`` (``{}`` when recorded without any).
        """
        from trialbook.ledger.analysis import require_test
        from trialbook.ledger.segments import dimensions_at
        from trialbook.projections import ab_queries

        with self._tb._use() as ledger, ledger.store.read_transaction() as conn:
            require_test(ledger, test)
            rows = ab_queries.results(conn, test, limit)
            dims = dimensions_at(conn, [r["position"] for r in rows])
        for r in rows:
            r["dimensions"] = dims.get(r["position"], {})
        return rows

    def decision(self, test: str) -> dict[str, Any] | None:
        """The latest decision recorded on ``test`` (as ``ab show --json`` prints it), or None."""
        from trialbook.ledger.analysis import require_test
        from trialbook.projections.ab_decisions import latest_decision

        with self._tb._use() as ledger, ledger.store.read_transaction() as conn:
            require_test(ledger, test)
            return latest_decision(conn, test)

    def decisions(self) -> dict[str, dict[str, Any]]:
        """The latest decision of every test that has one, by test name."""
        from trialbook.projections.ab_decisions import latest_decisions

        with self._tb._use() as ledger, ledger.store.read_transaction() as conn:
            return latest_decisions(conn)

    def summary(self, test: str) -> builtins.list[dict[str, Any]]:
        """Descriptive per-variant figures, no inference (``ab summary --json``)."""
        from trialbook.ledger.analysis import require_test
        from trialbook.projections import ab_queries

        with self._tb._use() as ledger, ledger.store.read_transaction() as conn:
            require_test(ledger, test)
            return ab_queries.summary(conn, test)

    def analyze(
        self,
        test: str,
        *,
        metric: str | None = None,
        alpha: float = 0.05,
        mde: str | None = None,
        margin: str | None = None,
        as_of: str | datetime | None = None,
        at: int | None = None,
        covariate: str | None = None,
        by: str | None = None,
    ) -> Analysis:
        """The analysis of ``test`` (``ab analyze --json``, typed): each variant against
        control with always-valid intervals, fixed-horizon figures beside, and a
        recommendation. ``as_of`` (an ISO time, UTC) or ``at`` (a log position) replays the
        log to that point first (a time without a zone is UTC). ``mde``/``margin`` are ``"10%"``, ``"5pp"`` or ``"2.5"``.
        ``metric`` may be a quantile (``"completion_time:p95"``); ``covariate`` CUPED-adjusts
        the metric by a per-result value (``"prior"``) or a case's value elsewhere
        (``"case:RUN"``, ``"test:OTHER.METRIC"``). ``by`` (``"category"``, ``"metadata.KEY"``)
        returns a :class:`SegmentedAnalysis`: the same analysis with ``segments``, the
        breakdown ``ab analyze --by KEY --json`` prints.
        """
        from trialbook.ledger.analysis import analyze_test
        from trialbook.ledger.times import utc_text

        if as_of is not None:
            as_of = utc_text(as_of)
        with self._tb._use() as ledger:
            doc = analyze_test(
                ledger, test, metric=metric, alpha=alpha, mde=mde, margin=margin, as_of=as_of,
                at=at, covariate=covariate, by=by,
            )  # fmt: skip
        if by is not None:
            from trialbook._segments import SegmentedAnalysis

            return SegmentedAnalysis.model_validate(doc)
        return Analysis.model_validate(doc)


class Session:
    """One measured session of one variant; see :meth:`ABTests.session`."""

    def __init__(
        self,
        tests: ABTests,
        test: str,
        variant: str,
        case_id: str | None,
        session_id: str | None,
        metrics: Mapping[str, float] | None,
        notes: str | None,
    ) -> None:
        self._tests, self.test, self.variant = tests, test, variant
        self.case_id, self.session_id, self.notes = case_id, session_id, notes
        self.tool_calls = self.successful_calls = 0
        self.messages = self.corrections = 0
        self.tokens: int | None = None
        self.cost: float | None = None
        self._score: float | None = None
        self.error_messages: list[str] = []
        self.metrics: dict[str, float] = dict(metrics or {})
        self.failed = False
        self.recorded: Recorded | None = None
        self._transcript: list[Mapping[str, Any]] | None = None
        self._started: float | None = None

    def tool_call(self, ok: bool = True, *, error: str | None = None) -> None:
        """Count one tool call; a failed one (``ok=False``) may say why (``error``)."""
        self.tool_calls += 1
        if ok:
            self.successful_calls += 1
        if error is not None:
            self.error_messages.append(error)

    def usage(self, *, tokens: int = 0, cost: float = 0.0) -> None:
        """Add the tokens and cost (USD) of one model call."""
        self.tokens = (self.tokens or 0) + tokens
        self.cost = (self.cost or 0.0) + cost

    def message(self, n: int = 1) -> None:
        """Count messages exchanged."""
        self.messages += n

    def correction(self, n: int = 1) -> None:
        """Count corrections the user had to make."""
        self.corrections += n

    def metric(self, name: str, value: float) -> None:
        """Set a custom metric of this session."""
        self.metrics[name] = value

    def score(self, value: float) -> None:
        """Set the session's score."""
        self._score = value

    def transcript(self, messages: Iterable[Mapping[str, Any]]) -> None:
        """Set the session's chat messages (``{role, content, tool_calls?, …}``), recorded with
        the result as a blob (``trialbook export dataset`` writes them out)."""
        self._transcript = list(messages)

    def fail(self, reason: str | None = None) -> None:
        """Record this session as a failure (the block may still end normally)."""
        self.failed = True
        if reason is not None:
            self.error_messages.append(reason)

    def __enter__(self) -> Session:
        self._started = time.perf_counter()
        return self

    def _fields(self, exc: BaseException | None) -> dict[str, Any]:
        assert self._started is not None, "use the session in a with block"
        errors = list(self.error_messages)
        if exc is not None:
            errors.append(f"{type(exc).__name__}: {exc}"[:500])
        return {
            "variant": self.variant,
            "session_id": self.session_id,
            "case_id": self.case_id,
            "success": not (self.failed or exc is not None),
            "tool_calls": self.tool_calls if self.tool_calls else None,
            "successful_calls": self.successful_calls if self.tool_calls else None,
            "error_messages": errors or None,
            "completion_time": time.perf_counter() - self._started,
            "messages": self.messages or None,
            "corrections": self.corrections or None,
            "tokens": self.tokens,
            "cost": self.cost,
            "score": self._score,
            "metrics": self.metrics or None,
            "notes": self.notes,
            "transcript": self._transcript,
        }

    def _row(self, exc: BaseException | None) -> dict[str, Any] | None:
        """What the block's end records (taken as it ends, so the time is the block's); None: nothing."""
        return self._fields(exc)

    def _record(self, row: dict[str, Any]) -> Recorded:
        (recorded,) = self._tests._add(self.test, [row], "ab.session", None)
        return recorded

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        row = self._row(exc)
        if row is not None:
            self.recorded = self._record(row)

    async def __aenter__(self) -> Session:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        row = self._row(exc)
        if row is not None:
            import asyncio  # only sessions used with `async with` need it

            self.recorded = await asyncio.to_thread(self._record, row)
