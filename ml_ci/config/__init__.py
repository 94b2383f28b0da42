"""ml.yaml: load, validate, and the typed model built from it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml_ci.config.load import Checked, Loaded, check_file, load_config

if TYPE_CHECKING:
    from ml_ci.config.model import Config

__all__ = ["Checked", "Config", "Loaded", "check_file", "load_config"]


def __getattr__(name: str) -> Any:
    # The typed model is imported on first use: `ml-ci validate` never needs it (see load.py).
    if name == "Config":
        from ml_ci.config.model import Config

        return Config
    raise AttributeError(f"module 'ml_ci.config' has no attribute {name!r}")
