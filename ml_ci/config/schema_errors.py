"""Turn schema errors into messages a person can act on: what is wrong, and the fix."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ml_ci.config import gitref, paths
from ml_ci.config.validator import SchemaError, iter_errors
from ml_ci.config.yamlfile import Document, dotted
from ml_ci.errors import Problem

GIT_BRANCH = r"^(?!-)(?!/)(?!.*//)(?!.*/$)(?!.*\.\.)(?!(.*/)?\.)(?!.*\.lock(/|$))(?!.*\.$)(?!HEAD$)[A-Za-z0-9._/-]+$"
_QUANTITY = "a Kubernetes quantity such as 500m, 2, 512Mi or 1Gi"
_LABEL = "a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit"
_RELEASE = "a release number such as 0.1.0"
# Patterns are for machines; these say the same in words ("must be ...").
PATTERN_HELP: dict[str, str] = {
    "^(f1|precision|recall)\\.[A-Za-z0-9_]+$": "a metric of one entity type (f1.TYPE, precision.TYPE or recall.TYPE)",
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": _LABEL,
    "^[A-Z_][A-Z0-9_]*$": "the NAME of an environment variable (A-Z, 0-9, _); ml.yaml names the variable, never holds its value",
    "^[0-9]+(\\.[0-9]+){0,2}$": _RELEASE,
    "^[0-9]+(\\.[0-9]+){0,2}([a-z0-9.+-]*)$": _RELEASE,
    "^https?://[^\\s]+$": "an http:// or https:// URL without spaces",
    "^[0-9]+(\\.[0-9]+)?(m|Mi|Gi|Ki|M|G|k)?$": _QUANTITY,
    "^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$": "a hub dataset id: name or owner/name",
    "^3\\.[0-9]{1,2}$": 'a Python version such as "3.11" (quoted)',
    "^[A-Za-z0-9._-]+$": "a runner label (letters, digits, '.', '_' and '-')",
    "^[A-Za-z0-9._/*-]+$": "a branch name or glob (letters, digits, '.', '_', '-', '/' and '*')",
    "^[A-Za-z0-9._/*!-]+$": "a path glob (letters, digits, '.', '_', '-', '/', '*' and '!')",
    GIT_BRANCH: "a git branch name (letters, digits, '.', '_', '-' and '/'; not starting with '-', without '..' or "
    "'//', no part starting with '.' or ending in '.lock')",
    "^(?!/)(?!.*\\.\\.)[A-Za-z0-9._/-]+$": "a relative folder without '..' (letters, digits, '.', '_', '-' and '/')",
    "^[A-Za-z0-9][A-Za-z0-9._/:@-]*$": "an image reference such as python:3.11-slim",
    "^[a-zA-Z0-9.-]+(:[0-9]{1,5})?$": "a registry host with an optional port, such as ghcr.io or 127.0.0.1:5000",
    "^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$": "a lowercase repository path such as acme/sentiment",
}
# Patterns whose failure is better explained by looking at the value.
PATTERN_EXPLAIN: dict[str, Callable[[str, str], str | None]] = {
    "^(?![a-zA-Z][a-zA-Z0-9+.-]*://)(?!/)(?!~)[^\\x00]+$": paths.outside_reason,
    GIT_BRANCH: gitref.branch_reason,
}
_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def show(value: Any, limit: int = 60) -> str:
    """A value as a person would write it in ml.yaml."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= limit else text[: limit - 4] + "...'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def suggest(word: str, options: list[str]) -> str:
    import difflib  # only when there is a mistake to explain

    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _choices(word: str, options: list[str], lead: str) -> str:
    """lead + either the nearest option or the list of them all."""
    return lead + (suggest(word, options) or f"; expected one of: {', '.join(options)}")


def _looks_like(text: str, kind: str) -> bool:
    try:
        (int if kind == "integer" else float)(text)
    except ValueError:
        return False
    return True


def _type_message(err: SchemaError, doc: Document) -> str:
    expected: list[str] = err.expected if isinstance(err.expected, list) else [err.expected]
    words = " or ".join(_TYPE_WORDS.get(t, t) for t in expected)
    raw, style = doc.raw.get(err.path, (None, None))
    value = err.instance
    if raw is not None and style is None and isinstance(value, (int, float)) and not isinstance(value, bool):
        if "string" in expected and raw != show(value):
            return f'{raw} was read as the number {value}, expected {words}; quote it ("{raw}")'
        if "string" in expected:
            return f'{raw} is a number, expected {words}; quote it ("{raw}")'
        if isinstance(value, float) and expected == ["integer"] and value.is_integer():
            return f"{raw} is not {words}; write {int(value)}"
    if value is None and raw == "" and style is None:
        return f"is empty, expected {words}; write its {'items' if expected == ['array'] else 'keys'} under it, or remove it"
    if expected == ["array"] and raw is not None and not isinstance(value, (dict, list)):
        return f"{show(value)} is not a list; write a list, such as [{raw}]"
    numeric = [t for t in expected if t in ("integer", "number")]
    if isinstance(value, str) and style is not None and any(_looks_like(value, t) for t in numeric):
        return f"{show(value)} is text, not {words}; remove the quotes"
    return f"{show(value)} is not {words}"


