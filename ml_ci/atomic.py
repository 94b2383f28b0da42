"""Write whole or not at all: a folder or file is made under a temporary name and renamed into place.

Every stage writes its artifacts through these, so that a failure (or a kill) leaves the previous
result or nothing, never a half-written folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def replace_dir(staged: Path, dest: Path) -> None:
    """Move a finished folder into place; an older dest is moved aside first and removed after.

    The aside name is unique, so two processes replacing one folder never trip over each other."""
    old: Path | None = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}-{os.urandom(4).hex()}")
        os.replace(dest, old)
    os.replace(staged, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged_dir(dest: Path, *, name: str | None = None) -> Iterator[Path]:
    """A temporary sibling of dest to write into; renamed to dest when the block succeeds and
    removed when it fails, so dest is either the old folder or the complete new one.

    `name` fixes the temporary folder's name (processes of one distributed run must agree on it)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if name is None:
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    else:
        tmp = dest.parent / name
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    tmp.chmod(0o755)  # mkdtemp makes it private; artifacts are read by other users (the image's non-root user)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, dest)


def write_text(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Text to a temporary sibling, then renamed over path: a reader (or a kill) never sees half a file.

    mkstemp makes the file private; `mode` opens it up (artifacts and generated files are read by other
    users, e.g. the image's non-root user). LF line ends on every platform: the files are compared by hash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """JSON (indented by 2, keys in their order, a final newline) written whole, as write_text."""
    write_text(path, json.dumps(data, indent=2) + "\n")
