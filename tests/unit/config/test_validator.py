"""ml_ci.config.validator against jsonschema, the reference implementation of JSON Schema 2020-12.

jsonschema checks `pattern` with Python's re, where `$` also matches before a final newline; JSON Schema
says patterns are ECMA-262, as check-jsonschema (through regress, a Rust ECMA-262 engine) and editors read
them. The reference here is jsonschema with regress for `pattern`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import regress

from ml_ci.config.validator import SchemaError, ecma_to_python, iter_errors, unsupported
from ml_ci.config.yamlfile import load
from ml_ci.errors import ConfigError
from ml_ci.resources import schema

CASES = sorted((Path(__file__).parent / "cases").glob("*/*.yaml"))
# Deliberate: "integer" means an int here, while jsonschema also takes 16.0 (see validator.py).
DIFFERENT_ON_PURPOSE = ["wrong_type_whole_float_for_integer.yaml"]


def _errors(instance: Any, sch: dict[str, Any]) -> list[SchemaError]:
    return list(iter_errors(instance, sch))


def _ecma_pattern(validator: Any, pattern: str, instance: Any, sch: Any) -> Iterator[jsonschema.ValidationError]:
    if validator.is_type(instance, "string") and regress.Regex(pattern).find(instance) is None:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


# JSON Schema 2020-12 as check-jsonschema applies it: patterns are ECMA-262.
EcmaValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _ecma_pattern})


def _patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield node["pattern"]
        for value in node.values():
            yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


# Values around each pattern's edges: final newlines and other line terminators, empty text, git's ref rules.
PROBES = [
    "demo",
    "demo\n",
    "demo\r",
    "\ndemo",
    "de\nmo",
    "demo\u2028",
    "3.11",
    "3.11\n",
    "main",
    "main\n",
    "--orphan",
    "a..b",
    "a/.b",
    "x.lock",
    "a/",
    "HEAD",
    "a//b",
    "a.",
    "acme/demo",
    "ghcr.io:443",
    "500m",
    "1Gi\n",
    "https://x.io",
    "https://x.io\n",
    "GITOPS_TOKEN",
    "GITOPS_TOKEN\n",
    "apps/demo",
    "../x",
    "data/train.csv",
    "data/train.csv\n",
    "/abs",
    "~/x",
    "file://x",
    "",
    "x\u00e9",
    "0.1.0",
    "0.1.0\n",
]


def test_every_schema_pattern_has_its_ecma_262_meaning() -> None:
    """A value that ends in a newline (or holds another line terminator) is judged as editors judge it."""
    patterns = sorted(set(_patterns(schema())))
    assert len(patterns) >= 15
    disagree = [
        (p, v) for p in patterns for v in PROBES if (regress.Regex(p).find(v) is None) != bool(_errors(v, {"pattern": p}))
    ]
    assert disagree == []


@pytest.mark.parametrize(
    ("pattern", "python"),
    [
        ("^a$", "^a\\Z"),
        ("^[$.]+$", "^[$.]+\\Z"),  # inside a class, '$' and '.' are themselves
        ("^a\\$b\\.$", "^a\\$b\\.\\Z"),  # escaped, too
        ("^(?!.*x)", "^(?![^\\n\\r\\u2028\\u2029]*x)"),
    ],
)
def test_ecma_to_python(pattern: str, python: str) -> None:
    assert ecma_to_python(pattern) == python


def test_schema_is_valid_draft_2020_12_and_uses_only_supported_keywords() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert unsupported(schema()) == set()


def test_unsupported_keywords_are_found_at_any_depth() -> None:
    sch = {
        "properties": {"a": {"items": {"anyOf": [], "then": {"not": {"contains": {}}}}}},
        "$defs": {"b": {"allOf": [{"if": {"dependentRequired": {}}}]}},
    }
    assert unsupported(sch) == {"anyOf", "contains", "dependentRequired"}


def test_agrees_with_jsonschema_on_every_example() -> None:
    reference = EcmaValidator(schema())
    checked, disagree = 0, []
    for case in CASES:
        try:
            data = load(case.read_bytes()).data
        except ConfigError:
            continue  # not loadable YAML: the schema is never reached
        checked += 1
        if (not _errors(data, schema())) != reference.is_valid(data):
            disagree.append(case.name)
    assert disagree == DIFFERENT_ON_PURPOSE
    assert checked >= 60


@pytest.mark.parametrize(
    ("instance", "sch", "valid"),
    [
        (True, {"type": "integer"}, False),  # a bool is not a number in JSON
        (True, {"type": "number"}, False),
        (16.0, {"type": "integer"}, False),  # stricter than jsonschema: the typed Config holds an int
        (3, {"type": "number"}, True),
        (True, {"enum": [1]}, False),
        (1, {"enum": [1.0]}, True),
        ([1, True], {"uniqueItems": True}, True),
        ([1, 1.0], {"uniqueItems": True}, False),
        (0, {"exclusiveMinimum": 0}, False),
        (0, {"minimum": 0}, True),
        ("ab", {"pattern": "b"}, True),  # search, not match, as JSON Schema says
        ("ab\n", {"pattern": "^ab$"}, False),  # ECMA-262's `$` is the end, not "before a final newline"
        ("a\rb", {"pattern": "^a.b$"}, False),  # ECMA-262's `.` stops at every line terminator
        ("héllo", {"maxLength": 5}, True),  # characters, not bytes
        ({"a": 1}, {"propertyNames": {"enum": ["b"]}}, False),
        ({"a": 1}, {"additionalProperties": {"type": "string"}}, False),
        (5, {"oneOf": [{"type": "integer"}, {"type": "number"}]}, False),  # both match: oneOf fails
        (5.5, {"oneOf": [{"type": "integer"}, {"type": "number"}]}, True),
    ],
)
def test_keywords(instance: Any, sch: dict[str, Any], valid: bool) -> None:
    assert (not _errors(instance, sch)) == valid


def test_errors_carry_path_keyword_and_value() -> None:
    sch = {
        "$defs": {"n": {"type": "integer", "minimum": 1}},
        "properties": {"a": {"items": {"$ref": "#/$defs/n"}}},
        "required": ["b"],
        "additionalProperties": False,
    }
    errors = _errors({"a": [1, 0], "c": 1}, sch)
    assert [(e.path, e.keyword, e.expected, e.instance) for e in errors] == [
        ((), "required", "b", {"a": [1, 0], "c": 1}),
        (("a", 1), "minimum", 1, 0),
        (("c",), "additionalProperties", False, "c"),
    ]


def test_only_local_references() -> None:
    with pytest.raises(ValueError, match="only local references"):
        _errors(1, {"$ref": "https://example.com/s.json"})


# The keywords the task branches use (ml_ci.config.by_task): allOf, if/then/else, const and not.
BY_TASK: dict[str, Any] = {
    "properties": {"kind": {"type": "string"}, "size": {}},
    "allOf": [
        {"if": {"properties": {"kind": {"const": "a"}}}, "then": {"properties": {"size": {"type": "integer"}}}},
        {
            "if": {"properties": {"kind": {"const": "b"}}, "required": ["kind"]},
            "then": {"properties": {"size": {"description": "a key of kind a, not of b", "not": {}}}},
            "else": {"required": ["size"]},
        },
    ],
}


@pytest.mark.parametrize(
    ("instance", "sch", "valid"),
    [
        (1, {"const": 1}, True),
        (True, {"const": 1}, False),  # JSON equality: true is not 1
        ("b", {"const": "a"}, False),
        ({"kind": "a", "size": 2}, BY_TASK, True),
        ({"kind": "a", "size": "big"}, BY_TASK, False),  # then: a's size is an integer
        ({"size": "big"}, BY_TASK, False),  # `properties` holds without the key: the first branch applies
        ({"kind": "b"}, BY_TASK, True),  # b's branch: size is not required
        ({"kind": "b", "size": 2}, BY_TASK, False),  # ... and not allowed
        ({"kind": "c"}, BY_TASK, False),  # else: size is required
        (5, {"not": {"type": "string"}}, True),
        ("x", {"not": {"type": "string"}}, False),
    ],
)
def test_branch_keywords(instance: Any, sch: dict[str, Any], valid: bool) -> None:
    assert (not _errors(instance, sch)) == valid
    assert EcmaValidator(sch).is_valid(instance) == valid  # as the reference reads them


def _messages(text: str, sch: dict[str, Any]) -> list[str]:
    from ml_ci.config.schema_errors import messages

    doc = load(text.encode(), "ml.yaml")
    return [str(p) for err in iter_errors(doc.data, sch) for p in messages(err, doc, sch)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: a\nsize: big\n", "ml.yaml:2:7: size: 'big' is not an integer"),
        ("kind: b\nsize: 2\n", "ml.yaml:2:1: size: a key of kind a, not of b"),
        ("kind: c\n", "ml.yaml:1:1: missing required key 'size'"),
        ("kind: c\nsize: 1\nconst: 2\n", "ml.yaml:3:8: const: 2 must be 3"),
    ],
)
def test_branch_messages_name_the_path(text: str, expected: str) -> None:
    sch = {**BY_TASK, "properties": {**BY_TASK["properties"], "const": {"const": 3}}}
    assert _messages(text, sch) == [expected]
