"""Compare generated files with the disk, then write them: the plan is pure, the write atomic.

A generated file whose body no longer matches the hash in its header was edited by hand, and a
file without our header was written by someone else: neither is overwritten without --force.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from ml_ci.errors import OperationalError
from ml_ci.generate import header

Status = Literal["create", "identical", "changed", "hand-edited", "foreign"]
BLOCKED: frozenset[str] = frozenset({"hand-edited", "foreign"})


@dataclass(frozen=True)
class FilePlan:
    path: str  # relative to the model repository
    status: Status
    new: str
    old: Optional[str]

    def diff(self) -> str:
        return "".join(difflib.unified_diff((self.old or "").splitlines(keepends=True), self.new.splitlines(keepends=True),
                                            fromfile=f"a/{self.path}", tofile=f"b/{self.path}"))


def classify(new: str, old: Optional[str]) -> Status:
    if old is None:
        return "create"
    if old == new:
        return "identical"
    parsed = header.parse(old)
    if not parsed.generated:
        return "foreign"
    return "changed" if parsed.intact else "hand-edited"


def plan(root: Path, rendered: dict[str, str]) -> list[FilePlan]:
    out = []
    for rel, new in sorted(rendered.items()):
        try:
            old: Optional[str] = (root / rel).read_text(encoding="utf-8")
        except FileNotFoundError:
            old = None
        except (OSError, UnicodeDecodeError) as e:
            raise OperationalError(f"{rel}: cannot read: {e}") from None
        out.append(FilePlan(rel, classify(new, old), new, old))
    return out


def refusal(plans: list[FilePlan]) -> Optional[str]:
    blocked = [p for p in plans if p.status in BLOCKED]
    if not blocked:
        return None
    lines = [f"  {p.path}: " + ("edited by hand since it was generated" if p.status == "hand-edited"
                                else "not written by ml-ci generate") for p in blocked]
    return ("refusing to overwrite:\n" + "\n".join(lines) +
            "\nmove your changes into ml.yaml (or the options of ml-ci generate), or rerun with --force to overwrite")


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; a workflow file is an ordinary tracked file
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def apply(root: Path, plans: list[FilePlan]) -> None:
    for p in plans:
        if p.status != "identical":
            write_atomic(root / p.path, p.new)
