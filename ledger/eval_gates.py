"""CI gates on eval runs and comparisons: parse the gate options, check them, say which failed.

``eval run`` (and ``eval resume``, ``eval retry-failed``) take
``--fail-under SCORER=RATE`` (the scorer's pass rate), ``--fail-under
SCORER:mean=VALUE`` (its mean score: on the scorer's own scale when it has
one, ``scorers.NAME.mean_on_scale`` of ``eval show --json``, else the 0–1
``scorers.NAME.mean``) and ``--max-failed N`` (rollouts whose target failed);
``target`` names the target's own score (pass at ≥ 0.7, as ``eval show``). A
run whose rollouts all failed is an infrastructure failure unless
``allow_all_failed``. ``eval compare`` takes ``--max-regressions N`` and
``--fail-on DECISION`` (the always-valid recommendation's words: ``ship``,
``keep_control``, ``no_difference``, ``continue``, ``blocked``).

Everything here is pure: parsing raises ``InvalidCommand`` with the CLI's one
line (checked before anything is recorded), and :func:`check_run` /
:func:`check_compare` read the documents ``eval show --json`` and ``eval
compare --json`` print. :class:`GateOutcome` gives the exit code: 0 when every
gate passed, 1 when one failed, 3 for an infrastructure failure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trialbook.domain.errors import InvalidCommand
from trialbook.domain.verdicts import DEFAULT_PASS_THRESHOLD

#: the words ``--fail-on`` accepts: the recommendation's decisions (``domain.stats.engine.DECISIONS``)
DECISIONS = ("continue", "ship", "keep_control", "no_difference", "blocked")

#: the reserved name of the target's own score in ``--fail-under``
TARGET = "target"

EXIT_OK, EXIT_GATE_FAILED, EXIT_INFRASTRUCTURE = 0, 1, 3

FAIL_UNDER_SYNTAX = (
    "give SCORER=RATE (pass rate, 0–1 or a percentage: equals=0.8, equals=80%) "
    "or SCORER:mean=VALUE (mean score: equals:mean=0.7)"
)


@dataclass(frozen=True)
class ScoreGate:
    """``--fail-under``: ``scorer``'s ``stat`` (``pass_rate`` or ``mean``) must be at least ``threshold``."""

    spec: str
    scorer: str
    stat: str
    threshold: float


@dataclass(frozen=True)
class RunGates:
    """The gates of ``eval run``; the default checks only that not every rollout failed."""

    fail_under: tuple[ScoreGate, ...] = ()
    max_failed: int | None = None
    allow_all_failed: bool = False

    def __bool__(self) -> bool:
        return bool(self.fail_under) or self.max_failed is not None


@dataclass(frozen=True)
class CompareGates:
    """The gates of ``eval compare``."""

    max_regressions: int | None = None
    fail_on: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.max_regressions is not None or bool(self.fail_on)


@dataclass(frozen=True)
class Check:
    """One gate checked: its option as given, whether it passed, and the figures."""

    gate: str
    passed: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"gate": self.gate, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class GateOutcome:
    """Every gate checked; ``infrastructure`` says why nothing could be judged (exit 3)."""

    checks: tuple[Check, ...] = ()
    infrastructure: str | None = None

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def exit_code(self) -> int:
        if self.infrastructure is not None:
            return EXIT_INFRASTRUCTURE
        return EXIT_GATE_FAILED if self.failed else EXIT_OK

    def message(self) -> str | None:
        """The one line a failed gate (or an infrastructure failure) prints; None when all passed."""
        if self.infrastructure is not None:
            return self.infrastructure
        failed = self.failed
        if not failed:
            return None
        if len(failed) == 1:
            return f"gate {failed[0].gate} failed: {failed[0].detail}"
        return f"{len(failed)} gates failed: " + "; ".join(f"{c.gate}: {c.detail}" for c in failed)

    def passed_line(self) -> str | None:
        """``Gates passed: …`` with each gate's figures, when there were gates and all passed."""
        if not self.checks or self.exit_code != EXIT_OK:
            return None
        return "Gates passed: " + "; ".join(f"{c.gate} ({c.detail})" for c in self.checks) + "."

    def to_json(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "checks": [c.to_json() for c in self.checks],
            "infrastructure": self.infrastructure,
        }


# --------------------------------------------------------------------------- parsing


def _rate(text: str, spec: str) -> float:
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        value = float(raw.removesuffix("%"))
    except ValueError:
        raise InvalidCommand(
            f"--fail-under {spec!r}: {raw!r} is not a number; {FAIL_UNDER_SYNTAX}"
        ) from None
    if not math.isfinite(value):
        raise InvalidCommand(f"--fail-under {spec!r}: {raw!r} is not a finite number")
    if percent:
        value /= 100
    return value


