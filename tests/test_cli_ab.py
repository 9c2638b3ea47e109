"""``trialbook ab`` end to end through the real CLI on real SQLite files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Invoke, count_events


def create(invoke: Invoke, name: str = "checkout-flow", *extra: str) -> None:
    r = invoke("ab", "create", name, "--variants", "cold,warm", *extra)
    assert r.exit_code == 0, r.output


class TestCreate:
    def test_create_prints_the_test_and_records_one_event(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        r = invoke("ab", "create", "checkout-flow", "--variants", "cold,warm")
        assert r.exit_code == 0
        assert (
            r.output
            == "Created A/B test checkout-flow with variants cold, warm (control: cold, metric: success).\n"
        )
        assert count_events(db_path) == 1

    def test_variants_default_to_control_and_treatment(self, invoke: Invoke) -> None:
        invoke("ab", "create", "t")
        (t,) = json.loads(invoke("ab", "list", "--json").output)
        assert t["variants"] == ["control", "treatment"] and t["control"] == "control"

    def test_control_option_picks_the_control(self, invoke: Invoke) -> None:
        invoke(
            "ab",
            "create",
            "t",
            "--variants",
            "a,b,c",
            "--control",
            "b",
            "--metric",
            "completion_time",
            "--guardrail",
            "cost:+5%",
            "--description",
            "desc",
            "--difficulty",
            "hard",
        )
        t = json.loads(invoke("ab", "show", "t", "--json").output)["test"]
        assert t["control"] == "b" and t["variants"] == ["a", "b", "c"]
        assert t["metric"] == "completion_time" and t["difficulty"] == "hard"
        assert t["guardrails"] == [{"metric": "cost", "limit": 0.05, "relative": True}]

    def test_a_metric_that_is_not_built_in_gets_a_note_with_the_close_name(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        r = invoke(
            "ab", "create", "t", "--variants", "a,b", "--metric", "sucess",
            "--guardrail", "latency:+10%",
        )  # fmt: skip
        assert r.exit_code == 0 and count_events(db_path) == 1
        assert r.stderr == (
            "Note: 'sucess' is not a built-in metric: its values come from results recorded with "
            "--metric sucess=VALUE; did you mean success?\n"
            "Note: 'latency' is not a built-in metric: its values come from results recorded with "
            "--metric latency=VALUE\n"
        )
        assert invoke("ab", "create", "u", "--metric", "tokens").stderr == ""
        # a test whose metric never gets values can still be concluded on another metric
        invoke("ab", "add-result", "t", "--variant", "a", "--success")
        assert invoke("ab", "conclude", "t", "--stop").exit_code == 1
        r = invoke("ab", "conclude", "t", "--stop", "--metric", "success")
        assert r.exit_code == 0 and r.output.startswith("Concluded t: stop without a choice")


class TestAddResult:
    def test_add_result_records_all_fields(self, invoke: Invoke) -> None:
        create(invoke)
        r = invoke(
            "ab",
            "add-result",
            "checkout-flow",
            "--variant",
            "warm",
            "--tool-calls",
            "12",
            "--successful-calls",
            "11",
            "--completion-time",
            "40",
            "--success",
            "--messages",
            "6",
            "--corrections",
            "1",
            "--tokens",
            "1500",
            "--cost",
            "0.03",
            "--score",
            "8.5",
            "--case-id",
            "c1",
            "--metric",
            "latency_p95=1.5",
            "--error",
            "timeout",
            "--notes",
            "hi",
        )
        assert r.exit_code == 0, r.output
        assert r.output.startswith("Recorded a result for variant warm of checkout-flow")
        (res,) = json.loads(invoke("ab", "show", "checkout-flow", "--json").output)["results"]
        assert res["variant"] == "warm" and res["success"] is True and res["tool_calls"] == 12
        assert (
            res["successful_calls"] == 11
            and res["completion_time"] == 40.0
            and res["case_id"] == "c1"
        )
        assert res["metrics"] == {"latency_p95": 1.5} and res["error_messages"] == ["timeout"]
        assert res["errors"] == 1 and res["notes"] == "hi" and res["session_id"]

    def test_session_ids_are_generated_unique(self, invoke: Invoke) -> None:
        create(invoke)
        for _ in range(3):
            invoke("ab", "add-result", "checkout-flow", "--variant", "cold")
        results = json.loads(invoke("ab", "show", "checkout-flow", "--json").output)["results"]
        assert len({r["session_id"] for r in results}) == 3

    def test_the_event_carries_who_and_what_command(self, invoke: Invoke) -> None:
        create(invoke)
        invoke("ab", "add-result", "checkout-flow", "--variant", "cold", "--failure")
        (e,) = json.loads(invoke("events", "log", "--type", "ResultAdded", "--json").output)
        assert e["metadata"]["actor"] == "tester@example"
        assert e["metadata"]["tier"] == "cli" and e["metadata"]["tool_version"]
        assert e["data"]["success"] is False and e["schema_version"] == 2


class TestSummary:
    def test_summary_matches_the_results(self, invoke: Invoke) -> None:
        create(invoke)
        rows = [
            ("cold", 10, 9, 30, True),
            ("cold", 10, 7, 50, False),
            ("warm", 12, 12, 20, True),
            ("warm", 8, 6, 25, True),
        ]
        for variant, calls, ok, secs, success in rows:
            invoke(
                "ab",
                "add-result",
                "checkout-flow",
                "--variant",
                variant,
                "--tool-calls",
                str(calls),
                "--successful-calls",
                str(ok),
                "--completion-time",
                str(secs),
                "--success" if success else "--failure",
                "--tokens",
                "100",
                "--cost",
                "0.5",
                "--messages",
                "3",
            )
        s = json.loads(invoke("ab", "summary", "checkout-flow", "--json").output)
        cold, warm = s["variants"]
        assert cold == {
            "variant": "cold",
            "control": True,
            "results": 2,
            "successes": 1,
            "success_known": 2,
            "success_rate": 0.5,
            "mean_error_rate": (0.1 + 0.3) / 2,
            "mean_tool_success_rate": (0.9 + 0.7) / 2,
            "mean_completion_time": 40.0,
            "mean_messages": 3.0,
            "total_tokens": 200,
            "total_cost": 1.0,
        }
        assert warm["successes"] == 2 and warm["success_rate"] == 1.0
        assert abs(warm["mean_error_rate"] - 0.125) < 1e-12
        assert abs(warm["mean_tool_success_rate"] - 0.875) < 1e-12
        text = invoke("ab", "summary", "checkout-flow").output
        assert "cold (control)" in text and "50.0%" in text and "100.0%" in text

    def test_summary_of_a_test_without_results(self, invoke: Invoke) -> None:
        create(invoke)
        s = json.loads(invoke("ab", "summary", "checkout-flow", "--json").output)
        assert [v["results"] for v in s["variants"]] == [0, 0]
        assert s["variants"][0]["success_rate"] is None


class TestImport:
    def test_import_appends_every_line_in_one_go(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        create(invoke)
        f = tmp_path / "r.jsonl"
        lines = [
            {
                "variant": "cold" if i % 2 else "warm",
                "tool_calls": 10,
                "successful_calls": 9,
                "success": True,
                "case_id": f"c{i // 2}",
                "completion_time": 30 + i,
            }
            for i in range(10)
        ]
        f.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
        r = invoke("ab", "import", "checkout-flow", str(f))
        assert r.exit_code == 0, r.output
        assert "Imported 10 results" in r.output
        assert count_events(db_path) == 11
        s = json.loads(invoke("ab", "summary", "checkout-flow", "--json").output)
        assert [v["results"] for v in s["variants"]] == [5, 5]

    def test_import_accepts_the_older_session_type_key(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        create(invoke)
        f = tmp_path / "r.jsonl"
        f.write_text('{"session_type": "warm", "success": true}\n')
        assert invoke("ab", "import", "checkout-flow", str(f)).exit_code == 0

    def test_import_reads_stdin(self, invoke: Invoke) -> None:
        create(invoke)
        r = invoke(
            "ab", "import", "checkout-flow", "-", input='{"variant": "cold"}\n{"variant": "warm"}\n'
        )
        assert r.exit_code == 0 and "Imported 2 results" in r.output
        r = invoke("ab", "import", "checkout-flow", "-", input='{"variant": "cold"}\n')
        assert r.output == "Imported 1 result into checkout-flow (event #4).\n"


class TestListArchiveRestore:
    def test_archive_hides_restore_brings_back_and_nothing_is_deleted(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        create(invoke, "a")
        create(invoke, "b")
        invoke("ab", "add-result", "a", "--variant", "cold")
        r = invoke("ab", "archive", "a", "--reason", "done")
        assert r.exit_code == 0 and "ab restore a" in r.output
        assert [t["name"] for t in json.loads(invoke("ab", "list", "--json").output)] == ["b"]
        everything = json.loads(invoke("ab", "list", "--all", "--json").output)
        assert [(t["name"], t["archived"]) for t in everything] == [("a", True), ("b", False)]
        assert "a (archived)" in invoke("ab", "list", "--all").output
        assert json.loads(invoke("ab", "show", "a", "--json").output)["results"]  # still readable
        assert invoke("ab", "restore", "a").exit_code == 0
        assert [t["name"] for t in json.loads(invoke("ab", "list", "--json").output)] == ["a", "b"]
        assert count_events(db_path) == 5

    def test_list_on_an_empty_database_says_how_to_start(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        import trialbook

        with trialbook.open(db_path):  # an empty log: a read never creates the file
            pass
        r = invoke("ab", "list")
        assert r.exit_code == 0 and "trialbook ab create" in r.output
        assert json.loads(invoke("ab", "list", "--json").output) == []

    def test_list_with_every_test_archived_points_to_all(self, invoke: Invoke) -> None:
        create(invoke, "a")
        invoke("ab", "archive", "a")
        r = invoke("ab", "list")
        assert (
            r.output == "No active A/B tests (1 archived: `trialbook ab list --all` shows them).\n"
        )

    def test_show_prints_definition_and_results(self, invoke: Invoke) -> None:
        create(invoke, "t", "--description", "Cold vs warm")
        invoke(
            "ab",
            "add-result",
            "t",
            "--variant",
            "warm",
            "--tool-calls",
            "3",
            "--successful-calls",
            "2",
        )
        out = invoke("ab", "show", "t").output
        assert "Cold vs warm" in out and "cold, warm (control: cold)" in out and "warm" in out
        assert "1 results" in out


class TestEventsAndProjections:
    def test_events_log_filters_and_limits(self, invoke: Invoke) -> None:
        create(invoke, "a")
        create(invoke, "b")
        for _ in range(3):
            invoke("ab", "add-result", "a", "--variant", "warm")
        log = json.loads(invoke("events", "log", "--json").output)
        assert [e["position"] for e in log] == [1, 2, 3, 4, 5]
        assert set(log[0]) >= {
            "position",
            "event_id",
            "stream_id",
            "version",
            "type",
            "data",
            "metadata",
            "recorded_at",
            "prev_hash",
            "hash",
        }
        only_a = json.loads(
            invoke("events", "log", "--stream", "ab:a", "--limit", "2", "--json").output
        )
        assert [e["position"] for e in only_a] == [4, 5]
        created = json.loads(invoke("events", "log", "--type", "TestCreated", "--json").output)
        assert [e["data"]["name"] for e in created] == ["a", "b"]
        assert "ResultAdded" in invoke("events", "log").output
        assert invoke("events", "log", "--type", "TestArchived").output == "No events match.\n"
        nope = invoke("events", "log", "--type", "Nope").output
        assert nope.startswith("Error: --type: no event type is called 'Nope'; one of: ")
        assert " ResultAdded, " in nope and "_Decision" not in nope

    def test_projections_rebuild_gives_the_same_answers(self, invoke: Invoke) -> None:
        create(invoke)
        for i in range(7):
            invoke(
                "ab",
                "add-result",
                "checkout-flow",
                "--variant",
                ["cold", "warm"][i % 2],
                "--tool-calls",
                "5",
                "--successful-calls",
                str(i % 5),
                "--completion-time",
                f"{i * 1.7}",
            )
        before = invoke("ab", "summary", "checkout-flow", "--json").output
        r = invoke("projections", "rebuild")
        assert r.exit_code == 0 and "Rebuilt ab: 8 events folded." in r.output
        assert invoke("ab", "summary", "checkout-flow", "--json").output == before


def test_demo_records_a_sample_test_in_its_own_file(
    invoke: Invoke, isolated_user_dirs: Path
) -> None:
    from click.testing import CliRunner

    from trialbook.shell.cli import cli

    r = CliRunner().invoke(cli, ["demo"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    demo_db = isolated_user_dirs / "data" / "trialbook" / "demo.db"
    assert demo_db.exists() and count_events(demo_db) == 132
    assert "cold (control)" in r.output and "warm" in r.output
    assert "Recorded a sample eval run" in r.output  # 81 A/B events + a 12-case x 2-epoch eval run
    assert not (isolated_user_dirs / "data" / "trialbook" / "trialbook.db").exists()
    # running it again starts from a fresh file
    again = CliRunner().invoke(cli, ["demo"], catch_exceptions=False)
    assert again.exit_code == 0 and count_events(demo_db) == 132


def test_demo_leaves_the_database_named_by_trialbook_db_alone(
    isolated_user_dirs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from trialbook.shell.cli import cli

    main = tmp_path / "main.db"
    monkeypatch.setenv("TRIALBOOK_DB", str(main))
    r = CliRunner().invoke(cli, ["demo", "--no-eval"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert not main.exists()
    assert count_events(isolated_user_dirs / "data" / "trialbook" / "demo.db") == 81


def test_demo_refuses_a_database_that_already_has_events(invoke: Invoke, db_path: Path) -> None:
    create(invoke)
    r = invoke("demo")
    assert r.exit_code == 1 and "needs a fresh file" in r.output
    assert count_events(db_path) == 1


def test_secrets_typed_into_a_command_line_are_not_recorded(invoke: Invoke) -> None:
    from trialbook.shell.app import redact_secrets

    assert redact_secrets("run --target http://me:hunter2@host/x?api_key=sk-1&n=2") == (
        "run --target http://me:<redacted>@host/x?api_key=<redacted>&n=2"
    )
    assert redact_secrets("OPENAI_API_KEY=sk-1 monkey=3 token=t") == (
        "OPENAI_API_KEY=<redacted> monkey=3 token=<redacted>"
    )
    create(invoke)
    invoke(
        "ab",
        "add-result",
        "checkout-flow",
        "--variant",
        "warm",
        "--notes",
        "see http://u:pw@h/?token=zz",
    )
    (e,) = json.loads(invoke("events", "log", "--type", "ResultAdded", "--json").output)
    assert "pw" not in e["metadata"]["command"] and "zz" not in e["metadata"]["command"]


class TestTaskDefinition:
    """``--expected-tools`` and ``--success-criteria``, as the warm-session framework's task has."""

    def test_create_keeps_them_and_show_prints_them(self, invoke: Invoke, db_path: Path) -> None:
        create(invoke, "t", "--expected-tools", "search, read_file",
               "--success-criteria", "finds the bug", "--success-criteria", "under 5 calls")  # fmt: skip
        assert count_events(db_path) == 1
        test = json.loads(invoke("ab", "show", "t", "--json").output)["test"]
        assert test["expected_tools"] == ["search", "read_file"]
        assert test["success_criteria"] == ["finds the bug", "under 5 calls"]
        out = invoke("ab", "show", "t").output
        assert "tools        search, read_file\n" in out
        assert "criteria     - finds the bug\n             - under 5 calls\n" in out

    def test_absent_they_stay_none_and_show_omits_them(self, invoke: Invoke) -> None:
        create(invoke, "t")
        test = json.loads(invoke("ab", "show", "t", "--json").output)["test"]
        assert test["expected_tools"] is None and test["success_criteria"] is None
        out = invoke("ab", "show", "t").output
        assert "tools" not in out and "criteria" not in out

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("--expected-tools", "a,,b"), "Error: expected_tools: item 2 of 3 is empty"),
            (("--expected-tools", ""), "Error: expected_tools: item 1 of 1 is empty"),
            (("--success-criteria", " "), "Error: success_criteria: item 1 of 1 is empty"),
        ],
    )
    def test_an_empty_item_is_one_line_error_and_nothing_recorded(
        self, invoke: Invoke, db_path: Path, args: tuple[str, ...], message: str
    ) -> None:
        r = invoke("ab", "create", "t", "--variants", "cold,warm", *args)
        assert r.exit_code != 0
        assert r.output.startswith(message) and r.output.count("\n") == 1, r.output
        assert count_events(db_path) == 0
