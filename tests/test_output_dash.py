"""``--output -`` (and ``-o -``) is standard output, as in every Unix tool, not a file named ``-``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Invoke
from tests.test_audit_replay import setup_test


@pytest.mark.parametrize(
    ("args", "starts"),
    [
        (("events", "export", "-o", "-"), '{"data":'),
        (("events", "export", "--output", "-"), '{"data":'),
        (("report", "ab", "checkout-flow", "-o", "-"), "# Decision report: A/B test checkout-flow"),
        (("audit", "report", "checkout-flow", "--output", "-"), "# Audit of A/B test"),
    ],
)
def test_a_dash_writes_to_standard_output(
    invoke: Invoke,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    starts: str,
) -> None:
    setup_test(invoke, 2)
    monkeypatch.chdir(tmp_path)
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(starts)
    assert not (tmp_path / "-").exists()
    # the same bytes as without --output
    assert r.stdout == invoke(*args[: args.index("-") - 1]).stdout


def test_a_dataset_to_a_dash_is_standard_output_and_splits_still_need_a_file(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    transcript = tmp_path / "t.json"
    transcript.write_text(
        '[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]',
        encoding="utf-8",
    )
    assert invoke("ab", "create", "t", "--variants", "a,b").exit_code == 0
    r = invoke("ab", "add-result", "t", "--variant", "a", "--transcript", str(transcript))
    assert r.exit_code == 0, r.output
    monkeypatch.chdir(tmp_path)
    r = invoke("export", "dataset", "t", "--format", "openai-chat", "-o", "-")
    assert r.exit_code == 0 and r.stdout.startswith('{"messages":')
    assert not (tmp_path / "-").exists()
    r = invoke("export", "dataset", "t", "--format", "jsonl", "--split", "a=0.5,b=0.5", "-o", "-")
    assert r.exit_code == 2 and "--split needs --output FILE" in r.output
