"""Read a JSON file once, the same way everywhere; each reader words its own message from why it failed.

Records between stages are read by several stages, and each names the file for its reader ("the
evaluation record ... does not exist", "...: the image record is missing; run ..."): the reading and
the sorting of what went wrong live here, the wording stays with the record it is about.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from ml_ci.errors import OperationalError

Reason = Literal["missing", "folder", "unreadable", "invalid"]


class JsonFileError(OperationalError):
    """Why path could not be read as JSON.

    reason: missing (no such file), folder (a folder stands there), unreadable (an OS error or bytes that
    are not UTF-8), invalid (not JSON). detail: the underlying error's text (str of it; empty when missing);
    for invalid JSON also the parser's bare message (msg) and where (line, col). A plain exception, not a
    frozen dataclass: Python sets __traceback__ and __context__ on it while it propagates."""

    def __init__(self, path: Path, reason: Reason, error: BaseException | None = None) -> None:
        self.path, self.reason = path, reason
        self.detail = "" if error is None else str(error)
        self.msg, self.line, self.col = (
            (error.msg, error.lineno, error.colno) if isinstance(error, json.JSONDecodeError) else ("", 0, 0)
        )
        super().__init__(f"{path}: {_WHY[reason]}" + (f": {self.detail}" if self.detail else ""))


_WHY: dict[Reason, str] = {
    "missing": "does not exist",
    "folder": "is a folder, not a file",
    "unreadable": "cannot be read",
    "invalid": "is not valid JSON",
}


def load_json(path: Path) -> Any:
    """path's JSON value; JsonFileError when it is absent, a folder, unreadable or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JsonFileError(path, "missing") from None
    except IsADirectoryError as e:
        raise JsonFileError(path, "folder", e) from None
    except (OSError, UnicodeDecodeError) as e:
        raise JsonFileError(path, "unreadable", e) from None
    except json.JSONDecodeError as e:
        raise JsonFileError(path, "invalid", e) from None


def read_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from a file, or an OperationalError that names it (`what`, a noun such as "the
    evaluation record") and says why."""
    try:
        data = load_json(path)
    except JsonFileError as e:
        why = {
            "missing": "does not exist",
            "folder": "is a folder, not a file",
            "unreadable": f"cannot be read: {e.detail}",
            "invalid": f"is not valid JSON: {e.msg} at line {e.line}",
        }[e.reason]
        raise OperationalError(f"{what} {path} {why}") from None
    if not isinstance(data, dict):
        raise OperationalError(f"{what} {path} is not a JSON object")
    return data


def read_json(path: Path, what: str, hint: str) -> Any:
    """A record another stage wrote, or an OperationalError that starts with the path (so that an editor
    jumps to it), names the record (`what`) and says what to do when it is missing (`hint`)."""
    try:
        return load_json(path)
    except JsonFileError as e:
        if e.reason == "missing":
            raise OperationalError(f"{path}: {what} is missing; {hint}") from None
        if e.reason == "invalid":
            raise OperationalError(f"{path}:{e.line}:{e.col}: {what} is not valid JSON: {e.msg}") from None
        raise OperationalError(f"{path}: cannot read {what}: {e.detail}") from None


def read_optional(path: Path) -> Any:
    """path's JSON value, or None when the file is absent or cannot be read as JSON (an optional input)."""
    try:
        return load_json(path)
    except JsonFileError:
        return None
