"""Parsing suite files into cases, and the suite content hash."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from trialbook.domain.suites import (
    Case,
    SuiteFileError,
    detect_format,
    parse_json,
    parse_jsonl,
    parse_suite,
    parse_yaml,
    suite_hash,
    suite_name_from_filename,
)

JSONL = """\
{"id": "q1", "input": "What is 2+2?", "expected": "4", "criteria": ["answers 4"], "metadata": {"topic": "math"}}

# a comment line
{"id": 2, "input": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}
"""


def error_of(fn, *args, **kw) -> str:
    with pytest.raises(SuiteFileError) as e:
        fn(*args, **kw)
    return str(e.value)


class TestJsonl:
    def test_parses_string_and_chat_inputs_skipping_blank_and_comment_lines(self):
        cases = parse_jsonl(JSONL)
        assert [c.id for c in cases] == ["q1", "2"]
        assert cases[0].input == "What is 2+2?"
        assert cases[0].criteria == ("answers 4",)
        assert cases[0].metadata == {"topic": "math"}
        assert cases[1].messages() == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ]
        assert cases[1].text == "Hi"

    def test_invalid_json_names_the_line(self):
        msg = error_of(
            parse_jsonl, '{"id": "a", "input": "x"}\n{"id": "b", "input": }\n', filename="s.jsonl"
        )
        assert msg.startswith("s.jsonl line 2: not valid JSON")
        assert "one complete JSON object" in msg

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ('{"input": "x"}', 'line 1: the case has no "id"; add one'),
            ('{"id": "a"}', 'line 1: the case has no "input"; add one'),
            ('{"id": "a", "input": ""}', "line 1: input: is empty"),
            ('{"id": "a", "input": 3}', "line 1: input: must be a string or a list"),
            (
                '{"id": "a", "input": [{"role": "bot", "content": "x"}]}',
                "message 1 has role 'bot'; use one of",
            ),
            ('{"id": "a", "input": [{"role": "user"}]}', 'message 1 needs "content" as a string'),
            ('{"id": "a", "input": "x", "answer": "y"}', "unknown field 'answer'"),
            ('{"id": true, "input": "x"}', "id: must be a string, not bool"),
            ('{"id": "a", "input": "x", "expected": NaN}', "NaN is not allowed"),
            ('["a", "x"]', "a case must be an object"),
        ],
    )
    def test_bad_cases_name_the_line_and_the_fix(self, line, expected):
        assert expected in error_of(parse_jsonl, line)

    def test_unknown_fields_point_to_metadata(self):
        assert 'put anything else under "metadata"' in error_of(
            parse_jsonl, '{"id": "a", "input": "x", "k": 1}'
        )

    def test_duplicate_case_ids_are_refused_naming_both_lines(self):
        text = '{"id": "a", "input": "x"}\n{"id": "b", "input": "y"}\n{"id": "a", "input": "z"}\n'
        msg = error_of(parse_jsonl, text, filename="s.jsonl")
        assert (
            msg == "s.jsonl line 3: case id 'a' is already used (line 1); case ids must be unique"
        )

    def test_an_empty_suite_is_refused(self):
        assert "has no cases" in error_of(parse_jsonl, "\n\n# nothing\n")


class TestYamlAndJson:
    def test_yaml_list_and_cases_mapping_give_the_same_cases(self):
        listed = "- id: a\n  input: hello\n- id: b\n  input: bye\n  criteria: polite\n"
        mapped = "name: greetings\ncases:\n" + "".join(
            "  " + line + "\n" for line in listed.splitlines()
        )
        assert parse_yaml(listed) == parse_yaml(mapped)
        assert parse_yaml(listed)[1].criteria == ("polite",)

    def test_yaml_errors_name_the_case_index_and_line(self):
        text = "cases:\n  - id: a\n    input: hi\n  - id: b\n    input:\n      - role: user\n        content: 5\n"
        msg = error_of(parse_yaml, text, filename="s.yaml")
        assert msg.startswith("s.yaml case 2 (line 4): input: message 1 needs")

    def test_yaml_syntax_errors_name_the_line(self):
        msg = error_of(parse_yaml, "- id: a\n  input: [unclosed\n", filename="s.yaml")
        assert msg.startswith("s.yaml line 3: not valid YAML")

    def test_yaml_duplicate_ids_are_refused(self):
        msg = error_of(parse_yaml, "- {id: a, input: x}\n- {id: a, input: y}\n", filename="s.yaml")
        assert "case id 'a' is already used (case 1 (line 1))" in msg

    def test_a_mapping_without_cases_says_what_was_found(self):
        assert "found a mapping with keys name" in error_of(parse_yaml, "name: x\n")

    def test_json_array(self):
        cases = parse_json('[{"id": "a", "input": "x"}, {"id": "b", "input": "y"}]')
        assert [c.id for c in cases] == ["a", "b"]

    def test_format_comes_from_the_suffix(self):
        assert detect_format("evals/x.JSONL") == "jsonl"
        assert detect_format("x.yml") == "yaml"
        assert "name it .jsonl, .yaml/.yml or .json" in error_of(detect_format, "cases.txt")
        assert parse_suite("- {id: a, input: x}", filename="s.yaml")[0].id == "a"

    def test_suite_names_from_file_names(self):
        assert suite_name_from_filename("evals/Math QA.v2.jsonl") == "math-qa.v2"
        assert "pass one with --name" in error_of(suite_name_from_filename, "___.jsonl")


class TestHash:
    def test_the_hash_ignores_format_key_order_and_whitespace(self):
        jsonl = '{"input": "x", "id": "a", "metadata": {"b": 1, "a": 2}}\n{"id":"b","input":"y"}'
        yml = "- id: a\n  metadata: {a: 2, b: 1}\n  input: x\n- id: b\n  input: y\n"
        assert suite_hash(parse_jsonl(jsonl)) == suite_hash(parse_yaml(yml))

    def test_the_hash_changes_with_content_and_order(self):
        base = parse_jsonl('{"id": "a", "input": "x"}\n{"id": "b", "input": "y"}')
        changed = parse_jsonl('{"id": "a", "input": "x!"}\n{"id": "b", "input": "y"}')
        swapped = parse_jsonl('{"id": "b", "input": "y"}\n{"id": "a", "input": "x"}')
        assert len({suite_hash(base), suite_hash(changed), suite_hash(swapped)}) == 3

    def test_defaults_are_left_out_of_the_hashed_form(self):
        assert Case(id="a", input="x").to_data() == {"id": "a", "input": "x"}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
case_dicts = st.fixed_dictionaries(
    {"input": st.text(min_size=1, max_size=20).filter(str.strip)},
    optional={
        "expected": json_values,
        "criteria": st.lists(st.text(max_size=10), max_size=3),
        "metadata": st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    },
)


@settings(max_examples=60, deadline=None)
@given(st.lists(case_dicts, min_size=1, max_size=5))
def test_jsonl_and_yaml_round_trips_keep_cases_and_hash(raw_cases):
    raw = [{"id": f"c{i}", **c} for i, c in enumerate(raw_cases)]
    cases = parse_jsonl("\n".join(json.dumps(c) for c in raw))
    again = parse_jsonl("\n".join(json.dumps(c.to_data(), sort_keys=True) for c in cases))
    assert again == cases
    assert suite_hash(again) == suite_hash(cases)
    from_yaml = parse_yaml(yaml.safe_dump([c.to_data() for c in cases]))
    assert suite_hash(from_yaml) == suite_hash(cases)
