"""Git's rules for the branch names ml.yaml gives (`git check-ref-format --branch`), in words.

The schema's pattern for deploy.gitops.branch says the same for editors; this names the rule a value breaks.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Within the characters the schema allows (a space, '~', '^', ':', '?', '*', '[', '\\' and '@' are not).
_BRANCH_RULES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda b: b.startswith("-"), "starts with '-', which git reads as an option"),
    (lambda b: b.startswith("/") or b.endswith("/") or "//" in b, "has an empty component ('/' at an end, or '//')"),
    (lambda b: ".." in b, "contains '..'"),
    (lambda b: any(part.startswith(".") for part in b.split("/")), "has a component that starts with '.'"),
    (lambda b: any(part.endswith(".lock") for part in b.split("/")), "has a component that ends in '.lock'"),
    (lambda b: b.endswith("."), "ends with '.'"),
    (lambda b: b == "HEAD", "is HEAD, which git keeps for the current commit"),
)


def branch_reason(value: str, what: str) -> str | None:
    """Why value, at key `what`, is not a branch name git accepts (None: the characters are the problem)."""
    if not re.fullmatch(r"[A-Za-z0-9._/-]+", value):
        return None
    for broken, why in _BRANCH_RULES:
        if broken(value):
            return f"{value!r} {why}; {what} must be a branch name git accepts, such as main or deploy/models"
    return None
