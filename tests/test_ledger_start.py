"""What a process that records into an existing test does at its start (issue #25: the
start of ``ab import`` is part of its time): it reads no more than it needs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from trialbook.domain import ab
from trialbook.domain.commands import build
from trialbook.ledger import Ledger
from trialbook.ledger.ledger import host_name


def test_the_host_name_is_the_one_socket_gives() -> None:
    # eval runs compare a run's recorded host with socket.gethostname() to tell whether
    # its process still lives: the two must agree
    assert host_name() == socket.gethostname()


def test_a_test_is_snapshotted_when_it_is_created(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "s.db", synchronous="OFF")
    ledger.execute(build(ab.CreateTest, name="t", variants=("a", "b"), control="b"))
    assert ledger.store.load_snapshot("ab:t") == (
        1,
        ab.ABTestAggregate.state_version,
        {"name": "t", "variants": ["a", "b"], "control": "b", "archived": False, "results": 0},
    )
    ledger.close()


def test_a_new_process_adds_results_without_validating_the_stored_definition(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    with Ledger(path, synchronous="OFF") as ledger:
        ledger.execute(build(ab.CreateTest, name="t", variants=("a", "b")))
    lines = tmp_path / "r.jsonl"
    lines.write_text("".join(json.dumps({"variant": v, "success": True}) + "\n" for v in "abab"))
    child = (
        "import sys\n"
        "from pathlib import Path\n"
        "from trialbook.domain import ab\n"
        "from trialbook.ledger import Ledger\n"
        "from trialbook.ledger.importing import import_batches, read_import\n"
        "ledger = Ledger(sys.argv[1])\n"
        "import_batches(ledger, read_import(Path(sys.argv[2]), 't'))\n"
        "ledger.close()\n"
        "print('socket' in sys.modules, ab.TestCreated.__pydantic_complete__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", child, str(path), str(lines)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    # neither socket imported nor the definition's model built: its state came from the snapshot
    assert out == ["False", "False"]
    with Ledger(path, synchronous="OFF") as ledger:
        state, version, _ = ledger._load(ab.ABTestAggregate(), "ab:t")
        assert (state.name, state.variants, state.control, state.results, version) == (
            "t",
            ("a", "b"),
            "a",
            4,
            5,
        )
