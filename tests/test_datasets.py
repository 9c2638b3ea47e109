"""``trialbook export dataset`` from real eval runs, A/B tests and canaries in real SQLite files.

The eval runs use a real code target and a real code scorer (a module written to a
temp dir); every exported record is checked against the shape its format documents
(pydantic models of OpenAI's chat fine-tuning line and of TensorZero's chat
datapoint, below), and its provenance against the events it cites.
"""

from __future__ import annotations

import json
import math
import sqlite3
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, model_validator

import trialbook
from tests.conftest import Invoke, add_suite, count_events, show_json

# --------------------------------------------------------------------------- documented shapes
#
# OpenAI's chat fine-tuning format (platform.openai.com/docs/guides/fine-tuning, "Example
# format"; the tool-calling example of learn.microsoft.com/azure/ai-services/openai/how-to/
# fine-tuning-functions shows the same): one JSON object per line with a "messages" list of
# system / user / assistant / tool messages (optional top-level "tools", "parallel_tool_calls"),
# assistant messages with optional "tool_calls" [{id, type: "function", function: {name,
# arguments: JSON text}}] and an optional "weight" 0 or 1, tool messages with "tool_call_id".
# Unknown keys are refused: OpenAI's validator refuses a line with an extra key.


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class OpenAIFunction(_Strict):
    name: str
    arguments: str


class OpenAIToolCall(_Strict):
    id: str
    type: Literal["function"]
    function: OpenAIFunction


class OpenAISystem(_Strict):
    role: Literal["system"]
    content: str
    name: str | None = None


class OpenAIUser(_Strict):
    role: Literal["user"]
    content: str
    name: str | None = None


class OpenAIAssistant(_Strict):
    role: Literal["assistant"]
    content: str | None = None
    name: str | None = None
    tool_calls: list[OpenAIToolCall] | None = None
    weight: Literal[0, 1] | None = None

    @model_validator(mode="after")
    def _says_something(self) -> OpenAIAssistant:
        assert self.content is not None or self.tool_calls, "an assistant message says or calls"
        return self


class OpenAITool(_Strict):
    role: Literal["tool"]
    content: str
    tool_call_id: str


OpenAIMessage = Annotated[
    OpenAISystem | OpenAIUser | OpenAIAssistant | OpenAITool, Field(discriminator="role")
]


class OpenAIChatExample(_Strict):
    messages: list[OpenAIMessage] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    parallel_tool_calls: bool | None = None

    @model_validator(mode="after")
    def _trains_something(self) -> OpenAIChatExample:
        assert any(m.role == "assistant" for m in self.messages), "needs an assistant message"
        return self


# TensorZero's chat datapoint (tensorzero.com/docs/gateway/api-reference/datasets-datapoints;
# the Python client's ChatDatapointInsert): function_name, input {system?, messages: [{role:
# user|assistant, content: [blocks]}]}, output (content blocks) optional, tags {str: str}.
# Blocks: text {text}, tool_call {id, name, arguments}, tool_result {id, name, result}.


class TZText(_Strict):
    type: Literal["text"]
    text: str


class TZToolCall(_Strict):
    type: Literal["tool_call"]
    id: str
    name: str
    arguments: Any


class TZToolResult(_Strict):
    type: Literal["tool_result"]
    id: str
    name: str
    result: str


TZBlock = Annotated[TZText | TZToolCall | TZToolResult, Field(discriminator="type")]


class TZMessage(_Strict):
    role: Literal["user", "assistant"]
    content: list[TZBlock]


class TZInput(_Strict):
    system: str | dict[str, Any] | None = None
    messages: list[TZMessage]


class TZDatapoint(_Strict):
    function_name: str
    input: TZInput
    output: list[Annotated[TZText | TZToolCall, Field(discriminator="type")]] | None = None
    tags: dict[str, str] | None = None


# --------------------------------------------------------------------------- fixtures

