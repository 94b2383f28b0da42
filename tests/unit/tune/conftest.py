"""A scratch model repository with tuning on, loaded as the typed Config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ml_ci.config import load_config
from ml_ci.config.model import Config
from tests.modelrepo import make_model_repo

SPACE = {
    "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
    "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2, "step": 0.1},
    "batch_size": {"type": "categorical", "choices": [8, 16]},
}

MakeConfig = Callable[..., Config]


@pytest.fixture
def make_config(tmp_path: Path) -> MakeConfig:
    def make(*, train: dict[str, Any] | None = None, **tune: Any) -> Config:
        """tune.* settings as keywords; train.* ones under train=."""
        settings: dict[str, Any] = {"enabled": True, "trials": 6, "search_space": SPACE, **tune}
        root = tmp_path / f"repo{len(list(tmp_path.iterdir()))}"
        overrides: dict[str, Any] = {"tune": settings, **({"train": train} if train else {})}
        return load_config(make_model_repo(root, n_train=20, n_val=10, n_test=10, overrides=overrides)).config

    return make


__all__ = ["MakeConfig", "make_config"]
