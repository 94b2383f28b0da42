"""Compare generated files with the disk, then write them: the plan is pure, the write atomic.

A generated file whose body no longer matches the hash in its header was edited by hand, and a
file without our header was written by someone else: neither is overwritten without --force. In the
folders ml-ci manages, a generated file that is no longer rendered is removed, under the same rule.
"""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from ml_ci.atomic import write_text
from ml_ci.errors import OperationalError
from ml_ci.generate import header
from ml_ci.generate.lintconfig import ACTIONLINT_FILE

Status = Literal["create", "identical", "changed", "remove", "hand-edited", "foreign"]
BLOCKED: frozenset[str] = frozenset({"hand-edited", "foreign"})


@dataclass(frozen=True)
class FilePlan:
    path: str  # relative to the model repository
    status: Status
    new: Optional[str]  # None: the file should no longer exist
    old: Optional[str]

    def diff(self) -> str:
        old, new = (self.old or "").splitlines(keepends=True), (self.new or "").splitlines(keepends=True)
        return "".join(difflib.unified_diff(old, new, fromfile=f"a/{self.path}", tofile=f"b/{self.path}"))


def classify(new: Optional[str], old: Optional[str]) -> Status:
    if old is None:
        return "identical" if new is None else "create"
    if old == new:
        return "identical"
    parsed = header.parse(old)
    if not parsed.generated:
        return "foreign"
    if not parsed.intact:
        return "hand-edited"
    return "remove" if new is None else "changed"


def _read(root: Path, rel: str) -> Optional[str]:
    try:
        return (root / rel).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise OperationalError(f"{rel}: cannot read: {e}") from None


def _leftovers(root: Path, rendered: dict[str, str], managed: tuple[str, ...]) -> list[str]:
    """Managed files, and files under the managed folders, that are not rendered this time."""
    found = {
        p.relative_to(root).as_posix()
        for entry in managed
        for p in ([root / entry] if (root / entry).is_file() else (root / entry).rglob("*"))
        if p.is_file()
    }
    return sorted(found - set(rendered))


# Generated files that give way to a file of the repository's own: its own actionlint configuration
# (either name actionlint reads) stays its owner's, who declares the runner labels there; refusing it
# would block every `ml-ci generate`, and writing the other name beside it would shadow it.
YIELD_TO_OWN: dict[str, tuple[str, ...]] = {ACTIONLINT_FILE: (ACTIONLINT_FILE, ACTIONLINT_FILE.removesuffix(".yaml") + ".yml")}


def _yields(root: Path, rel: str) -> bool:
    for other in YIELD_TO_OWN.get(rel, ()):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if (root / other).is_file() and not header.parse((root / other).read_text(encoding="utf-8")).generated:
                return True
    return False


def plan(root: Path, rendered: dict[str, str], *, managed: tuple[str, ...] = ()) -> list[FilePlan]:
    """What writing `rendered` does to each file; in the `managed` folders (or of the managed files), also
    to generated files no longer rendered (removed). A file there that ml-ci did not write is none of its business."""
    rendered = {rel: text for rel, text in rendered.items() if not _yields(root, rel)}
    out = [FilePlan(rel, classify(new, old), new, old) for rel, new in rendered.items() for old in [_read(root, rel)]]
    for rel in _leftovers(root, rendered, managed):
        with contextlib.suppress(OSError, UnicodeDecodeError):  # unreadable: not a file ml-ci wrote
            old = (root / rel).read_text(encoding="utf-8")
            if header.parse(old).generated:
                out.append(FilePlan(rel, classify(None, old), None, old))
    return sorted(out, key=lambda p: p.path)


def refusal(plans: list[FilePlan]) -> Optional[str]:
    blocked = [p for p in plans if p.status in BLOCKED]
    if not blocked:
        return None
    lines = [
        f"  {p.path}: "
        + (
            "not written by ml-ci generate"
            if p.status == "foreign"
            else "edited by hand since it was generated" + (", and no longer generated" if p.new is None else "")
        )
        for p in blocked
    ]
    return (
        "refusing to overwrite:\n"
        + "\n".join(lines)
        + "\nmove your changes into ml.yaml (or the options of ml-ci generate), or rerun with --force to overwrite"
    )


def remove(root: Path, rel: str) -> None:
    """Delete a file, then the folders it leaves empty (an action's folder), never root itself."""
    path = root / rel
    path.unlink(missing_ok=True)
    for parent in path.parents:
        if parent == root or not parent.is_relative_to(root):
            return
        try:
            parent.rmdir()
        except OSError:  # not empty: keep it and everything above
            return


def apply(root: Path, plans: list[FilePlan]) -> None:
    for p in plans:
        if p.status == "identical":
            continue
        if p.new is None:
            remove(root, p.path)
        else:
            write_text(root / p.path, p.new)
