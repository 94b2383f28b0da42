"""Checks on every string in ml.yaml, whatever key it sits under.

Generated workflows copy values from ml.yaml; these checks make sure no value can carry an
Actions expression, a secret or characters that display differently from what they are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

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


def _yaml11_booleans(doc: Document) -> list[Problem]:
    """yes/no/on/off are booleans in YAML 1.1 (PyYAML) but text in YAML 1.2 (editors, other tools):
    ml.yaml takes neither reading and asks for true/false or quotes."""
    problems = []
    for path, (raw, style) in doc.raw.items():
        if style is None and raw.lower() in YAML11_BOOLS:
            word = "true" if raw.lower() in ("yes", "on") else "false"
            problems.append(doc.problem(path, f"{raw} was read as the boolean {word}; write {word} if you mean a boolean, "
                                        f"or quote it (\"{raw}\") if you mean the text"))
    return problems


def check(doc: Document) -> list[Problem]:
    problems = _yaml11_booleans(doc)
    for path, text, is_key in _strings(doc.data, ()):
        if m := _INVISIBLE.search(text):
            name = unicodedata.name(m.group(), f"U+{ord(m.group()):04X}")
            problems.append(doc.problem(path, f"contains the invisible character U+{ord(m.group()):04X} ({name}), which can make "
                                        "text read differently from what it is; remove it", key=is_key))
            continue
        if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
            char = next(c for c in text if unicodedata.category(c) == "Cc" and c not in "\n\t")
            problems.append(doc.problem(path, f"contains the control character U+{ord(char):04X}; remove it", key=is_key))
            continue
        if is_key:
            continue
        if "${{" in text:
            problems.append(doc.problem(path, "contains '${{', a GitHub Actions expression; ml.yaml values are data, "
                                        "not expressions (use an environment variable name where the schema offers one)"))
            continue
        for pattern, what in _SECRETS:
            if pattern.search(text):
                problems.append(doc.problem(path, f"looks like {what}; never write secrets in ml.yaml: store it as a "
                                            "repository secret and pass it through an environment variable named in ml.yaml"))
                break
    return problems
