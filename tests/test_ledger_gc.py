"""Ledger.execute pauses the cyclic garbage collector for a command and gives it back as it was."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from trialbook.domain import ab
from trialbook.domain.commands import build
from trialbook.domain.errors import DomainError
from trialbook.ledger import Ledger


def test_execute_leaves_the_collector_as_it_found_it(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "gc.db", synchronous="OFF")
    seen: list[bool] = []
    real = ledger._execute_once

    def spy(*args: object) -> object:
        seen.append(gc.isenabled())
        return real(*args)  # type: ignore[arg-type]

    ledger._execute_once = spy  # type: ignore[method-assign]
    was = gc.isenabled()
    try:
        gc.enable()
        ledger.execute(build(ab.CreateTest, name="t", variants=("a", "b")))
        assert gc.isenabled()
        with pytest.raises(DomainError):  # refused: the collector is back on all the same
            ledger.execute(build(ab.CreateTest, name="t", variants=("a", "b")))
        assert gc.isenabled()
        gc.disable()  # a caller that turned it off keeps it off
        ledger.execute(build(ab.AddResults, test="t", results=(ab.ResultFields(variant="a"),)))
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
        ledger.close()
    assert seen == [False, False, False]  # paused while each command ran
