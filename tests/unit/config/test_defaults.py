"""defaults.apply fills in a value's defaults from the one branch of a oneOf that holds, whatever tells them apart."""

from __future__ import annotations

from typing import Any

from ml_ci.config import defaults

SHAPES: dict[str, Any] = {
    "additionalProperties": {
        "oneOf": [
            {"properties": {"kind": {"const": "circle"}, "radius": {"default": 1}}, "required": ["kind"]},
            {"properties": {"kind": {"const": "square"}, "side": {"default": 2}}, "required": ["kind"]},
        ]
    }
}


def test_the_branch_that_holds_gives_the_defaults() -> None:
    assert defaults.apply(SHAPES, {"a": {"kind": "square"}, "b": {"kind": "circle"}}) == {
        "a": {"kind": "square", "side": 2},
        "b": {"kind": "circle", "radius": 1},
    }
