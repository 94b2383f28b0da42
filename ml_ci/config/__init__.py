"""ml.yaml: load, validate, and the typed model built from it."""

from ml_ci.config.load import Loaded, load_config
from ml_ci.config.model import Config

__all__ = ["Config", "Loaded", "load_config"]
