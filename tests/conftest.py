"""Shared fixtures. Services are found through ML_CI_TEST_* variables that .ci/services.sh prints.

With CI=true a test whose service is missing fails instead of skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "sentiment"


def require_service(var: str, what: str) -> str:
    """The service's address from the environment; skip locally, fail in CI, when it is missing."""
    value = os.environ.get(var)
    if not value:
        message = f"{what} is not available: set {var} (bash .ci/services.sh starts it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return value


@pytest.fixture
def repo_root() -> Path:
    return ROOT
