"""A small YAML emitter for workflow files: keeps key order, quotes what YAML 1.1 would misread
(`on`, `yes`, numbers in strings), writes scripts as literal blocks and can attach a trailing
comment to a scalar (pins carry their version, permissions their reason).

PyYAML's dumper cannot write comments, and zizmor asks for them on permissions; the output is
checked in the tests by reading it back with yaml.safe_load.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Union

import yaml.resolver

Scalar = Union[str, int, bool, None]


@dataclass(frozen=True)
class Commented:
    """A scalar (or a short list of scalars, written inline) followed by `# comment` on its line."""

    value: Union[Scalar, tuple[Scalar, ...]]
    comment: str


Value = Union[Scalar, Commented, Mapping[str, "Value"], Sequence["Value"]]

_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
# Characters that may not start a plain scalar, or that change its meaning inside it.
_INDICATORS = set("-?:,[]{}#&*!|>'\"%@`")
_SAFE_CHARS = re.compile(r"^[A-Za-z0-9 _./@$(){}'|&=!<>+,*~:\[\]-]+$")


def _plain_ok(text: str) -> bool:
    if not text or text != text.strip() or text[0] in _INDICATORS or not _SAFE_CHARS.match(text):
        return False
    if ": " in text or " #" in text or text.endswith(":"):
        return False
    # Only when YAML reads it back as the same string (not a bool, null or number).
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag == _STR_TAG


def scalar(value: Scalar) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if _plain_ok(value):
        return value
    # A JSON string is a valid YAML double-quoted scalar, escapes included.
    return json.dumps(value, ensure_ascii=False)


def _flow_scalar(value: Scalar) -> str:
    text = scalar(value)
    return json.dumps(value) if isinstance(value, str) and any(c in text for c in ",[]{}") else text


def _inline(value: Union[Scalar, tuple[Scalar, ...]]) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_flow_scalar(v) for v in value) + "]"
    return scalar(value)


def _block_ok(text: str) -> bool:
    """A literal block keeps the text exactly when it ends in one newline and nothing is ambiguous."""
    if not text.endswith("\n") or text.endswith("\n\n") or text.startswith((" ", "\n")):
        return False
    return all(line == line.rstrip() and "\t" not in line and line.isprintable() for line in text[:-1].split("\n"))


def _key(key: str) -> str:
    return scalar(key)


def _emit(value: Value, indent: int, out: list[str], prefix: str) -> None:
    """Write value after `prefix` (an already-indented "key:" or "- "), at nesting `indent`."""
    pad = "  " * indent
    if isinstance(value, Commented):
        out.append(f"{prefix} {_inline(value.value)} # {value.comment}")
    elif isinstance(value, Mapping):
        if not value:
            out.append(f"{prefix} {{}}")
            return
        out.append(prefix)
        for k, v in value.items():
            _emit(v, indent + 1, out, f"{pad}  {_key(k)}:")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append(f"{prefix} []")
            return
        out.append(prefix)
        for item in value:
            _emit_item(item, indent + 1, out)
    elif isinstance(value, str) and "\n" in value and _block_ok(value):
        out.append(f"{prefix} |")
        out.extend(f"{pad}  {line}" if line else "" for line in value[:-1].split("\n"))
    else:
        out.append(f"{prefix} {scalar(value)}")  # type: ignore[arg-type]


def _emit_item(item: Value, indent: int, out: list[str]) -> None:
    """One sequence entry: "- " at column 2*indent; a mapping's keys line up after it."""
    pad = "  " * indent
    if isinstance(item, Mapping) and item:
        for i, (k, v) in enumerate(item.items()):
            _emit(v, indent + 1, out, f"{pad}{'- ' if i == 0 else '  '}{_key(k)}:")
    elif isinstance(item, (list, tuple)) and item:
        raise ValueError("nested sequences are not used in workflow files")
    else:
        _emit(item, indent, out, f"{pad}-")


def dump(document: Mapping[str, Value]) -> str:
    """Top-level mapping -> YAML text, one blank line between top-level keys for readability."""
    out: list[str] = []
    for i, (k, v) in enumerate(document.items()):
        if i and isinstance(v, Mapping) and v:
            out.append("")
        _emit(v, 0, out, f"{_key(k)}:")
    return "\n".join(out) + "\n"