def parse_fail_under(spec: str, scorer_names: Iterable[str] | None = None) -> ScoreGate:
    """One ``--fail-under`` value; ``scorer_names`` (the run's scorers) are checked when given.

    The value is split at its last ``=``, so a scorer spec holding ``=``
    (``json_field:a=b``) still works. A pass rate must lie in 0–1 (0–100 %).
    """
    name, eq, value = spec.rpartition("=")
    if not eq or not name.strip() or not value.strip():
        raise InvalidCommand(f"--fail-under {spec!r}: {FAIL_UNDER_SYNTAX}")
    name = name.strip()
    known = None if scorer_names is None else [*dict.fromkeys(scorer_names)]
    stat = "pass_rate"
    for suffix, s in ((":mean", "mean"), (":pass_rate", "pass_rate")):
        base = name.removesuffix(suffix)
        if base != name and (known is None or name not in known):
            name, stat = base, s
            break
    threshold = _rate(value, spec)
    if stat == "pass_rate" and not 0.0 <= threshold <= 1.0:
        raise InvalidCommand(
            f"--fail-under {spec!r}: a pass rate lies between 0 and 1 (or 0% and 100%)"
        )
    if known is not None and name not in known and name != TARGET:
        raise InvalidCommand(
            f"--fail-under {spec!r}: the run has no scorer {name!r}; its scorers: "
            f"{', '.join(known) or 'none'} (or `{TARGET}` for the target's own score)"
        )
    return ScoreGate(spec=spec, scorer=name, stat=stat, threshold=threshold)


def check_mean_on_scale(gate: ScoreGate, scale: Sequence[float] | None) -> None:
    """Refuse a mean gate off ``scale`` (the scores the scorer records; 0–1 when None): such a
    gate could never fail (``judge:j:mean=0.7`` on 1–10) or never pass (``mean=11``)."""
    if gate.stat != "mean" or gate.scorer == TARGET:
        return
    low, high = (float(scale[0]), float(scale[1])) if scale else (0.0, 1.0)
    if not low <= gate.threshold <= high:
        raise InvalidCommand(
            f"--fail-under {gate.spec!r}: {_num(gate.threshold)} is outside {gate.scorer}'s "
            f"{_num(low)}–{_num(high)} scale; give a mean on its scale"
        )


def parse_run_gates(
    fail_under: Sequence[str] = (),
    max_failed: int | None = None,
    *,
    allow_all_failed: bool = False,
    scorer_names: Iterable[str] | None = None,
    scorer_scales: Mapping[str, Sequence[float] | None] | None = None,
) -> RunGates:
    """``eval run``'s gate options, checked (``InvalidCommand`` naming the first wrong one).

    ``scorer_scales`` (name → the scale its verdicts are recorded on, None for 0–1) also
    checks that a ``SCORER:mean=VALUE`` lies on the scorer's scale."""
    names = None if scorer_names is None else list(scorer_names)
    if max_failed is not None and max_failed < 0:
        raise InvalidCommand(f"--max-failed {max_failed}: give a count of 0 or more")
    parsed = tuple(parse_fail_under(s, names) for s in fail_under)
    for g in parsed:
        if scorer_scales is not None and g.scorer in scorer_scales:
            check_mean_on_scale(g, scorer_scales[g.scorer])
    return RunGates(
        fail_under=parsed,
        max_failed=max_failed,
        allow_all_failed=allow_all_failed,
    )


def parse_compare_gates(
    max_regressions: int | None = None, fail_on: Iterable[str] = ()
) -> CompareGates:
    """``eval compare``'s gate options; ``fail_on`` values may also be comma-separated."""
    words: list[str] = []
    for value in fail_on:
        for word in value.split(","):
            w = word.strip().lower().replace("-", "_")
            if w not in DECISIONS:
                raise InvalidCommand(
                    f"--fail-on {word.strip()!r} is not a recommendation; use one of "
                    + ", ".join(DECISIONS)
                )
            if w not in words:
                words.append(w)
    if max_regressions is not None and max_regressions < 0:
        raise InvalidCommand(f"--max-regressions {max_regressions}: give a count of 0 or more")
    return CompareGates(max_regressions=max_regressions, fail_on=tuple(words))


# --------------------------------------------------------------------------- checking


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%".replace(".0%", "%")


def _num(value: float) -> str:
    return f"{value:.4g}"


