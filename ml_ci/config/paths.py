"""Paths in ml.yaml name files inside the model repository, never anywhere else."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def outside_reason(value: str, what: str) -> str | None:
    """Why value, written at key `what`, cannot be a path inside the repository (from its text alone)."""
    if URL.match(value):
        return (
            f"{value!r} is a URL; {what} must be a path inside the repository "
            "(commit the file, or use data.hub for a hub dataset)"
        )
    if value.startswith("~"):
        return f"{value!r} is in a home folder; {what} must be a path relative to the repository root"
    pure = PurePosixPath(value.replace("\\", "/"))
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", value):
        return f"{value!r} is an absolute path; {what} must be relative to the repository root"
    if ".." in pure.parts:
        return f"{value!r} leaves the repository ('..'); {what} must stay inside it"
    if "\x00" in value:
        return f"{value!r} contains a NUL character"
    return None


def escapes_through_link(root: Path, value: str) -> bool:
    """True when value, inside the repository as written, resolves outside it through a symbolic link."""
    real_root = root.resolve()
    target = (root / value).resolve()
    return target != real_root and real_root not in target.parents
