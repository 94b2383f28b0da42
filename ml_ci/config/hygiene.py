"""Checks on every string in ml.yaml, whatever key it sits under.

Generated workflows copy values from ml.yaml; these checks make sure no value can carry an
Actions expression, a secret or characters that display differently from what they are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

import yaml

from ml_ci.config.yamlfile import YAML11_BOOLS, Document, Path_
from ml_ci.errors import Problem

_SECRETS = [
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), "a GitHub token"),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}"), "a GitHub token"),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), "a GitLab token"),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key"),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}"), "a Hugging Face token"),
    (re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"), "an API secret key"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"://[^/\s:@]+:[^/\s@]+@"), "a password inside a URL"),
]
# Bidi controls and zero-width characters make text read differently from what it is
# (CVE-2021-42574, "Trojan Source").
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def _strings(value: Any, path: Path_) -> Iterator[tuple[Path_, str, bool]]:
    """(path, text, is_key) for every string in the document."""
    if isinstance(value, str):
        yield path, value, False
    elif isinstance(value, dict):
        for k, v in value.items():
            yield (*path, k), k, True
            yield from _strings(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, (*path, i))


# YAML 1.2's core schema (what editors and most other tools read): a plain scalar matching one of these is an
# int or a float, any other (besides null and booleans) is text.
_CORE_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_CORE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def yaml12_number(raw: str) -> int | float | None:
    """The number YAML 1.2's core schema reads in a plain scalar, or None for text."""
    if _CORE_INT.fullmatch(raw):
        base = 8 if raw.startswith("0o") else 16 if raw.startswith("0x") else 10
        return int(raw[2:] if base != 10 else raw, base)
    if _CORE_FLOAT.fullmatch(raw):
        return float(raw.lower().replace(".inf", "inf").replace(".nan", "nan"))
    return None


def _why_yaml11(raw: str) -> str:
    """What YAML 1.1 (PyYAML) does with raw that YAML 1.2 does not."""
    if ":" in raw:
        return "YAML 1.1 reads digits separated by ':' in base 60"
    if "_" in raw:
        return "YAML 1.1 ignores '_' in numbers"
    if raw.lstrip("+-").startswith("0b"):
        return "YAML 1.1 reads 0b as binary"
    if re.fullmatch(r"[-+]?0[0-9_]+", raw):
        return "YAML 1.1 reads a leading 0 as octal"
    return "YAML 1.1 reads it so"


def _why_text(raw: str) -> str:
    """Why YAML 1.1 (PyYAML) reads text where YAML 1.2 reads a number."""
    if raw.startswith("0o"):
        return "YAML 1.1 has no 0o prefix"
    if re.fullmatch(r"[-+]?0[0-9]+", raw):
        return "YAML 1.1 reads a leading 0 as octal, and this has an 8 or 9"
    return "YAML 1.1 needs a '.' in a number with an exponent, such as 1.0e-5"


def _yaml11_readings(doc: Document) -> list[Problem]:
    """Plain scalars that YAML 1.1 (PyYAML, what ml-ci loads with) and YAML 1.2 (editors, other tools) read
    differently: yes/no/on/off (booleans or text), 1:30 (90 or text), 1_000 (1000 or text), 012 (10 or 12),
    1e-5 (text or a number). ml.yaml takes neither reading and asks for the unambiguous spelling or quotes."""
    problems = []
    for path, (raw, style) in doc.raw.items():
        if style is not None:
            continue
        if raw.lower() in YAML11_BOOLS:
            word = "true" if raw.lower() in ("yes", "on") else "false"
            problems.append(
                doc.problem(
                    path,
                    f"{raw} was read as the boolean {word}; write {word} if you mean a boolean, "
                    f'or quote it ("{raw}") if you mean the text',
                )
            )
            continue
        if not raw or not (raw[0] in "0123456789+-." and any(c.isdigit() for c in raw)):
            continue  # cannot be a number in either reading (the common case: skip the resolver)
        tag = _RESOLVER.resolve(yaml.ScalarNode, raw, (True, False))  # type: ignore[no-untyped-call]
        old: int | float | None = _CONSTRUCTOR.construct_object(yaml.ScalarNode(tag, raw)) if tag in _NUMBER_TAGS else None
        new = yaml12_number(raw)
        if old == new and type(old) is type(new):
            continue
        if new is None and old is not None:
            msg = (
                f"{raw} was read as the number {old} ({_why_yaml11(raw)}), but YAML 1.2 tools such as editors read "
                f'the text "{raw}"; write {_yaml11_spelling(old)} if you mean the number, '
                f'or quote it ("{raw}") if you mean the text'
            )
        elif old is None and new is not None:
            msg = (
                f"{raw} was read as text ({_why_text(raw)}), but YAML 1.2 tools such as editors read the number "
                f"{new:g}; write {_yaml11_spelling(new)} if you mean the number, "
                f'or quote it ("{raw}") if you mean the text'
            )
        else:
            msg = (
                f"{raw} was read as the number {old} ({_why_yaml11(raw)}), but YAML 1.2 tools such as editors read "
                f'the number {new}; write the one you mean without the leading 0, or quote it ("{raw}") for the text'
            )
        problems.append(doc.problem(path, msg))
    return problems


def _yaml11_spelling(number: float) -> str:
    """number as both YAML versions read it (YAML 1.1 needs a '.' before an exponent)."""
    text = repr(float(number)) if isinstance(number, float) else str(number)
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent if exponent[0] in '+-' else '+' + exponent}"
    return text


_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def check(doc: Document) -> list[Problem]:
    problems = _yaml11_readings(doc)
    for path, text, is_key in _strings(doc.data, ()):
        if m := _INVISIBLE.search(text):
            name = unicodedata.name(m.group(), f"U+{ord(m.group()):04X}")
            problems.append(
                doc.problem(
                    path,
                    f"contains the invisible character U+{ord(m.group()):04X} ({name}), which can make "
                    "text read differently from what it is; remove it",
                    key=is_key,
                )
            )
            continue
        if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
            char = next(c for c in text if unicodedata.category(c) == "Cc" and c not in "\n\t")
            problems.append(doc.problem(path, f"contains the control character U+{ord(char):04X}; remove it", key=is_key))
            continue
        if is_key:
            continue
        if "${{" in text:
            problems.append(
                doc.problem(
                    path,
                    "contains '${{', a GitHub Actions expression; ml.yaml values are data, "
                    "not expressions (use an environment variable name where the schema offers one)",
                )
            )
            continue
        for pattern, what in _SECRETS:
            if pattern.search(text):
                problems.append(
                    doc.problem(
                        path,
                        f"looks like {what}; never write secrets in ml.yaml: store it as a "
                        "repository secret and pass it through an environment variable named in ml.yaml",
                    )
                )
                break
    return problems
