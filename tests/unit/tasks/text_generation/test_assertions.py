"""The prompt set's assertions: each type on an output that passes and one that fails, each negated, the reasons
in words, and the values refused when the file is read."""

from __future__ import annotations

from typing import Any

import pytest

from ml_ci.tasks.text_generation import assertions
from ml_ci.tasks.text_generation.config import ASSERTIONS


def judge(kind: str, value: Any, output: str) -> assertions.Result:
    raw = {"type": kind} if value is None else {"type": kind, "value": value}
    return assertions.check(assertions.parse(raw), output)


def test_the_types_are_the_config_halfs() -> None:
    assert assertions.TYPES == ASSERTIONS


@pytest.mark.parametrize(
    ("kind", "value", "passing", "failing", "reason"),
    [
        ("equals", "Paris", "Paris", "Paris.", "output is 'Paris.', not 'Paris'"),
        ("contains", "Paris", "It is Paris.", "It is paris.", "output does not contain 'Paris'"),
        ("icontains", "PARIS", "It is paris.", "It is Rome.", "output does not contain 'PARIS' (ignoring case)"),
        ("regex", r"\d{3}-\d{4}", "call 555-1234 now", "call 5551234", r"output has no match of /\d{3}-\d{4}/"),
        ("is-json", None, ' {"a": 1}\n', "{'a': 1}", "output not JSON (Expecting property name enclosed in double quotes"),
        ("max-length", 5, "12345", "123456", "output 6 characters, more than 5"),
    ],
)
def test_each_type_passes_fails_and_negates(kind: str, value: Any, passing: str, failing: str, reason: str) -> None:
    good, bad = judge(kind, value, passing), judge(kind, value, failing)
    assert (good.passed, bad.passed) == (True, False)
    assert bad.reason.startswith(reason)
    negated_good, negated_bad = judge("not-" + kind, value, passing), judge("not-" + kind, value, failing)
    assert (negated_good.passed, negated_bad.passed) == (False, True)
    # The reason says what the output is, so a failed negation reads as naturally as a failed assertion.
    assert negated_good.reason == good.reason and negated_good.type == "not-" + kind


def test_the_reasons_of_holding_assertions() -> None:
    assert judge("not-contains", "London", "London calling").reason == "output contains 'London'"
    assert judge("regex", "[0-9]+", "abc 42").reason == "output matches /[0-9]+/ at '42'"
    assert judge("max-length", 10, "abc").reason == "output 3 characters (at most 10)"


def test_is_json_with_a_schema_names_what_does_not_match() -> None:
    schema = {"type": "object", "required": ["result"], "properties": {"result": {"type": "integer"}}}
    assert judge("is-json", schema, '{"result": 4}').passed
    wrong = judge("is-json", schema, '{"result": "four"}')
    assert not wrong.passed
    assert wrong.reason == "output JSON that does not match the schema: 'four' is not of type 'integer' (at result)"
    missing = judge("is-json", schema, "{}")
    assert missing.reason == "output JSON that does not match the schema: 'result' is a required property (at the root)"
    assert judge("not-is-json", schema, "{}").passed


def test_a_long_output_is_quoted_cut() -> None:
    reason = judge("equals", "x", "y" * 500).reason
    assert len(reason) < 100 and reason.endswith("…', not 'x'")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"type": "contain", "value": "a"},
            "unknown assertion type 'contain' (one of equals, contains, icontains, regex, "
            "is-json, max-length, each negatable with a `not-` prefix); did you mean 'contains'?",
        ),
        ({"type": "not-regx", "value": "a"}, "did you mean 'not-regex'?"),
        ({"type": "contains"}, "contains needs a `value` that is a non-empty string, not None"),
        ({"type": "contains", "value": ""}, "contains needs a `value` that is a non-empty string, not ''"),
        ({"type": "equals", "value": 4}, "equals needs a `value` that is a non-empty string, not 4"),
        (
            {"type": "regex", "value": "(unclosed"},
            "regex: '(unclosed' is not a valid regular expression: missing ), unterminated subpattern at position 0",
        ),
        ({"type": "is-json", "value": {"type": "objekt"}}, "the is-json value is not a valid JSON Schema: 'objekt' is not valid"),
        ({"type": "is-json", "value": "object"}, "an is-json value is a JSON Schema (an object), not str"),
        (
            {"type": "max-length", "value": -1},
            "max-length needs a `value` that is a number of characters (an integer >= 0), not -1",
        ),
        ({"type": "max-length", "value": True}, "not True"),
        ({"type": "contains", "value": "a", "weight": 2}, "an assertion has only `type` and `value`, not 'weight'"),
        ({"value": "a"}, "an assertion needs a `type` (a string)"),
        ("contains", "an assertion is an object with `type` (and `value`), not str"),
    ],
)
def test_bad_assertions_are_refused_saying_why(raw: Any, message: str) -> None:
    with pytest.raises(ValueError) as e:
        assertions.parse(raw)
    assert message in str(e.value)
