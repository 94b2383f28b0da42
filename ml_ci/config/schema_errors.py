"""Turn jsonschema errors into messages a person can act on."""

from __future__ import annotations

import difflib
from typing import Any, Iterator

import jsonschema

from ml_ci.config.yamlfile import _YAML11_BOOLS, Document
from ml_ci.errors import Problem

# Patterns are for machines; these say the same in words.
PATTERN_HELP = {
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
    "^[A-Z_][A-Z0-9_]*$": "must be the NAME of an environment variable (A-Z, 0-9, _), not its value",
}
_TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
               "object": "a mapping", "array": "a list", "null": "null"}


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _type_message(err: jsonschema.ValidationError, doc: Document, path: tuple[Any, ...]) -> str:
    expected = err.validator_value
    words = " or ".join(_TYPE_WORDS.get(t, t) for t in (expected if isinstance(expected, list) else [expected]))
    raw, style = doc.raw.get(path, (None, None))
    value = err.instance
    if raw is not None and style is None:
        if isinstance(value, bool) and raw.lower() in _YAML11_BOOLS and raw.lower() not in ("true", "false"):
            return f"{raw} was read as the boolean {_show(value)}, expected {words}; quote it (\"{raw}\") if you mean the text"
        if isinstance(value, (int, float)) and "string" in str(expected):
            return f"{raw} was read as the number {value}, expected {words}; quote it (\"{raw}\")"
        if isinstance(value, float) and expected == "integer" and raw != str(value):
            return f"{raw} was read as the number {value}, expected {words}"
    return f"{_show(value)} is not {words}"


def messages(err: jsonschema.ValidationError, doc: Document) -> Iterator[Problem]:
    path = tuple(err.absolute_path)
    v, val = err.validator, err.validator_value
    inst = err.instance
    if v == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        for key in sorted(set(inst) - set(allowed)):
            yield doc.problem(path + (key,), f"unknown key{suggest(key, allowed)}" if suggest(key, allowed)
                              else f"unknown key; expected one of: {', '.join(allowed)}", key=True)
        return
    if v == "propertyNames":
        allowed = list(val.get("enum", []))
        # jsonschema reports the offending name as the instance
        yield doc.problem(path + (inst,), f"{inst!r} cannot be set here{suggest(str(inst), allowed)}"
                          + ("" if suggest(str(inst), allowed) else f"; expected one of: {', '.join(allowed)}"), key=True)
        return
    if v == "required":
        missing = [k for k in val if k not in inst]
        for key in missing:
            yield doc.problem(path, f"missing required key {key!r}")
        return
    if v == "oneOf" and isinstance(inst, dict):
        kinds = {b["properties"]["type"]["enum"][0]: b for b in val if "type" in b.get("properties", {})}
        branch = kinds.get(inst.get("type"))
        if branch is None:
            yield doc.problem(path + ("type",) if "type" in inst else path,
                              f"type must be one of: {', '.join(kinds)}{suggest(str(inst.get('type')), list(kinds))}")
            return
        sub = jsonschema.Draft202012Validator(branch)
        for e in sub.iter_errors(inst):
            e.path.extendleft(reversed(path))  # type: ignore[attr-defined]
            yield from messages(e, doc)
        return
    if v == "type":
        msg = _type_message(err, doc, path)
    elif v == "minimum":
        msg = f"{_show(inst)} is less than the minimum {val}"
    elif v == "maximum":
        msg = f"{_show(inst)} is greater than the maximum {val}"
    elif v == "exclusiveMinimum":
        msg = f"{_show(inst)} must be greater than {val}"
    elif v == "exclusiveMaximum":
        msg = f"{_show(inst)} must be less than {val}"
    elif v == "enum":
        options = [str(o) for o in val]
        msg = f"{_show(inst)} is not one of: {', '.join(options)}{suggest(str(inst), options)}"
        if len(val) == 1 and path == ("version",):
            msg = f"{_show(inst)} is not a supported version; this ml-ci reads version {val[0]}"
    elif v == "pattern":
        help_ = PATTERN_HELP.get(val)
        msg = f"{_show(inst)} {help_}" if help_ else f"{_show(inst)} does not match the pattern {val}"
    elif v == "minItems":
        msg = f"needs at least {val} item{'s' if val != 1 else ''}"
    elif v == "uniqueItems":
        msg = "has duplicate items"
    elif v == "minLength":
        msg = "must not be empty" if val == 1 else f"must be at least {val} characters"
    elif v == "maxLength":
        msg = f"is longer than {val} characters"
    else:
        msg = err.message
    yield doc.problem(path, msg)
