"""Canaries from Python (``tb.canaries``, ``tb.canary(name)``), as a router's code would use them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import trialbook
from tests.conftest import Invoke, count_events

ROOT = Path(__file__).parent.parent


@pytest.fixture
def tb(db_path: Path) -> Any:
    handle = trialbook.open(db_path)
    yield handle
    handle.close()


def create(tb: Any, **changes: Any) -> Any:
    options: dict[str, Any] = {
        "control": "router-v1",
        "candidate": "router-v2",
        "guardrails": ["error_rate:+2pp"],
        "min_results": 5,
        "salt": "fixed-salt",
    }
    return tb.canaries.create("router-v2", **{**options, **changes})


def unit_in(canary: Any, *, candidate: bool, percent: float = 10) -> str:
    return next(
        f"u{i}" for i in range(100_000) if (canary.bucket(f"u{i}") < percent * 100) == candidate
    )


def feed(canary: Any, n: int, *, failed: dict[str, int] | None = None, start: int = 0) -> None:
    """``n`` sessions routed by ``assign``, each with 10 tool calls (``failed`` per variant fail)."""
    failed = failed or {}
    rows = []
    for i in range(start, start + n):
        unit = f"user-{i}"
        variant = canary.assign(unit)
        rows.append(
            {
                "variant": variant,
                "unit_id": unit,
                "tool_calls": 10,
                "successful_calls": 10 - failed.get(variant, 1) if i % 3 else 10,
                "success": True,
            }
        )
    canary.add_results(rows)


class TestAssignment:
    def test_assign_is_the_salted_hash_against_the_stage(self, tb: Any) -> None:
        canary = create(tb)
        for i in range(2000):
            unit = f"user-{i}"
            bucket = int(hashlib.sha256(f"fixed-salt:{unit}".encode()).hexdigest()[:8], 16) % 10000
            assert canary.assign(unit) == ("router-v2" if bucket < 1000 else "router-v1")
            assert canary.bucket(unit) == bucket
        assert canary.assign(17) == canary.assign("17")

    def test_assigning_writes_nothing(self, tb: Any, db_path: Path) -> None:
        canary = create(tb)
        before = count_events(db_path)
        for i in range(500):
            canary.assign(f"user-{i}")
        assert count_events(db_path) == before

    @pytest.mark.parametrize("bad", ["", 2.5, None, True])
    def test_a_bad_unit_id_is_an_invalid_command(self, tb: Any, bad: Any) -> None:
        canary = create(tb)
        with pytest.raises(trialbook.InvalidCommand):
            canary.assign(bad)

    def test_halt_and_rollback_send_everyone_to_control_completion_to_candidate(
        self, tb: Any
    ) -> None:
        canary = create(tb)
        inside = unit_in(canary, candidate=True)
        assert canary.assign(inside) == "router-v2"
        canary.halt(note="pager")
        assert canary.assign(inside) == "router-v1" and canary.exposure_percent == 0
        canary.rollback()
        assert canary.assign(inside) == "router-v1"
        other = tb.canaries.create(
            "quick", control="a", candidate="b", stages=[100], min_results=2, salt="q"
        )
        other.add_results([{"variant": "b"}, {"variant": "b"}])
        other.complete()
        assert {other.assign(f"x{i}") for i in range(200)} == {"b"}

    @pytest.mark.slow
    def test_a_decision_made_elsewhere_reaches_the_handle_within_its_refresh(
        self, tb: Any, db_path: Path
    ) -> None:
        canary = create(tb)
        inside = unit_in(canary, candidate=True)
        # another process halts it, through the CLI
        r = subprocess.run(
            [sys.executable, "-m", "trialbook", "--db", str(db_path), "canary", "halt", "router-v2"],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + canary.refresh_every + 0.5
        while canary.assign(inside) == "router-v2":
            assert time.monotonic() < deadline, "the halt never reached the handle"
            time.sleep(0.01)
        assert canary.status_name == "halted"

    @pytest.mark.slow
    def test_a_million_units_split_as_each_stage_says_never_flip_back_and_agree_across_processes(
        self, tb: Any, db_path: Path, tmp_path: Path
    ) -> None:
        from trialbook.domain.canary import bucket, threshold

        canary = create(tb)
        n = 1_000_000
        buckets = [bucket("fixed-salt", f"unit-{i}") for i in range(n)]
        previous: list[bool] | None = None
        for percent in (1, 10, 50, 100):
            limit = threshold(percent)
            inside = [b < limit for b in buckets]
            share = sum(inside) / n * 100
            assert abs(share - percent) < 0.2, (percent, share)
            if previous is not None:  # zero units move from the candidate back to the control
                assert sum(a and not b for a, b in zip(previous, inside, strict=True)) == 0
            previous = inside
        # the answers of assign() itself at the 10% stage, in this process and in another one
        here = hashlib.sha256(
            "".join(canary.assign(f"unit-{i}")[-1] for i in range(0, n, 10)).encode()
        ).hexdigest()
        script = tmp_path / "assign.py"
        script.write_text(
            "import hashlib, sys, trialbook\n"
            "with trialbook.open(sys.argv[1]) as tb:\n"
            "    c = tb.canary('router-v2')\n"
            f"    answers = ''.join(c.assign(f'unit-{{i}}')[-1] for i in range(0, {n}, 10))\n"
            "print(hashlib.sha256(answers.encode()).hexdigest())\n"
        )
        r = subprocess.run(
            [sys.executable, str(script), str(db_path)], capture_output=True, text=True, check=True
        )
        assert r.stdout.strip() == here


class TestResults:
    def test_results_carry_the_stage_they_ran_under(self, tb: Any) -> None:
        canary = create(tb)
        recorded = canary.add_result(variant="router-v1", tool_calls=4, successful_calls=4)
        event = tb.events.get(recorded.position)
        assert event.type == "CanaryResultAdded" and event.data["stage"] == 1
        assert event.stream_id == "canary:router-v2"
        assert event.metadata["call"] == "trialbook.canary.add_result"

    def test_a_session_assigns_measures_and_records_with_its_unit_and_stage(self, tb: Any) -> None:
        canary = create(tb)
        with canary.session("user-1", case_id="t-1") as s:
            assert s.variant == canary.assign("user-1")
            s.tool_call(ok=True)
            s.tool_call(ok=False, error="404")
        data = tb.events.get(s.recorded.position).data
        assert (data["variant"], data["unit_id"], data["stage"]) == (s.variant, "user-1", 1)
        assert (data["tool_calls"], data["successful_calls"], data["success"]) == (2, 1, True)

    def test_an_exception_in_a_session_is_recorded_as_a_failure_and_re_raised(
        self, tb: Any
    ) -> None:
        canary = create(tb)
        with pytest.raises(KeyError), canary.session("user-2") as s:
            raise KeyError("boom")
        assert tb.events.get(s.recorded.position).data["success"] is False

    def test_an_async_session_records_in_a_thread(self, tb: Any) -> None:
        canary = create(tb)

        async def run() -> Any:
            async with canary.session("user-3") as s:
                s.usage(tokens=10, cost=0.01)
            return s

        s = asyncio.run(run())
        assert tb.events.get(s.recorded.position).data["tokens"] == 10

    def test_a_session_of_a_stopped_canary_records_nothing(self, tb: Any, db_path: Path) -> None:
        canary = create(tb)
        canary.halt()
        before = count_events(db_path)
        with canary.session("user-4") as s:
            assert s.variant == "router-v1"
        assert s.recorded is None and count_events(db_path) == before

    def test_a_unit_served_the_wrong_variant_is_refused_and_nothing_is_recorded(
        self, tb: Any, db_path: Path
    ) -> None:
        canary = create(tb)
        outside = unit_in(canary, candidate=False)
        before = count_events(db_path)
        with pytest.raises(
            trialbook.InvalidCommand, match=f"unit '{outside}' is assigned router-v1"
        ):
            canary.add_results(
                [{"variant": "router-v1"}, {"variant": "router-v2", "unit_id": outside}]
            )
        assert count_events(db_path) == before


class TestDecisions:
    def test_a_good_candidate_advances_stage_by_stage_and_completes(self, tb: Any) -> None:
        canary = create(tb, min_results=20)
        feed(canary, 400)
        status = canary.status()
        assert status.action == "advance", status.next
        d = canary.advance(to=50, note="holds")
        assert (d.stage, d.to_stage, d.percent, d.forced) == (1, 2, 50, False)
        assert canary.stage == 2 and canary.exposure_percent == 50
        feed(canary, 100, start=400)
        assert canary.step() is not None and canary.stage == 3
        feed(canary, 40, start=500)
        assert canary.step() is None  # completing is a person's decision
        done = canary.complete()
        assert done.type == "CanaryCompleted" and canary.status_name == "completed"
        kinds = [d["kind"] for d in canary.decisions()]
        assert kinds == ["advanced", "advanced", "completed"]

    def test_a_bad_candidate_is_halted_by_the_rule_and_advancing_says_why_not(
        self, tb: Any, db_path: Path
    ) -> None:
        canary = create(tb, min_results=30)
        feed(canary, 600, failed={"router-v1": 1, "router-v2": 4})
        before = count_events(db_path)
        with pytest.raises(
            trialbook.StateConflict, match="guardrail error_rate of 'router-v2' is breached"
        ):
            canary.advance()
        assert count_events(db_path) == before
        d = canary.step()
        assert d is not None and d.action == "halt" and d.automatic and d.breached == ["error_rate"]
        with pytest.raises(trialbook.StateConflict, match="is halted; it cannot advance"):
            canary.advance(force=True)

    def test_forcing_is_recorded_with_what_it_overrode(self, tb: Any) -> None:
        canary = create(tb, min_results=30)
        d = canary.advance(force=True)
        assert d.forced and "has 0 of the 30 candidate results" in (d.overrode or "")

    def test_the_api_raises_the_clis_messages(self, tb: Any, invoke: Invoke) -> None:
        tb.close()
        with trialbook.open(tb.path) as api, pytest.raises(trialbook.NotFound) as e:
            api.canary("nope")
        r = invoke("canary", "status", "nope")
        assert r.exit_code == 1 and r.output.strip() == f"Error: {e.value}"
        with trialbook.open(tb.path) as api, pytest.raises(trialbook.InvalidCommand) as e2:
            api.canaries.create("x", control="a", candidate="a")
        r = invoke("canary", "create", "x", "--control", "a", "--candidate", "a")
        assert r.exit_code == 1 and r.output.strip() == f"Error: {e2.value}"

    def test_the_status_is_the_clis_json_and_reproduces_at_its_position(
        self, tb: Any, invoke: Invoke
    ) -> None:
        canary = create(tb, min_results=20)
        feed(canary, 200)
        status = canary.status().model_dump(mode="json")
        r = invoke("canary", "status", "router-v2", "--json")
        assert json.loads(r.output) == status
        feed(canary, 50, start=200)
        assert canary.status(at=status["position"]).model_dump(mode="json") == status
        audit = canary.audit()
        assert audit["decisions"] == [] and audit["chain"]["ok"]