def _score_check(report: dict[str, Any], g: ScoreGate) -> Check:
    gate = f"--fail-under {g.spec}"
    summary = report["summary"]
    on_scale = ""
    if g.scorer in report["scorers"]:
        sc = report["scorers"][g.scorer]
        value, n = (sc["pass_rate"] if g.stat == "pass_rate" else sc["mean"]), sc["scored"]
        passed_n = sc["passed"]
        label = g.scorer
        scale = sc.get("scale")
        if (
            g.stat == "mean"
            and scale
            and list(scale) != [0, 1]
            and sc.get("mean_on_scale") is not None
        ):
            # a mean gate reads on the scorer's own scale, as `eval show` shows it (6.5/10)
            value = sc["mean_on_scale"]
            on_scale = f" on its {scale[0]:g}–{scale[1]:g} scale"
    elif g.scorer == TARGET:
        value = summary["target_pass_rate"] if g.stat == "pass_rate" else summary["mean_score"]
        scores = [
            r["score"]
            for r in report["rollouts"]
            if r["status"] == "completed" and r["score"] is not None
        ]
        n, passed_n = len(scores), sum(x >= DEFAULT_PASS_THRESHOLD for x in scores)
        label = "target score"
    else:
        return Check(gate, False, f"no verdict of {g.scorer!r} in the run (nothing it scored)")
    if value is None:
        return Check(gate, False, f"{label}: no rollout scored, so no {g.stat.replace('_', ' ')}")
    if g.stat == "pass_rate":
        figures = f"{label} pass rate {_pct(value)} ({passed_n} of {n} scored)"
        bound = _pct(g.threshold)
    else:
        figures = f"{label} mean {_num(value)}{on_scale} (n={n})"
        bound = _num(g.threshold)
    if value < g.threshold:
        return Check(gate, False, f"{figures} is under {bound}")
    return Check(gate, True, f"{figures} ≥ {bound}")


def check_run(report: dict[str, Any], gates: RunGates) -> GateOutcome:
    """Check ``gates`` on a run's report (``eval show --json``); an all-failed run is exit 3."""
    s = report["summary"]
    checks = [_score_check(report, g) for g in gates.fail_under]
    if gates.max_failed is not None:
        failed, n = s["failed"], s["rollouts"]
        detail = f"{failed} of {n} rollouts failed"
        ok = failed <= gates.max_failed
        checks.append(
            Check(
                f"--max-failed {gates.max_failed}",
                ok,
                detail if ok else f"{detail}, more than {gates.max_failed}",
            )
        )
    infrastructure = None
    if not gates.allow_all_failed and s["rollouts"] and s["completed"] == 0:
        first = next((r["error"] for r in report["rollouts"] if r["error"]), None)
        infrastructure = (
            f"every rollout failed ({s['failed']} of {s['rollouts']}): nothing was evaluated"
            + (f"; first error: {_short(first, 120)}" if first else "")
            + "; fix the target, or pass --allow-all-failed to exit 0"
        )
    return GateOutcome(tuple(checks), infrastructure)


def check_compare(data: dict[str, Any], gates: CompareGates) -> GateOutcome:
    """Check ``gates`` on a comparison (``eval compare --json``)."""
    checks = []
    if gates.max_regressions is not None:
        n = len(data["regressions"])
        cases = len({p["case_id"] for p in data["regressions"]})
        detail = f"{n} regression{'s' if n != 1 else ''} in {cases} case{'s' if cases != 1 else ''} of {data['pairs']} pairs"
        ok = n <= gates.max_regressions
        checks.append(
            Check(
                f"--max-regressions {gates.max_regressions}",
                ok,
                detail if ok else f"{detail}, more than {gates.max_regressions}",
            )
        )
    if gates.fail_on:
        gate = f"--fail-on {','.join(gates.fail_on)}"
        analysis = data.get("analysis")
        if analysis is None:
            checks.append(
                Check(gate, False, "no recommendation: fewer than 2 pairs scored on both sides")
            )
        else:
            rec = analysis["recommendation"]
            decision = rec["decision"]
            said = decision + (f" {rec['variant']}" if rec.get("variant") else "")
            checks.append(
                Check(
                    gate,
                    decision not in gates.fail_on,
                    f"recommendation {said}"
                    + (
                        f" ({rec['reason']})"
                        if decision in gates.fail_on and rec.get("reason")
                        else ""
                    ),
                )
            )
    return GateOutcome(tuple(checks))


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def scorer_names_of(scoring: Any) -> list[str]:
    """The names of every scorer a prepared run uses (``runners.eval_scoring.RunScorers``)."""
    if not scoring:
        return []
    return [
        *dict.fromkeys(
            [*(s.name for s in scoring.common), *(s.name for s in scoring.by_spec.values())]
        )
    ]


def scorer_scales_of(scoring: Any) -> dict[str, tuple[float, float] | None]:
    """Each scorer of a prepared run → the scale its verdicts are recorded on (None: 0–1)."""
    if not scoring:
        return {}
    out: dict[str, tuple[float, float] | None] = {}
    for s in [*scoring.common, *scoring.by_spec.values()]:
        config = getattr(s, "config", None)
        rules = getattr(config, "rules", None)
        out[s.name] = rules.recorded_scale if rules is not None else getattr(s, "scale", None)
    return out


def judge_run(
    ledger: Any, run_id: str, gates: RunGates, junit: str | None = None
) -> tuple[dict[str, Any], GateOutcome]:
    """After a run (or resume) ended: its report, the gates checked on it, the JUnit file written."""
    from trialbook.ledger import evals
    from trialbook.ledger.junit import write_junit

    report = evals.run_report(ledger, run_id)
    outcome = check_run(report, gates)
    if junit is not None:
        write_junit(junit, report, outcome.to_json())
    return report, outcome
