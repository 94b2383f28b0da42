"""Files of the export artifact: hashes and optional JSON inputs; whole-or-nothing writes come from ml_ci.atomic."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ml_ci.atomic import staged_dir, write_json

__all__ = ["read_json", "sha256_file", "staged_dir", "write_json"]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_json(path: Path) -> Any:
    """The JSON in path, or None when the file is absent or unreadable (an optional input)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
