"""Fill in the schema's defaults, so that the typed model never repeats them.

Applied to data that passed the schema, and to the schema as it applies to the file's task
(by_task.effective: no `if`/`then` left), so each value has one schema to take its defaults from."""

from __future__ import annotations

import copy
from typing import Any

from ml_ci.config.validator import is_valid


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        target = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def apply(schema: dict[str, Any], value: Any, root: dict[str, Any] | None = None) -> Any:
    """A copy of value with every missing property that has a default filled in, recursively."""
    root = root or schema
    schema = _resolve(schema, root)
    if isinstance(value, dict):
        if "oneOf" in schema:  # the value passed the schema, so exactly one branch holds: its defaults apply
            for branch in schema["oneOf"]:
                if is_valid(value, branch, root):
                    return apply(branch, value, root)
            return value
        out = dict(value)
        props = schema.get("properties", {})
        for key, sub in props.items():
            sub_r = _resolve(sub, root)
            if key not in out and "default" in sub_r:
                out[key] = copy.deepcopy(sub_r["default"])
            if key in out:
                out[key] = apply(sub_r, out[key], root)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in out:
                if key not in props:
                    out[key] = apply(extra, out[key], root)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply(schema["items"], v, root) for v in value]
    return value