def _described(schema: Mapping[str, Any], key: str) -> str:
    """': <first words of the key's description>' to say what a missing key is for."""
    sub = schema.get("properties", {}).get(key, {})
    desc = str(sub.get("description") or "").split(". ")[0].rstrip(".")
    return f": {desc[0].lower()}{desc[1:]}" if desc else ""


def _other_tasks_keys(doc: Document, root: Mapping[str, Any], path: Any) -> set[str]:
    """The keys of the object at `path` (the unknown key's parent) that the file's task refuses (its branch of
    the schema says they belong to another task): a generic section leaves them a place, but they are no
    option for this file."""
    data = doc.data if isinstance(doc.data, Mapping) else {}
    task = data.get("task", root.get("properties", {}).get("task", {}).get("default"))
    for entry in root.get("allOf", []):
        if entry.get("if", {}).get("properties", {}).get("task", {}).get("const") != task:
            continue
        node: Any = entry.get("then", {})
        for part in path:
            if not isinstance(part, str) or not isinstance(node, Mapping):
                return set()
            node = node.get("properties", {}).get(part, {})
        props = node.get("properties", {}) if isinstance(node, Mapping) else {}
        return {k for k, v in props.items() if isinstance(v, Mapping) and "not" in v}
    return set()


def messages(err: SchemaError, doc: Document, root: Mapping[str, Any]) -> Iterator[Problem]:
    path, kw, val, inst = err.path, err.keyword, err.expected, err.instance
    if kw == "additionalProperties":
        options = sorted(set(err.schema.get("properties", {})) - _other_tasks_keys(doc, root, path[:-1]))
        yield doc.problem(path, _choices(inst, options, "unknown key"), key=True)
        return
    if kw == "propertyNames":
        yield doc.problem(path, _choices(str(inst), list(val.get("enum", [])), "unknown key"), key=True)
        return
    if kw == "not":  # the schema's description says why the value (or the key: by_task refuses other tasks' keys) is refused
        yield doc.problem(path, str(err.schema.get("description") or "is not allowed here"), key=True)
        return
    if kw == "required":
        yield doc.problem(path, f"missing required key {val!r}{_described(err.schema, val)}")
        return
    if kw == "oneOf" and isinstance(inst, dict):
        # The branches are told apart by their `type`; report against the one that was meant.
        kinds = {b["properties"]["type"]["enum"][0]: b for b in val if "type" in b.get("properties", {})}
        branch = kinds.get(inst.get("type"))
        if branch is None:
            where = (*path, "type") if "type" in inst else path
            lead = f"{show(inst['type'])} is not a parameter type" if "type" in inst else "missing required key 'type'"
            yield doc.problem(where, _choices(str(inst.get("type")), list(kinds), lead))
            return
        for e in iter_errors(inst, branch, root, path):
            yield from messages(e, doc, root)
        return
    if kw == "oneOf" and isinstance(inst, str) and all(set(b) <= {"enum", "pattern"} for b in val):
        # A name from a list, or of a family named by pattern (a task's metric per entity type: f1.PER).
        options = [str(o) for b in val for o in b.get("enum", [])]
        families = [PATTERN_HELP.get(b["pattern"], f"a name matching {b['pattern']}") for b in val if "pattern" in b]
        msg = f"{show(inst)} is not one of: {', '.join(options)}; nor {' or '.join(families)}{suggest(inst, options)}"
    elif kw == "type":
        msg = _type_message(err, doc)
    elif kw == "minimum":
        msg = f"{show(inst)} is less than the minimum {val}"
    elif kw == "maximum":
        msg = f"{show(inst)} is greater than the maximum {val}"
    elif kw == "exclusiveMinimum":
        msg = (
            f"{show(inst)} is less than the minimum {val}"
            if inst < val
            else f"{show(inst)} is too small: it must be greater than {val}"
        )
    elif kw == "exclusiveMaximum":
        msg = (
            f"{show(inst)} is greater than the maximum {val}"
            if inst > val
            else f"{show(inst)} is too large: it must be less than {val}"
        )
    elif kw == "const":
        msg = f"{show(inst)} must be {show(val)}"
    elif kw == "enum":
        options = [show(o).strip("'") for o in val]
        msg = f"{show(inst)} is not one of: {', '.join(options)}{suggest(str(inst), options)}"
    elif kw == "pattern":
        explain = PATTERN_EXPLAIN.get(val)
        reason = explain(inst, dotted(path)) if explain else None
        help_ = PATTERN_HELP.get(val)
        msg = reason or (f"{show(inst)} is not {help_}" if help_ else f"{show(inst)} does not match the pattern {val}")
    elif kw == "minItems":
        msg = f"has {len(inst)} item{'s' if len(inst) != 1 else ''}; it needs at least {val}"
    elif kw == "uniqueItems":
        dups = [show(v) for i, v in enumerate(inst) if v in inst[:i]]
        msg = f"{dups[0]} is listed more than once; list each value once"
    elif kw == "minLength":
        msg = "must not be empty" if val == 1 else f"{show(inst)} is shorter than {val} characters"
    elif kw == "maxLength":
        msg = f"{show(inst)} is {len(inst)} characters long; at most {val} are allowed"
    else:  # a keyword validator.ASSERTIONS gained without a message here
        msg = f"fails the schema's {kw!r} rule ({val!r})"
    yield doc.problem(path, msg)
