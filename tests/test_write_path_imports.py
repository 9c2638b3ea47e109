"""A process that records one result imports only what recording it needs (issue #25).

``trialbook ab add-result`` is a new Python process per result: every module it
imports is paid on every call. These tests name the modules it must not load
(the canary domain, the chain verifier, the analysis behind ``ab analyze``, the
``sqlite_utils`` migrations helper) rather than timing anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from trialbook.ledger.ledger import _version_on_path, tool_version

ROOT = Path(__file__).resolve().parent.parent

NOT_ON_THE_WRITE_PATH = (
    "trialbook.domain.canary",
    "trialbook.store.verify",
    "trialbook.store.imports",
    "trialbook.shell.commands.ab_analysis",
    "trialbook.shell.commands.events",
    "trialbook.ledger.analysis",
    "sqlite_utils",
    "scipy",
    "numpy",
    "prompt_toolkit",
)

PROBE = (
    "import json, sys\n"
    "from trialbook.shell.cli import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    f"print(json.dumps(sorted(m for m in {NOT_ON_THE_WRITE_PATH!r} if m in sys.modules)))\n"
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT
    )


def test_the_recorded_tool_version_is_the_installed_distributions():
    assert tool_version() == metadata.version("trialbook")
    assert _version_on_path() == metadata.version("trialbook")


def test_ab_add_result_loads_no_module_it_does_not_need(tmp_path):
    db = str(tmp_path / "t.db")
    created = run("--db", db, "ab", "create", "t")
    assert created.returncode == 0, created.stderr
    added = run("--db", db, "ab", "add-result", "t", "--variant", "control", "--success")
    assert added.returncode == 0, added.stderr
    out = added.stdout.splitlines()
    assert out[0] == "Recorded a result for variant control of t (event #2)."
    assert json.loads(out[-1]) == []


def test_ab_analyze_and_conclude_are_still_commands_of_ab(tmp_path):
    db = str(tmp_path / "t.db")
    run("--db", db, "ab", "create", "t")
    listed = run("--db", db, "ab", "--help")
    assert "analyze" in listed.stdout and "conclude" in listed.stdout
    analyzed = run("--db", db, "ab", "analyze", "t")
    assert analyzed.returncode == 0, analyzed.stderr
    # the subcommand's module is imported when it runs, and only then
    assert "trialbook.shell.commands.ab_analysis" in json.loads(analyzed.stdout.splitlines()[-1])
