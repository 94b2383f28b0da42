"""Check data against ml.schema.json: the subset of JSON Schema 2020-12 the schema uses, and no more.

Why not jsonschema at run time: importing it (referencing, attrs, rpds and its bundled
metaschemas) costs about 0.15 s, half of what `ml-ci validate` takes as a pre-commit hook.
The schema uses a score of keywords (among them `allOf`, `if`/`then`/`else`, `const` and `not`, for the
task branches that config/by_task.py generates); `unsupported()` refuses a schema that uses any other,
and the tests check that this module and jsonschema agree on every example file. jsonschema-rs and
fastjsonschema cost more at start-up (benchmarks/validate.py --validators).

One deliberate difference: "integer" means an int. jsonschema also accepts 16.0, which the typed
Config could not hold.

Patterns have their ECMA-262 meaning, as JSON Schema says (and as check-jsonschema and editors read
the published schema): Python's `$` also matches before a final newline, so `^[a-z]+$` would take
"demo\n" and a generated workflow would carry the newline. `ecma_to_python` rewrites the two
constructs whose meaning differs in the patterns the schema uses.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

# Keywords that constrain data, all implemented below.
ASSERTIONS = frozenset(
    {
        "type",
        "enum",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "pattern",
        "minLength",
        "maxLength",
        "minItems",
        "uniqueItems",
        "items",
        "properties",
        "additionalProperties",
        "required",
        "propertyNames",
        "oneOf",
        "allOf",
        "if",
        "then",
        "else",
        "const",
        "not",
        "$ref",
    }
)
# Keywords that only describe; they never make data invalid.
ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description", "default", "examples"})

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


# keyword -> test that the value breaks the bound
_BOUNDS = (
    ("minimum", operator.lt),
    ("maximum", operator.gt),
    ("exclusiveMinimum", operator.le),
    ("exclusiveMaximum", operator.ge),
)


@dataclass(frozen=True)
class SchemaError:
    """One failed keyword: where (path into the data), which keyword and its value, and the data there."""

    path: tuple[Any, ...]
    keyword: str
    expected: Any
    instance: Any
    schema: Mapping[str, Any]


def unsupported(schema: Any) -> set[str]:
    """Keywords used anywhere in schema that this module does not implement."""
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key not in ASSERTIONS | ANNOTATIONS:
                found.add(key)
            if key in ("properties", "$defs"):
                for sub in value.values():
                    found |= unsupported(sub)
            elif key in ("items", "additionalProperties", "propertyNames", "if", "then", "else", "not"):
                found |= unsupported(value)
            elif key in ("oneOf", "allOf"):
                for sub in value:
                    found |= unsupported(sub)
    return found


def is_type(value: Any, name: str) -> bool:
    # bool is an int in Python but not a number in JSON.
    if isinstance(value, bool) and name != "boolean":
        return False
    return isinstance(value, _PYTHON_TYPES[name])


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1."""
    return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)


# ECMA-262's `.` stops at every line terminator, Python's only at "\n".
_ECMA_DOT = r"[^\n\r\u2028\u2029]"


def ecma_to_python(pattern: str) -> str:
    """A Python pattern that matches what the ECMA-262 pattern (no flags) matches: `$` is the end of
    the text (Python's `\\Z`), never "before a final newline", and `.` stops at any line terminator."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":  # (a `]` first in a class differs too; the schema never writes one)
            in_class = True
        elif c == "$":
            c = "\\Z"
        elif c == ".":
            c = _ECMA_DOT
        out.append(c)
        i += 1
    return "".join(out)


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(ecma_to_python(pattern))


def resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, not {ref!r}")
    target: Any = root
    for part in ref[2:].split("/"):
        target = target[part]
    return target  # type: ignore[no-any-return]


def is_valid(instance: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> bool:
    return next(iter_errors(instance, schema, root), None) is None


def iter_errors(
    instance: Any, schema: Mapping[str, Any], root: Mapping[str, Any] | None = None, path: tuple[Any, ...] = ()
) -> Iterator[SchemaError]:
    """Every failed keyword, depth first, in the order the schema lists them."""
    root = schema if root is None else root

    def fail(keyword: str, at: tuple[Any, ...] = path, value: Any = instance) -> SchemaError:
        return SchemaError(at, keyword, schema[keyword], value, schema)

    if "$ref" in schema:
        yield from iter_errors(instance, resolve(schema["$ref"], root), root, path)
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(is_type(instance, n) for n in names):
            yield fail("type")
            return  # the other keywords would only repeat it
    if "const" in schema and not _same(instance, schema["const"]):
        yield fail("const")
    if "enum" in schema and not any(_same(instance, option) for option in schema["enum"]):
        yield fail("enum")
    if "not" in schema and is_valid(instance, schema["not"], root):
        yield fail("not")
    if "oneOf" in schema and sum(is_valid(instance, branch, root) for branch in schema["oneOf"]) != 1:
        yield fail("oneOf")
    if is_type(instance, "number"):
        for keyword, bad in _BOUNDS:
            if keyword in schema and bad(instance, schema[keyword]):
                yield fail(keyword)
    elif isinstance(instance, str):
        if "minLength" in schema and len(instance) < schema["minLength"]:
            yield fail("minLength")
        if "maxLength" in schema and len(instance) > schema["maxLength"]:
            yield fail("maxLength")
        if "pattern" in schema and not _regex(schema["pattern"]).search(instance):
            yield fail("pattern")
    elif isinstance(instance, list):
        if "minItems" in schema and len(instance) < schema["minItems"]:
            yield fail("minItems")
        if schema.get("uniqueItems") and any(_same(a, b) for i, a in enumerate(instance) for b in instance[:i]):
            yield fail("uniqueItems")
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(instance):
                yield from iter_errors(item, schema["items"], root, (*path, i))
    elif isinstance(instance, dict):
        for key in schema.get("required", []):
            if key not in instance:
                yield SchemaError(path, "required", key, instance, schema)
        props = schema.get("properties", {})
        if "propertyNames" in schema:
            for key in instance:
                if not is_valid(key, schema["propertyNames"], root):
                    yield fail("propertyNames", (*path, key), key)
        extra = schema.get("additionalProperties", True)
        for key, value in instance.items():
            if key in props:
                yield from iter_errors(value, props[key], root, (*path, key))
            elif extra is False:
                yield fail("additionalProperties", (*path, key), key)
            elif isinstance(extra, dict):
                yield from iter_errors(value, extra, root, (*path, key))
    # After the keywords above, so that what the generic schema says comes before what a branch adds.
    for sub in schema.get("allOf", ()):
        yield from iter_errors(instance, sub, root, path)
    if "if" in schema:
        chosen = schema.get("then") if is_valid(instance, schema["if"], root) else schema.get("else")
        if chosen is not None:
            yield from iter_errors(instance, chosen, root, path)