MODULE = textwrap.dedent(
    """
    def answer(case):
        meta = case["metadata"]
        reply = {"output": meta.get("answer", "ok")}
        if "tool_calls" in meta:
            reply["trace"] = {"tool_calls": meta["tool_calls"]}
        if "turns" in meta:
            reply["trace"] = {"messages": meta["turns"]}
        if "odd_trace" in meta:
            reply["trace"] = {"spans": [1, 2]}
        if meta.get("fail"):
            raise RuntimeError("down")
        return reply

    def graded(prompt, output, metadata):
        return {"score": metadata["grade"], "passed": metadata["grade"] >= 0.5}
    """
)

CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "lookup", "arguments": '{"city": "Paris"}'},
}
TURNS = [
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": "14 C"},
]
GRADES = {"g0": 0.2, "g1": 0.5, "g2": 0.5000001, "g3": 0.4999999, "g4": 0.7, "g5": 1.0}


def _cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = [
        {"id": cid, "input": f"question {cid}", "expected": "ok", "metadata": {"grade": g}}
        for cid, g in GRADES.items()
    ]
    cases[0]["metadata"]["tool_calls"] = [CALL]
    cases[1]["metadata"] |= {"turns": TURNS, "answer": "It is 14 C in Paris."}
    cases[2]["input"] = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "hi"},
    ]
    cases[3]["metadata"]["odd_trace"] = True
    cases.append({"id": "down", "input": "x", "metadata": {"grade": 0.9, "fail": True}})
    return cases


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "tb_dataset_mod.py").write_text(MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "tb_dataset_mod"


@pytest.fixture
def tb(db_path: Path) -> Iterator[Any]:
    handle = trialbook.open(db_path)
    yield handle
    handle.close()


@pytest.fixture
def run(invoke: Invoke, tmp_path: Path, module: str) -> str:
    """Eval run ``r1``: six graded cases (one failing), two scorers, two epochs."""
    add_suite(invoke, tmp_path / "qa.jsonl", _cases())
    r = invoke(
        "eval", "run", "qa", "--target", f"python:{module}:answer", "--scorer",
        f"python:{module}:graded", "--scorer", "equals", "--epochs", "2", "--retries", "0",
        "--name", "r1",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return "r1"


def _read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _error(invoke: Invoke, *args: str) -> str:
    r = invoke(*args)
    assert r.exit_code != 0, r.output
    line = r.output.strip().splitlines()[-1]
    assert line.startswith("Error: "), r.output
    return line.removeprefix("Error: ")


def _blobs(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM blobs").fetchone()[0])
    finally:
        conn.close()


# --------------------------------------------------------------------------- eval runs


class TestOpenAIChatFromAnEvalRun:
    def test_every_line_is_the_documented_chat_shape_with_provenance_beside_it(
        self, invoke: Invoke, tb: Any, run: str, tmp_path: Path
    ) -> None:
        out = tmp_path / "train.jsonl"
        r = invoke("export", "dataset", run, "--format", "openai-chat", "-o", str(out))
        assert r.exit_code == 0, r.output
        lines = _read_lines(out)
        assert len(lines) == 12  # 6 completed cases x 2 epochs; the failing case is left out
        for line in lines:
            OpenAIChatExample.model_validate(line)
            assert set(line) == {"messages"}
        provenance = _read_lines(tmp_path / "train.provenance.jsonl")
        assert [p["line"] for p in provenance] == list(range(1, 13))
        for p in provenance:
            prov = p["provenance"]
            event = tb.events.get(prov["position"])  # the position is the rollout's event
            assert event.type == "RolloutCompleted"
            assert (event.data["case_id"], event.data["epoch"]) == (prov["case_id"], prov["epoch"])
            assert event.stream_id == f"eval-run:{run}"
            assert (prov["suite"], prov["suite_version"]) == ("qa", 1)
            assert prov["suite_hash"] == tb.evals.suite("qa").hash
            for scorer, positions in prov["verdict_positions"].items():
                for pos in positions:
                    verdict = tb.events.get(pos)
                    assert verdict.type == "VerdictRecorded"
                    assert verdict.data["scorer"] == scorer
                    assert verdict.data["case_id"] == prov["case_id"]
        assert r.output == (
            f"Exported 12 records of eval run r1 to {out}; left out: failed rollouts (2); "
            "2 traces were not chat messages (exported without).\n"
        )

    def test_without_output_the_records_go_to_stdout_and_the_summary_to_stderr(
        self, invoke: Invoke, tb: Any, run: str
    ) -> None:
        r = invoke("export", "dataset", run, "--format", "openai-chat")
        assert r.exit_code == 0, r.output
        lines = [json.loads(x) for x in r.stdout.splitlines()]
        assert lines == [
            row["record"] for row in tb.export_dataset(run, format="openai-chat")["records"]
        ]
        assert r.stderr.startswith(
            "Exported 12 records of eval run r1; left out: failed rollouts (2)"
        )
        assert "with --output FILE it goes to FILE.provenance.jsonl" in r.stderr

    def test_the_case_input_and_the_output_are_the_conversation(self, tb: Any, run: str) -> None:
        rows = tb.export_dataset(run, format="openai-chat")["records"]
        g2 = next(r for r in rows if r["provenance"]["case_id"] == "g2")["record"]
        assert g2["messages"] == [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "ok"},
        ]

    def test_tool_calls_of_a_trace_are_exported(self, tb: Any, run: str) -> None:
        rows = tb.export_dataset(run, format="openai-chat")["records"]
        by_case = {(r["provenance"]["case_id"], r["provenance"]["epoch"]): r for r in rows}
        # the openai target's trace: the final answer's tool calls
        g0 = by_case[("g0", 1)]["record"]["messages"]
        assert g0[-1] == {"role": "assistant", "content": "ok", "tool_calls": [CALL]}
        # a task app's trace of turns: the tool call and its result before the answer
        g1 = by_case[("g1", 2)]["record"]["messages"]
        assert g1 == [
            {"role": "user", "content": "question g1"},
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": "14 C"},
            {"role": "assistant", "content": "It is 14 C in Paris."},
        ]
        OpenAIChatExample.model_validate(by_case[("g1", 2)]["record"])

    def test_a_trace_that_is_not_chat_is_counted_and_kept_in_jsonl(self, tb: Any, run: str) -> None:
        result = tb.export_dataset(run, format="jsonl")
        assert result["traces_not_chat"] == 2
        g3 = next(r for r in result["records"] if r["provenance"]["case_id"] == "g3")["record"]
        assert g3["trace"] == {"spans": [1, 2]}
        assert g3["messages"][-1] == {"role": "assistant", "content": "ok"}


class TestOutputsStoredAsBlobs:
    def test_a_large_output_is_read_back_from_its_blob(
        self, invoke: Invoke, tb: Any, tmp_path: Path, module: str
    ) -> None:
        big = "y" * 9000  # over the 8 KiB kept inline: the rollout names a blob
        add_suite(
            invoke,
            tmp_path / "big.jsonl",
            [{"id": "b1", "input": "long?", "metadata": {"answer": big}}],
        )
        r = invoke("eval", "run", "big", "--target", f"python:{module}:answer", "--name", "big-run")
        assert r.exit_code == 0, r.output
        (stored,) = tb.events.read(types=["RolloutCompleted"])
        assert stored.data.get("output") is None and stored.data["output_blob"]
        (row,) = tb.export_dataset("big-run", format="openai-chat")["records"]
        assert row["record"]["messages"][-1] == {"role": "assistant", "content": big}
        # a run without scorers has no scores to filter on
        message = _error(
            invoke, "export", "dataset", "big-run", "--format", "jsonl", "--min-score", "0.5"
        )
        assert message == (
            "--min-score needs scores, and eval run 'big-run' has none; score it with "
            "`trialbook eval rescore big-run --scorer SPEC`"
        )


class TestFilters:
    @pytest.mark.parametrize("threshold", [0.2, 0.4999999, 0.5, 0.5000001, 0.7, 1.0, 1.5])
    def test_min_score_keeps_exactly_the_rollouts_scoring_at_least_x(
        self, invoke: Invoke, tb: Any, run: str, threshold: float
    ) -> None:
        scorer = "python:tb_dataset_mod:graded"
        shown = show_json(invoke, run)
        expected = sorted(
            (row["case_id"], row["epoch"])
            for row in shown["rollouts"]
            if row["status"] == "completed" and row["verdicts"][scorer]["score"] >= threshold
        )
        assert expected == sorted(
            (c, e) for c, g in GRADES.items() if g >= threshold for e in (1, 2)
        )
        result = tb.export_dataset(run, format="jsonl", min_score=threshold, scorer=scorer)
        got = sorted(
            (r["provenance"]["case_id"], r["provenance"]["epoch"]) for r in result["records"]
        )
        assert got == expected
        for r in result["records"]:
            assert r["scores"][scorer]["score"] >= threshold

    def test_passed_only_reads_the_scorer_named(self, tb: Any, run: str) -> None:
        scorer = "python:tb_dataset_mod:graded"
        result = tb.export_dataset(run, format="jsonl", passed_only=True, scorer=scorer)
        got = {r["provenance"]["case_id"] for r in result["records"]}
        assert got == {c for c, g in GRADES.items() if g >= 0.5}

    def test_passed_only_without_a_scorer_needs_every_scorer_to_pass(
        self, tb: Any, run: str
    ) -> None:
        result = tb.export_dataset(run, format="jsonl", passed_only=True)
        for r in result["records"]:
            assert all(s["passed"] for s in r["scores"].values())
        # "equals" passes every answer "ok" (expected "ok"); g1 answers otherwise
        assert {r["provenance"]["case_id"] for r in result["records"]} == {"g2", "g4", "g5"}

    def test_min_score_on_a_run_with_several_scorers_needs_scorer(
        self, invoke: Invoke, tb: Any, run: str, db_path: Path, tmp_path: Path
    ) -> None:
        before = count_events(db_path)
        out = tmp_path / "x.jsonl"
        message = _error(
            invoke,
            "export",
            "dataset",
            run,
            "--format",
            "jsonl",
            "--min-score",
            "0.5",
            "-o",
            str(out),
        )
        assert message == (
            "--min-score: eval run 'r1' has several scores (python:tb_dataset_mod:graded, "
            "equals); name one with --scorer"
        )
        with pytest.raises(trialbook.InvalidCommand) as e:
            tb.export_dataset(run, min_score=0.5)
        assert str(e.value) == message
        assert not out.exists()
        assert count_events(db_path) == before


class TestTensorZero:
    def test_datapoints_have_the_documented_shape_and_tags(self, tb: Any, run: str) -> None:
        rows = tb.export_dataset(run, format="tensorzero", function_name="qa_fn")["records"]
        assert len(rows) == 12
        for r in rows:
            dp = TZDatapoint.model_validate(r["record"])
            assert dp.function_name == "qa_fn"
            assert dp.tags is not None and dp.tags["trialbook.run"] == run
            assert json.loads(dp.tags["trialbook.position"]) == r["provenance"]["position"]
        g1 = next(r["record"] for r in rows if r["provenance"]["case_id"] == "g1")
        assert g1["input"]["messages"][1:] == [
            {"role": "assistant", "content": [{"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": '{"city": "Paris"}'}]},
            {"role": "user", "content": [{"type": "tool_result", "id": "call_1", "name": "lookup", "result": "14 C"}]},
        ]  # fmt: skip
        assert g1["output"] == [{"type": "text", "text": "It is 14 C in Paris."}]
        g0 = next(r["record"] for r in rows if r["provenance"]["case_id"] == "g0")
        assert g0["output"][1] == {
            "type": "tool_call",
            "id": "call_1",
            "name": "lookup",
            "arguments": {"city": "Paris"},
        }
        g2 = next(r["record"] for r in rows if r["provenance"]["case_id"] == "g2")
        assert g2["input"]["system"] == "Answer briefly."


# --------------------------------------------------------------------------- transcripts

TRANSCRIPT = [
    {"role": "system", "content": "You book tables."},
    {"role": "user", "content": "A table for two at 8"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "book", "arguments": {"seats": 2}},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "booked"},
    {"role": "assistant", "content": "Booked: two at 8."},
]
#: as exported: null content left out, arguments as JSON text
EXPORTED = [
    TRANSCRIPT[0],
    TRANSCRIPT[1],
    {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "book", "arguments": '{"seats":2}'},
            }
        ],
    },
    TRANSCRIPT[3],
    TRANSCRIPT[4],
]


