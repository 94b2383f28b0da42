"""A typed Config from a scratch model repository, with evaluate/deploy sections overridden."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ml_ci.config import Config, load_config
from tests.modelrepo import make_model_repo

MakeConfig = Callable[..., Config]


@pytest.fixture
def make_config(tmp_path: Path) -> MakeConfig:
    def make(**overrides: Any) -> Config:
        path = make_model_repo(tmp_path / "repo", n_train=20, n_val=10, n_test=10, overrides=overrides)
        return load_config(path).config

    return make
