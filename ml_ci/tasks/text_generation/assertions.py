"""The prompt set's assertions: what a generated completion must (or, with `not-`, must not) be.

The names are promptfoo's (equals, contains, icontains, regex, is-json, plus max-length), so a team's existing
prompt tests read the same here. `parse` checks an assertion once, when the prompt file is read (a bad regex or
JSON Schema is the file's error, naming its line, not a failure of every model); `check` judges one output and
says why in words that describe the output ("contains 'Paris'"), so that a failed `not-contains` and a failed
`contains` read naturally in the report.

Pure and torch-free: the checks are string functions, JSON and jsonschema.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TYPES: tuple[str, ...] = ("equals", "contains", "icontains", "regex", "is-json", "max-length")
NOT = "not-"
SHOWN = 60  # characters of a value or an output quoted in a reason


@dataclass(frozen=True)
class Assertion:
    """One assertion as the prompt file gives it (`type` with its `not-` prefix, if any), checked."""

    type: str
    value: Any = None
    compiled: Any = field(default=None, compare=False, repr=False)  # the regex, or the JSON Schema's validator

    @property
    def negated(self) -> bool:
        return self.type.startswith(NOT)

    @property
    def base(self) -> str:
        return self.type.removeprefix(NOT)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type} if self.value is None else {"type": self.type, "value": self.value}


@dataclass(frozen=True)
class Result:
    """An assertion's verdict on one output: passed, and what the output is in that respect."""

    type: str
    passed: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "passed": self.passed, "reason": self.reason}


def shown(text: str, limit: int = SHOWN) -> str:
    """A value quoted in a reason: repr, cut to `limit` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _unknown_type(name: str) -> str:
    near = difflib.get_close_matches(name.removeprefix(NOT), TYPES, n=1)
    hint = f"; did you mean {(NOT if name.startswith(NOT) else '') + near[0]!r}?" if near else ""
    return f"unknown assertion type {name!r} (one of {', '.join(TYPES)}, each negatable with a `not-` prefix){hint}"


def _schema_validator(schema: Any) -> Any:
    import jsonschema
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, (Mapping, bool)):
        raise ValueError(f"an is-json value is a JSON Schema (an object), not {type(schema).__name__}")
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "the schema's root"
        raise ValueError(f"the is-json value is not a valid JSON Schema: {e.message} (at {where})") from None
    return cls(schema)


def parse(raw: Any) -> Assertion:
    """An assertion from the prompt file; ValueError saying what is wrong with it."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"an assertion is an object with `type` (and `value`), not {type(raw).__name__}")
    extra = sorted(set(raw) - {"type", "value"})
    if extra:
        raise ValueError(f"an assertion has only `type` and `value`, not {', '.join(map(repr, extra))}")
    name = raw.get("type")
    if not isinstance(name, str):
        raise ValueError("an assertion needs a `type` (a string)")
    if name.removeprefix(NOT) not in TYPES:
        raise ValueError(_unknown_type(name))
    base, value = name.removeprefix(NOT), raw.get("value")
    if base in ("equals", "contains", "icontains", "regex") and (not isinstance(value, str) or (base != "equals" and not value)):
        raise ValueError(f"{name} needs a `value` that is a non-empty string, not {value!r}")
    if base == "regex":
        try:
            return Assertion(name, value, re.compile(value))
        except re.error as e:
            raise ValueError(f"{name}: {value!r} is not a valid regular expression: {e}") from None
    if base == "is-json":
        return Assertion(name, value, None if value is None else _schema_validator(value))
    if base == "max-length" and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ValueError(f"{name} needs a `value` that is a number of characters (an integer >= 0), not {value!r}")
    return Assertion(name, value)


def _json_state(a: Assertion, output: str) -> tuple[bool, str]:
    try:
        value = json.loads(output)
    except json.JSONDecodeError as e:
        return False, f"not JSON ({e.msg} at line {e.lineno} column {e.colno})"
    if a.compiled is None:
        return True, "valid JSON"
    from jsonschema.exceptions import best_match

    error = best_match(a.compiled.iter_errors(value))
    if error is None:
        return True, "JSON that matches the schema"
    where = "/".join(str(p) for p in error.absolute_path) or "the root"
    return False, f"JSON that does not match the schema: {error.message} (at {where})"


def _state(a: Assertion, output: str) -> tuple[bool, str]:
    """Whether the base assertion holds, and the output's state in words."""
    v = a.value
    if a.base == "equals":
        return (True, f"equals {shown(v)}") if output == v else (False, f"is {shown(output)}, not {shown(v)}")
    if a.base == "contains":
        return (True, f"contains {shown(v)}") if v in output else (False, f"does not contain {shown(v)}")
    if a.base == "icontains":
        held = v.casefold() in output.casefold()
        return (True, f"contains {shown(v)} (ignoring case)") if held else (False, f"does not contain {shown(v)} (ignoring case)")
    if a.base == "regex":
        m = a.compiled.search(output)
        return (True, f"matches /{v}/ at {shown(m.group(0))}") if m else (False, f"has no match of /{v}/")
    if a.base == "is-json":
        # Surrounding whitespace is no part of the answer (a model often ends with a newline).
        return _json_state(a, output.strip())
    n = len(output)
    return (True, f"{n} characters (at most {v})") if n <= v else (False, f"{n} characters, more than {v}")


def check(a: Assertion, output: str) -> Result:
    held, state = _state(a, output)
    return Result(a.type, held != a.negated, "output " + state)
