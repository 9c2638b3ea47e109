"""Scoring inside eval runs: which scorers judge which case, verdict events, rescoring.

- :func:`check_case_scorers` checks, when a suite is added, that every scorer a
  case names exists (and its argument is valid); it needs no environment.
- :func:`resolve_run_scorers` checks every scorer a run will use before it
  starts: the ``--scorer`` specs and every case's own ``scorers`` (a spec string,
  or an object ``{"scorer": SPEC}``). A problem raises
  :class:`~domain.verdicts.ScorerConfigError` (one line); nothing is recorded.
- :class:`RunScorers` gives each case its scorers (the run's, then the case's
  own) and their descriptions for ``RunStarted``.
- :func:`verdict_events` turns verdicts into :class:`VerdictRecorded` events,
  storing each judge's raw answer as a blob referenced by ``raw_blob``.
- :func:`rescore` scores stored outputs again without calling the target and
  records new verdict events under a fresh scoring session.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trialbook.domain.evals import RecordVerdicts
from trialbook.domain.suites import Case
from trialbook.domain.verdicts import ScorerConfigError, Verdict, VerdictRecorded
from trialbook.runners.scorers import (
    Scorer,
    check_scorer_spec,
    close_scorers,
    resolve_scorers,
    score_rollout,
)

__all__ = [
    "RunScorers",
    "case_scorer_specs",
    "check_case_scorers",
    "new_session",
    "rescore",
    "resolve_run_scorers",
    "verdict_events",
]

#: verdict events recorded per RecordVerdicts command when rescoring
RESCORE_BATCH = 256


def case_scorer_specs(case: Case) -> list[str]:
    """The scorer specs a case names itself (``"equals"`` or ``{"scorer": "equals"}``)."""
    specs = []
    for item in case.scorers:
        if isinstance(item, str):
            specs.append(item)
        elif isinstance(item, Mapping) and isinstance(item.get("scorer") or item.get("spec"), str):
            specs.append(str(item.get("scorer") or item.get("spec")))
        else:
            raise ScorerConfigError(
                f'case {case.id!r}: scorer {item!r} is not a spec; write a string such as "equals" '
                'or an object {"scorer": "equals"}'
            )
    return specs


def check_case_scorers(case: Case) -> None:
    """Refuse a case whose own scorers do not exist; :class:`ScorerConfigError` names the case.

    For ``eval suite add``: only what needs no environment is checked (see
    :func:`~runners.scorers.check_scorer_spec`); the run checks the rest.
    """
    for spec in case_scorer_specs(case):
        try:
            check_scorer_spec(spec)
        except ScorerConfigError as e:
            raise ScorerConfigError(f"case {case.id!r}: {e}") from None


@dataclass
class RunScorers:
    """The scorers of one run: the run's own, and those cases name for themselves."""

    common: list[Scorer] = field(default_factory=list)
    by_spec: dict[str, Scorer] = field(default_factory=dict)
    per_case: dict[str, list[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.common) or any(self.per_case.values())

    def for_case(self, case_id: str) -> list[Scorer]:
        out = list(self.common)
        names = {s.name for s in out}
        for spec in self.per_case.get(case_id, ()):
            scorer = self.by_spec[spec]
            if scorer.name not in names:
                names.add(scorer.name)
                out.append(scorer)
        return out

    def describe(self) -> list[dict[str, Any]]:
        """Every scorer's description, the run's first, without secrets."""
        seen = [*self.common, *(s for spec, s in self.by_spec.items() if s not in self.common)]
        return [s.describe() for s in seen]

    async def aclose(self) -> None:
        await close_scorers(
            list({id(s): s for s in [*self.common, *self.by_spec.values()]}.values())
        )


def resolve_run_scorers(
    specs: Sequence[str],
    cases: Iterable[Case],
    env: Mapping[str, str],
    *,
    judge_repeats: int = 1,
    judges: Mapping[str, Mapping[str, Any]] | None = None,
    paths: Sequence[str | os.PathLike[str]] = (),
) -> RunScorers:
    """Check and build every scorer a run uses; :class:`ScorerConfigError` names the first problem.

    ``judges`` are the run config's judge tables (``judge:NAME`` reads ``judges[NAME]``).
    """
    common = resolve_scorers(
        list(specs), env, judge_repeats=judge_repeats, judges=judges, paths=paths
    )
    by_spec: dict[str, Scorer] = {s.name: s for s in common}
    per_case: dict[str, list[str]] = {}
    for case in cases:
        own = case_scorer_specs(case)
        for spec in own:
            if spec not in by_spec:
                try:
                    found = resolve_scorers(
                        [spec], env, judge_repeats=judge_repeats, judges=judges, paths=paths
                    )
                except ScorerConfigError as e:
                    raise ScorerConfigError(f"case {case.id!r}: {e}") from None
                by_spec[spec] = found[0]
        if own:
            per_case[case.id] = own
    return RunScorers(common=common, by_spec=by_spec, per_case=per_case)


def new_session() -> str:
    """A fresh scoring-session id for ``eval rescore``."""
    return f"rescore-{uuid.uuid4().hex[:12]}"


def verdict_events(
    put_blob: Callable[[bytes], str],
    run_id: str,
    case_id: str,
    epoch: int,
    verdicts: Iterable[Verdict],
) -> list[VerdictRecorded]:
    """The events recording ``verdicts`` of one rollout; raw judge answers go to blobs first."""
    out = []
    for v in verdicts:
        raw_blob = put_blob(v.raw.encode("utf-8")) if v.raw else None
        out.append(
            VerdictRecorded.of(v, run_id=run_id, case_id=case_id, epoch=epoch, raw_blob=raw_blob)
        )
    return out


def scoring_context(
    run_id: str, case: Case, epoch: int, system_prompt: str | None = None
) -> dict[str, Any]:
    """What scorers are told besides the case and the output."""
    context: dict[str, Any] = {"run_id": run_id, "case_id": case.id, "epoch": epoch}
    if system_prompt:
        context["system_prompt"] = system_prompt
    return context


async def rescore(
    handle: Callable[[Any], Any],
    put_blob: Callable[[bytes], str],
    run_id: str,
    items: Sequence[tuple[Case, int, Any]],
    scorers: RunScorers,
    *,
    session: str,
    concurrency: int = 8,
    system_prompt: str | None = None,
) -> int:
    """Score ``(case, epoch, output)`` items again and record the verdicts; returns how many were recorded."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(case: Case, epoch: int, output: Any) -> list[VerdictRecorded]:
        async with gate:
            vs = await score_rollout(
                scorers.for_case(case.id),
                case.model_dump(mode="json"),
                output,
                scoring_context(run_id, case, epoch, system_prompt),
            )
        return verdict_events(put_blob, run_id, case.id, epoch, vs)

    try:
        results = await asyncio.gather(*(one(c, e, o) for c, e, o in items))
    finally:
        await scorers.aclose()
    events = [v for vs in results for v in vs]
    for i in range(0, len(events), RESCORE_BATCH):
        handle(
            RecordVerdicts(
                run_id=run_id, session=session, verdicts=tuple(events[i : i + RESCORE_BATCH])
            )
        )
    return len(events)
