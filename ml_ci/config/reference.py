"""Render the ml.yaml reference (docs/ml-yaml.md) from the schema, so the docs cannot drift."""

from __future__ import annotations

import json
from typing import Any

from ml_ci.config.defaults import _resolve


def _type(s: dict[str, Any]) -> str:
    if "enum" in s:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in s["enum"])
    if "oneOf" in s:
        return "one of: " + ", ".join(b["properties"]["type"]["enum"][0] for b in s["oneOf"])
    t = s.get("type", "any")
    if t == "array" and "items" in s:
        return f"list of {_type(s['items']) if 'enum' not in s['items'] else 'values: ' + _type(s['items'])}"
    return " or ".join(t) if isinstance(t, list) else str(t)


def _limits(s: dict[str, Any]) -> str:
    bits = []
    for key, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"),
                      ("minItems", "items >="), ("minLength", "length >="), ("maxLength", "length <=")):
        if key in s:
            bits.append(f"{word} {s[key]}")
    if "pattern" in s:
        bits.append(f"pattern `{s['pattern']}`")
    return ", ".join(bits)


def _rows(s: dict[str, Any], prefix: str, root: dict[str, Any], out: list[str],
          sections: list[tuple[str, dict[str, Any]]]) -> None:
    required = set(s.get("required", []))
    for key, sub in s.get("properties", {}).items():
        sub = _resolve(sub, root)
        path = f"{prefix}{key}"
        default = f"`{json.dumps(sub['default'])}`" if "default" in sub else ("required" if key in required else "")
        example = f"`{json.dumps(sub['examples'][0])}`" if sub.get("examples") else ""
        desc = sub.get("description", "").replace("|", "\\|")
        limits = _limits(sub)
        out.append(f"| `{path}` | {_type(sub)} | {default} | {desc}{' (' + limits + ')' if limits else ''} | {example} |")
        if sub.get("type") == "object" and "properties" in sub:
            _rows(sub, path + ".", root, out, sections)
        items = _resolve(sub.get("items", {}), root) if isinstance(sub.get("items"), dict) else {}
        if items.get("type") == "object" and "properties" in items:
            _rows(items, path + "[].", root, out, sections)
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict) and "$ref" in extra:
            resolved = _resolve(extra, root)
            for branch in resolved.get("oneOf", []):
                kind = branch["properties"]["type"]["enum"][0]
                sections.append((f"{path}.<name> ({kind})", branch))


def render(schema: dict[str, Any]) -> str:
    out = [
        "<!-- Generated from schemas/ml.schema.json by `ml-ci schema --markdown`; do not edit by hand. -->",
        "# ml.yaml reference",
        "",
        schema["description"],
        "",
        "Errors name the file, line, column and dotted key (`ml.yaml:12:5: train.learning_rate: -1 is less than the minimum 0`).",
        "Unknown keys are refused with the nearest known key suggested. `version` is checked first.",
        "",
        "| key | type | default | description | example |",
        "| --- | --- | --- | --- | --- |",
    ]
    sections: list[tuple[str, dict[str, Any]]] = []
    _rows(schema, "", schema, out, sections)
    for title, sub in sections:
        out += ["", f"## `{title}`", "", "| key | type | default | description | example |", "| --- | --- | --- | --- | --- |"]
        _rows(sub, "", schema, out, [])
    return "\n".join(out) + "\n"
