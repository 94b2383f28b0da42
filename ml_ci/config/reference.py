"""Render the ml.yaml reference (docs/ml-yaml.md) from the schema, so that the docs cannot drift.

One section per top-level key, one table row per key below it, and one section per shared
definition (gate, slice, environment, search-space parameter) that the tables link to.
Constraints are written in words, using the same phrases as the error messages.
"""

from __future__ import annotations

import json
from typing import Any

from ml_ci import tasks
from ml_ci.config import by_task
from ml_ci.config.schema_errors import PATTERN_EXPLAIN, PATTERN_HELP


def minimal(task_data: str) -> str:
    """The smallest valid ml.yaml of a task whose data section needs task_data beyond the files."""
    return (
        "version: 1\nname: sentiment\ndata:\n  train: data/train.csv\n  validation: data/validation.csv\n"
        f"{task_data}model:\n  base: sentence-transformers/all-MiniLM-L6-v2\n"
    )


# Titles of the $defs that get a section of their own.
DEF_TITLES = {"gate": "Gate", "slice": "Slice", "environment": "Environment", "param": "Search-space parameter"}
_HEADER = ["| key | type | default | allowed values | description |", "| --- | --- | --- | --- | --- |"]


def _code(value: Any) -> str:
    return f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _ref_name(s: dict[str, Any]) -> str | None:
    ref = s.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref.startswith("#/$defs/") else None


