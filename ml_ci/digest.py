"""sha256 of files read in blocks, so that a model's weights (gigabytes) are never held whole in memory."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

_CHUNK = 1 << 20


class Hash(Protocol):
    """What hashlib's objects offer that these helpers use (hashlib's own type is private)."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


def update_from_file(digest: Hash, path: Path) -> None:
    """Feed path's bytes into digest (a running sha256 over several files, say)."""
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)


def file_sha256(path: Path) -> str:
    """The hex sha256 of path's bytes, without a `sha256:` prefix."""
    digest = hashlib.sha256()
    update_from_file(digest, path)
    return digest.hexdigest()
