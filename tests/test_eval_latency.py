"""The batching writer shortens the interpreter's switch interval only while its thread runs
(issue #25: a 5 ms GIL hold by the writer was recorded as latency). No timing here: the
figures are bench/eval_throughput.py's."""

from __future__ import annotations

import asyncio
import sys

import pytest

from trialbook.domain.suites import Case
from trialbook.runners.executor import (
    WRITER_SWITCH_INTERVAL,
    BatchWriter,
    RolloutJob,
    RolloutOutcome,
    WriterFailed,
)


def outcome(case_id: str) -> RolloutOutcome:
    return RolloutOutcome(RolloutJob(Case(id=case_id, input="x")), None, error="e")


@pytest.fixture
def default_interval():
    saved = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield 0.005
    sys.setswitchinterval(saved)


def test_a_threaded_writer_shortens_the_switch_interval_and_restores_it(default_interval):
    seen: list[float] = []

    def write(batch: list[RolloutOutcome]) -> None:
        seen.append(sys.getswitchinterval())

    async def main() -> float:
        async with BatchWriter(write, max_delay_s=0) as writer:
            inside = sys.getswitchinterval()
            writer(outcome("a"))
        return inside

    inside = asyncio.run(main())
    assert inside == pytest.approx(WRITER_SWITCH_INTERVAL)
    assert seen == [pytest.approx(WRITER_SWITCH_INTERVAL)]
    assert sys.getswitchinterval() == pytest.approx(default_interval)


def test_nested_writers_restore_the_interval_only_when_the_last_closes(default_interval):
    async def main() -> tuple[float, float]:
        async with BatchWriter(lambda b: None):
            async with BatchWriter(lambda b: None):
                pass
            between = sys.getswitchinterval()
        return between, sys.getswitchinterval()

    between, after = asyncio.run(main())
    assert between == pytest.approx(WRITER_SWITCH_INTERVAL)
    assert after == pytest.approx(default_interval)


def test_a_failed_write_still_restores_the_interval(default_interval):
    def write(batch: list[RolloutOutcome]) -> None:
        raise OSError("disk full")

    async def main() -> None:
        async with BatchWriter(write, max_delay_s=0) as writer:
            writer(outcome("a"))

    with pytest.raises(WriterFailed, match="disk full"):
        asyncio.run(main())
    assert sys.getswitchinterval() == pytest.approx(default_interval)


def test_a_writer_on_the_loop_leaves_the_interval_alone(default_interval):
    async def main() -> float:
        async with BatchWriter(lambda b: None, in_thread=False):
            return sys.getswitchinterval()

    assert asyncio.run(main()) == pytest.approx(default_interval)


def test_an_interval_already_shorter_than_the_writers_is_kept():
    saved = sys.getswitchinterval()
    sys.setswitchinterval(0.0002)
    try:

        async def main() -> float:
            async with BatchWriter(lambda b: None):
                return sys.getswitchinterval()

        assert asyncio.run(main()) == pytest.approx(0.0002, rel=0.05)
        assert sys.getswitchinterval() == pytest.approx(0.0002, rel=0.05)
    finally:
        sys.setswitchinterval(saved)
