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
    sch = {"properties": {"a": {"items": {"if": {}, "then": {}}}}, "$defs": {"b": {"allOf": []}}}
    assert unsupported(sch) == {"if", "then", "allOf"}


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
