"""The emitter's output reads back as exactly the data that was dumped."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from ml_ci.generate.yamlout import Commented, Value, dump, scalar

TRICKY = [
    "on",
    "yes",
    "No",
    "off",
    "null",
    "~",
    "3.10",
    "1e3",
    "0x1f",
    "012",
    "true",
    "",
    " lead",
    "trail ",
    "a: b",
    "a #b",
    "#x",
    "-x",
    "*alias",
    "&anchor",
    "!tag",
    "%x",
    "@x",
    "`x`",
    "'q'",
    '"dq"',
    "x:",
    "${{ github.ref }}",
    "$(touch /tmp/x)",
    "a\tb",
    "ünïcode",
    "[x]",
    "{x}",
    "a,b",
    "\\back",
    "?x",
    "|x",
    ">x",
]


@pytest.mark.parametrize("text", TRICKY)
def test_scalars_read_back_as_the_same_string(text: str) -> None:
    assert yaml.safe_load(f"k: {scalar(text)}\n") == {"k": text}


def strip(value: Any) -> Any:
    if isinstance(value, Commented):
        return list(value.value) if isinstance(value.value, tuple) else value.value
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strip(v) for v in value]
    return value


def test_document_round_trip_keeps_order_and_values() -> None:
    doc: dict[str, Value] = {
        "name": "x",
        "on": {"push": {"branches": ["main", "release/*"]}},
        "permissions": {},
        "jobs": {
            "b": {
                "runs-on": Commented(("self-hosted", "a,b"), "why"),
                "steps": [
                    {"uses": Commented("o/r@" + "a" * 40, "v1"), "with": {"n": 1, "f": False, "t": "3.11"}},
                    {"run": 'set -eu\necho "$X"\n\nexit 0\n', "env": {"X": "${{ inputs.x }}"}},
                    {"run": "no newline at end"},
                    {"run": "  indented first\n"},
                    {"run": "trailing space \n"},
                    "plain",
                    [],
                    {},
                ],
            },
            "a": {"if": "${{ !cancelled() }}"},
        },
    }
    text = dump(doc)
    assert yaml.safe_load(text) == strip(doc)
    assert list(yaml.safe_load(text)["jobs"]) == ["b", "a"]
    assert '\n"on":\n' in text
    assert 'runs-on: [self-hosted, "a,b"] # why' in text
    assert "      - run: |\n          set -eu\n" in text


def test_nested_sequences_are_refused() -> None:
    with pytest.raises(ValueError):
        dump({"a": [[1, 2]]})