class TestTranscripts:
    def test_add_result_transcript_round_trips_through_export(
        self, invoke: Invoke, tb: Any, db_path: Path, tmp_path: Path
    ) -> None:
        assert invoke("ab", "create", "booking", "--variants", "a,b").exit_code == 0
        file = tmp_path / "t.json"
        file.write_text(json.dumps(TRANSCRIPT), encoding="utf-8")
        r = invoke(
            "ab", "add-result", "booking", "--variant", "b", "--success", "--score", "0.9",
            "--case-id", "k1", "--transcript", str(file),
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        assert invoke("ab", "add-result", "booking", "--variant", "a").exit_code == 0
        event = tb.events.get(2)
        assert "transcript" not in event.data  # by reference: the hash, not the messages
        digest = event.data["transcript_blob"]
        out = tmp_path / "booking.jsonl"
        r = invoke("export", "dataset", "booking", "--format", "openai-chat", "-o", str(out))
        assert r.exit_code == 0, r.output
        (line,) = _read_lines(out)
        OpenAIChatExample.model_validate(line)
        assert line == {"messages": EXPORTED}
        (prov,) = _read_lines(tmp_path / "booking.provenance.jsonl")
        assert prov["provenance"] | {"event_id": None, "session_id": None} == {
            "source": "ab", "test": "booking", "variant": "b", "case_id": "k1", "position": 2,
            "transcript_blob": digest, "event_id": None, "session_id": None,
        }  # fmt: skip
        assert prov["scores"] == {"score": {"score": 0.9, "passed": True}}
        assert r.output == (
            f"Exported 1 record of A/B test booking to {out}; left out: results without transcript (1).\n"
        )
        # the summary reads the results as before
        summary = tb.ab.summary("booking")
        assert sum(v["results"] for v in summary) == 2

    def test_import_lines_and_the_api_carry_transcripts_too(self, tb: Any, tmp_path: Path) -> None:
        tb.ab.create("imp", variants=["a", "b"])
        lines = [
            {"variant": "a", "case_id": "k1", "transcript": TRANSCRIPT},
            {"variant": "b", "case_id": "k1", "transcript": {"messages": TRANSCRIPT[:2] + [TRANSCRIPT[4]]}},
        ]  # fmt: skip
        file = tmp_path / "r.jsonl"
        file.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
        tb.ab.import_file("imp", file)
        tb.ab.add_result("imp", variant="a", transcript=TRANSCRIPT, success=False)
        rows = tb.export_dataset("imp", format="jsonl")["records"]
        assert [r["record"]["messages"] for r in rows] == [
            EXPORTED,
            [TRANSCRIPT[0], TRANSCRIPT[1], TRANSCRIPT[4]],
            EXPORTED,
        ]
        # the same transcript is one blob
        assert rows[0]["provenance"]["transcript_blob"] == rows[2]["provenance"]["transcript_blob"]
        passed = tb.export_dataset("imp", format="jsonl", passed_only=True)["records"]
        assert passed == []

    def test_a_canary_result_carries_a_transcript(
        self, invoke: Invoke, tb: Any, tmp_path: Path
    ) -> None:
        tb.canaries.create("router", control="v1", candidate="v2", stages=[10, 50, 100])
        file = tmp_path / "t.jsonl"  # JSONL: one message per line
        file.write_text("".join(json.dumps(m) + "\n" for m in TRANSCRIPT), encoding="utf-8")
        r = invoke("canary", "add-result", "router", "--variant", "v1", "--transcript", str(file))
        assert r.exit_code == 0, r.output
        (row,) = tb.export_dataset("canary:router", format="openai-chat")["records"]
        assert row["record"] == {"messages": EXPORTED}
        assert row["provenance"]["canary"] == "router"
        assert row["provenance"]["stage"] == 1

    def test_a_measured_session_records_its_transcript(self, tb: Any) -> None:
        tb.ab.create("live", variants=["a", "b"])
        with tb.ab.session("live", variant="a", case_id="k9") as s:
            s.tool_call(ok=True)
            s.transcript(TRANSCRIPT)
        tb.canaries.create("live-c", control="a", candidate="b", stages=[50, 100])
        with tb.canary("live-c").session("u1") as cs:
            cs.transcript(TRANSCRIPT[:2] + [TRANSCRIPT[4]])
        (row,) = tb.export_dataset("ab:live", format="jsonl")["records"]
        assert row["record"]["messages"] == EXPORTED
        assert row["record"]["result"]["tool_calls"] == 1
        (row,) = tb.export_dataset("live-c", format="jsonl")["records"]
        assert row["record"]["messages"] == [TRANSCRIPT[0], TRANSCRIPT[1], TRANSCRIPT[4]]
        assert row["provenance"]["unit_id"] == "u1"

    @pytest.mark.parametrize(
        ("transcript", "message"),
        [
            ("[]", "--transcript {file}: is empty; give at least one message"),
            ('"hello"', "--transcript {file}: expected a list of chat messages"),
            ('{"role": "user"}', '--transcript {file}: message 1: needs "content" as text'),
            (
                '[{"role": "robot", "content": "x"}]',
                "--transcript {file}: message 1: role: Input should be 'system', 'developer', "
                "'user', 'assistant' or 'tool'",
            ),
            (
                '[{"role": "tool", "content": "x"}]',
                '--transcript {file}: message 1: a tool message needs "tool_call_id", the call it answers',
            ),
            ("[{", "--transcript {file}: not valid JSON"),
        ],
    )
    def test_a_bad_transcript_is_one_line_and_records_nothing(
        self,
        invoke: Invoke,
        db_path: Path,
        tmp_path: Path,
        transcript: str,
        message: str,
    ) -> None:
        assert invoke("ab", "create", "bad", "--variants", "a,b").exit_code == 0
        before, blobs = count_events(db_path), _blobs(db_path)
        file = tmp_path / "t.json"
        file.write_text(transcript, encoding="utf-8")
        got = _error(invoke, "ab", "add-result", "bad", "--variant", "a", "--transcript", str(file))
        assert got.startswith(message.format(file=file)), got
        assert (count_events(db_path), _blobs(db_path)) == (before, blobs)

    def test_a_refused_result_leaves_no_blob_behind(self, tb: Any, db_path: Path) -> None:
        tb.ab.create("gone", variants=["a", "b"])
        before, blobs = count_events(db_path), _blobs(db_path)
        with pytest.raises(trialbook.InvalidCommand, match="variant 'zz' is not in test"):
            tb.ab.add_result("gone", variant="zz", transcript=TRANSCRIPT)
        assert (count_events(db_path), _blobs(db_path)) == (before, blobs)

    def test_a_transcript_hash_cannot_be_given_directly(self, tb: Any) -> None:
        tb.ab.create("hash", variants=["a", "b"])
        with pytest.raises(trialbook.InvalidCommand, match="not transcript_blob"):
            tb.ab.add_results("hash", [{"variant": "a", "transcript_blob": "0" * 64}])


SCORES = [0.0, 0.1, 1 / 3, 0.5, 0.5, 0.7000000000000001, 0.7, 0.9999999999999999, 1.0, 2.5]


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A/B test ``graded``: one result with a transcript per score in :data:`SCORES`."""
    handle = trialbook.open(tmp_path_factory.mktemp("scored") / "t.db")
    handle.ab.create("graded", variants=["a", "b"])
    handle.ab.add_results(
        "graded",
        [
            {"variant": "ab"[i % 2], "score": x, "case_id": f"c{i}", "transcript": TRANSCRIPT}
            for i, x in enumerate(SCORES)
        ],
    )
    yield handle
    handle.close()


class TestMinScoreIsExact:
    """Thresholds drawn at, just below and just above recorded scores: kept iff score >= X."""

    @settings(max_examples=60, deadline=None)
    @given(
        st.one_of(
            st.sampled_from(SCORES),
            st.sampled_from(SCORES).map(lambda x: math.nextafter(x, -math.inf)),
            st.sampled_from(SCORES).map(lambda x: math.nextafter(x, math.inf)),
            st.floats(-1, 3, allow_nan=False),
        )
    )
    def test_keeps_exactly_the_results_scoring_at_least_x(self, scored: Any, x: float) -> None:
        rows = scored.export_dataset("graded", format="jsonl", min_score=x)["records"]
        got = sorted(r["provenance"]["case_id"] for r in rows)
        assert got == sorted(f"c{i}" for i, s in enumerate(SCORES) if s >= x)


# --------------------------------------------------------------------------- bad input


class TestBadInput:
    @pytest.fixture
    def test_db(self, tb: Any) -> str:
        tb.ab.create("t", variants=["a", "b"])
        tb.ab.add_result("t", variant="a", transcript=TRANSCRIPT)
        return "t"

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["nope", "--format", "jsonl"], "no eval run, A/B test or canary named 'nope'; see `trialbook eval list`, `trialbook ab list` or `trialbook canary list`"),
            (["eval:t", "--format", "jsonl"], "no eval run named 't'; see `trialbook eval list`"),
            (["t", "--format", "jsonl", "--split", "train=0.9,val=0.2"], "--split: the shares sum to 1.1, not 1; e.g. --split train=0.9,val=0.1"),
            (["t", "--format", "jsonl", "--split", "train=0.9,train=0.1"], "--split: 'train' is named twice; name each split once"),
            (["t", "--format", "jsonl", "--split", "train"], "--split: 'train' is not NAME=SHARE; write e.g. --split train=0.9,val=0.1"),
            (["t", "--format", "jsonl", "--split", "a=x,b=1"], "--split: a='x': the share is not a number"),
            (["t", "--format", "jsonl", "--seed", "3"], "--seed chooses how cases fall into splits; give --split too"),
            (["t", "--format", "jsonl", "--function", "qa"], "--function names tensorzero datapoints; drop it, or give --format tensorzero (not jsonl)"),
            (["t", "--format", "tensorzero", "--function", " "], "--function: the function name is empty; name the TensorZero function"),
            (["t", "--format", "jsonl", "--min-score", "0.5"], "--min-score needs scores, and A/B test 't' has none; record results with --score or --metric"),
            (["t", "--format", "jsonl", "--scorer", "judge"], "--scorer: A/B test 't' has no scores named 'judge' (its scores: none)"),
        ],
    )  # fmt: skip
    def test_is_one_line_with_nothing_written(
        self,
        invoke: Invoke,
        tb: Any,
        test_db: str,
        db_path: Path,
        tmp_path: Path,
        args: list[str],
        message: str,
    ) -> None:
        before = count_events(db_path)
        out = tmp_path / "out.jsonl"
        assert _error(invoke, "export", "dataset", *args, "-o", str(out)) == message
        assert list(tmp_path.glob("out*")) == []
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
        assert count_events(db_path) == before
        options = dict(zip(args[1::2], args[2::2], strict=True))
        kwargs: dict[str, Any] = {"format": options.pop("--format")}
        for key, value in options.items():
            name = {"function": "function_name"}.get(
                n := key.removeprefix("--").replace("-", "_"), n
            )
            kwargs[name] = (
                float(value) if name == "min_score" else int(value) if name == "seed" else value
            )
        with pytest.raises(trialbook.TrialbookError) as e:
            tb.export_dataset(args[0], output=out, **kwargs)
        assert str(e.value) == message
        assert not out.exists()

    def test_a_bad_format_is_a_usage_error(self, invoke: Invoke, test_db: str, tb: Any) -> None:
        r = invoke("export", "dataset", "t", "--format", "csv")
        assert r.exit_code == 2
        assert "Invalid value for '--format'" in r.output
        with pytest.raises(trialbook.InvalidCommand, match="'csv' is not a dataset format"):
            tb.export_dataset("t", format="csv")

    def test_split_without_output_is_a_usage_error(self, invoke: Invoke, test_db: str) -> None:
        r = invoke("export", "dataset", "t", "--format", "jsonl", "--split", "a=0.5,b=0.5")
        assert r.exit_code == 2
        assert "--split needs --output FILE" in r.output

    def test_an_output_in_a_missing_directory_is_refused(
        self, invoke: Invoke, test_db: str, tmp_path: Path
    ) -> None:
        out = tmp_path / "no" / "such.jsonl"
        assert _error(invoke, "export", "dataset", "t", "--format", "jsonl", "-o", str(out)) == (
            f"--output: directory {out.parent} does not exist; create it first"
        )

    def test_an_output_that_is_the_database_is_refused(
        self, invoke: Invoke, tb: Any, test_db: str, db_path: Path
    ) -> None:
        before = count_events(db_path)
        for out in (db_path, db_path.with_name(db_path.name + "-wal")):
            message = (
                f"--output: {out} is the trialbook database (or its journal); name another file"
            )
            assert (
                _error(invoke, "export", "dataset", "t", "--format", "jsonl", "-o", str(out))
                == message
            )
            with pytest.raises(trialbook.InvalidCommand) as e:
                tb.export_dataset("t", format="jsonl", output=out)
            assert str(e.value) == message
        assert count_events(db_path) == before  # the log is still there, whole

    def test_an_output_that_is_a_pipe_is_written_to_not_replaced(
        self, invoke: Invoke, test_db: str, tmp_path: Path
    ) -> None:
        import os
        import stat
        import threading

        fifo = tmp_path / "pipe.jsonl"  # as -o /dev/stdout is: renaming over it replaced it
        os.mkfifo(fifo)
        got: list[str] = []
        reader = threading.Thread(target=lambda: got.append(fifo.read_text(encoding="utf-8")))
        reader.start()
        r = invoke("export", "dataset", "t", "--format", "jsonl", "-o", str(fifo))
        if reader.is_alive():  # the bug: nothing opened the pipe; unblock the reader
            with fifo.open("w"):
                pass
        reader.join(5)
        assert r.exit_code == 0, r.output
        assert stat.S_ISFIFO(fifo.stat().st_mode)
        assert [json.loads(line)["provenance"]["test"] for line in got[0].splitlines()] == ["t"]
        assert not list(tmp_path.glob(".pipe*"))  # no temp file left

    def test_a_missing_database_is_named_and_not_created(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        missing = tmp_path / "typo.db"
        r = invoke("export", "dataset", "t", "--format", "jsonl", db=missing)
        assert r.exit_code == 1
        assert r.output.startswith(f"Error: no trialbook database at {missing}")
        assert not missing.exists()

    def test_a_name_two_sources_share_must_be_chosen(self, tb: Any, test_db: str) -> None:
        tb.canaries.create("t", control="a", candidate="b", stages=[50, 100])
        with pytest.raises(trialbook.InvalidCommand) as e:
            tb.export_dataset("t")
        assert str(e.value) == "'t' names both ab:t and canary:t; write one of those to choose"
        assert len(tb.export_dataset("ab:t")["records"]) == 1


def test_a_transcript_larger_than_8_mib_is_refused_and_nothing_is_stored(
    tmp_path: Path, invoke: Invoke, db_path: Path
) -> None:
    # kept for ever in the result's transaction: a 60 MB pasted log grew the file by 60 MB
    invoke("ab", "create", "t")
    big = tmp_path / "big.json"
    big.write_text(json.dumps([{"role": "user", "content": "x" * (9 * 1024 * 1024)}]))
    r = invoke("ab", "add-result", "t", "--variant", "control", "--transcript", str(big))
    assert r.exit_code == 1
    assert r.output == (
        "Error: transcript: is 9.0 MiB; at most 8 MiB is stored: trim long tool outputs or "
        "keep the full log elsewhere\n"
    )
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == 0
    conn.close()