def _resolve(s: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """The schema with its local $ref merged in (the referring schema's own words win)."""
    name = _ref_name(s)
    return {**root["$defs"][name], **{k: v for k, v in s.items() if k != "$ref"}} if name else s


def _link(name: str) -> str:
    return f"[{DEF_TITLES[name].lower()}](#{DEF_TITLES[name].lower().replace(' ', '-')})"


_PLURAL = {"string": "strings", "integer": "integers", "number": "numbers", "boolean": "booleans", "object": "mappings"}


def _type(s: dict[str, Any], root: dict[str, Any]) -> str:
    if (name := _ref_name(s)) in DEF_TITLES:
        return _link(name)
    s = _resolve(s, root)
    if s.get("type") == "array" and isinstance(s.get("items"), dict):
        items = s["items"]
        if (name := _ref_name(items)) in DEF_TITLES:
            return f"list of {_link(name)}s"
        kinds = items.get("type") or sorted({type(v).__name__.replace("str", "string") for v in items.get("enum", [])})
        plural: list[str] = [_PLURAL.get(k, k + "s") for k in (kinds if isinstance(kinds, list) else [kinds])] or ["values"]
        return "list of " + (", ".join(plural[:-1]) + " or " + plural[-1] if len(plural) > 1 else plural[0])
    if s.get("type") == "object" and isinstance(s.get("additionalProperties"), dict):
        return f"mapping of name to {_type(s['additionalProperties'], root)}"
    kinds = s.get("type", "any")
    # "mapping", as the error messages say; JSON Schema's "object" means nothing in YAML.
    return " or ".join("mapping" if k == "object" else k for k in (kinds if isinstance(kinds, list) else [kinds]))


def _allowed(s: dict[str, Any]) -> str:
    bits = []
    if "enum" in s:
        bits.append("one of " + ", ".join(_code(v) for v in s["enum"]))
    items = s.get("items", {})
    if isinstance(items, dict) and "enum" in items:
        bits.append("each one of " + ", ".join(_code(v) for v in items["enum"]))
    if isinstance(items, dict) and items.get("pattern") in PATTERN_HELP:
        bits.append("each " + PATTERN_HELP[items["pattern"]])
    if "propertyNames" in s:
        bits.append("names: " + ", ".join(_code(v) for v in s["propertyNames"].get("enum", [])))
    for key, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in s:
            bits.append(f"{word} {s[key]}")
    if "minItems" in s:
        bits.append(f"at least {s['minItems']} item{'s' if s['minItems'] != 1 else ''}")
    if s.get("uniqueItems"):
        bits.append("no duplicates")
    if s.get("minLength", 0) > 1:
        bits.append(f"at least {s['minLength']} characters")
    if "maxLength" in s and s["maxLength"] < 1000:
        bits.append(f"at most {s['maxLength']} characters")
    pattern = s.get("pattern")
    if pattern in PATTERN_HELP:
        bits.append(PATTERN_HELP[pattern])
    elif pattern in PATTERN_EXPLAIN:
        bits.append("a path inside the repository (no URL, absolute path or '..')")
    elif pattern:
        bits.append(f"matches `{pattern}`")
    return "; ".join(bits)


def _rows(s: dict[str, Any], prefix: str, root: dict[str, Any], out: list[str]) -> None:
    required = set(s.get("required", []))
    for key, raw in s.get("properties", {}).items():
        sub = _resolve(raw, root)
        path = f"{prefix}{key}"
        default = _code(sub["default"]) if "default" in sub else ("**required**" if key in required else "")
        desc = sub.get("description", "")
        examples = raw.get("examples") if "$ref" in raw else sub.get("examples")  # a shared definition's example fits no key
        if examples and sub.get("type") != "object":
            desc += f" Example: {_code(examples[0])}."
        out.append(f"| `{path}` | {_type(raw, root)} | {default} | {_cell(_allowed(sub))} | {_cell(desc)} |")
        kinds: list[Any] = sub["type"] if isinstance(sub.get("type"), list) else [sub.get("type")]
        # A key that is a string or a mapping (data.validation) lists the mapping's keys too.
        if "object" in kinds and "properties" in sub and _ref_name(raw) not in DEF_TITLES:
            _rows(sub, path + ".", root, out)


def _section(title: str, description: str, rows: list[str]) -> list[str]:
    return ["", f"## {title}", "", description, "", *_HEADER, *rows]


def render(published: dict[str, Any]) -> str:
    """The reference of the published schema, as it applies to the default task (the one `task` defaults to)."""
    task = by_task.default_task(published)
    schema = by_task.effective(published, task)
    out = [
        "<!-- Generated from schemas/ml.schema.json by `ml-ci schema --markdown > docs/ml-yaml.md`; do not edit by hand. -->",
        "# ml.yaml reference",
        "",
        schema["description"],
        "",
        "The smallest valid ml.yaml; every other key has a default or is optional:",
        "",
        "```yaml",
        minimal(tasks.get(task).config().MINIMAL_DATA).rstrip("\n"),
        "```",
        "",
        "`ml-ci validate` checks a file against this reference and reports every problem at once, each with its file, line,",
        "column and dotted key, and the fix: `ml.yaml:12:5: train.learning_rate: -1 is less than the minimum 0`.",
        "`version` is checked before anything else, so that a newer file asks for a newer ml-ci. Unknown keys are refused",
        "with the nearest known key suggested. Values are strict: `yes`, `no`, `on` and `off` must be written `true`/`false`",
        "or quoted, and text that YAML would read as a number (`3.10`, `0755`) must be quoted.",
        "",
        "Sections: "
        + ", ".join(f"[`{k}`](#{k})" for k, v in schema["properties"].items() if _resolve(v, schema).get("type") == "object")
        + ".",
    ]
    top: list[str] = []
    objects = []
    for key, raw in schema["properties"].items():
        sub = _resolve(raw, schema)
        if sub.get("type") == "object":
            objects.append((key, sub))
        else:
            _rows({"properties": {key: raw}, "required": schema.get("required", [])}, "", schema, top)
    out += _section("Top-level keys", "Keys outside any section.", top)
    for key, sub in objects:
        rows: list[str] = []
        required = "**required**" if key in schema.get("required", []) else "optional"
        _rows(sub, f"{key}.", schema, rows)
        out += _section(f"`{key}`", f"{sub.get('description', '')} Section: {required}.", rows)
    for name, title in DEF_TITLES.items():
        sub = schema["$defs"][name]
        if "oneOf" in sub:
            out += ["", f"## {title}", "", f"{sub.get('description', '')} Its `type` chooses the kind:"]
            for branch in sub["oneOf"]:
                rows = []
                _rows(branch, "", schema, rows)
                kind = branch["properties"]["type"]["enum"][0]
                out += ["", f"### `type: {kind}`", "", branch.get("description", ""), "", *_HEADER, *rows]
        else:
            rows = []
            _rows(sub, "", schema, rows)
            out += _section(title, sub.get("description", ""), rows)
    return "\n".join(out) + "\n"
