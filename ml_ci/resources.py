"""Files that ship with ml-ci: the schema, templates and composite actions.

In a wheel they live under ml_ci/_data (see pyproject's force-include); in a source
checkout they are the repository's top-level folders.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

_PKG = Path(__file__).resolve().parent


def resource(relative: str) -> Path:
    for base in (_PKG / "_data", _PKG.parent):
        candidate = base / relative
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"ml-ci resource {relative} is missing from this installation")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    with resource("schemas/ml.schema.json").open(encoding="utf-8") as f:
        return json.load(f)  # type: ignore[no-any-return]
