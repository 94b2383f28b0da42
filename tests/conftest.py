"""Shared fixtures. Services: see tests/services.py."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "sentiment"

# No test may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def restore_quiet_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every `ml-ci` command switches library progress bars off through the environment
    (ml_ci.progress.QUIET_ENV) when not on a terminal: a command run in-process by one test must not
    decide for the tests after it."""
    from ml_ci.progress import QUIET_ENV

    before = {name: os.environ.get(name) for name in QUIET_ENV}
    # The libraries read the variables once, at import: whichever test imported them while a command had
    # set one must not decide for the tests after it.
    for module, name in (
        ("huggingface_hub.utils.tqdm", "HF_HUB_DISABLE_PROGRESS_BARS"),
        ("datasets.utils.tqdm", "HF_DATASETS_DISABLE_PROGRESS_BARS"),
    ):
        if module in sys.modules:
            monkeypatch.setattr(sys.modules[module], name, None)
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
