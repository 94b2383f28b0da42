"""`python -m ml_ci.serve` flags, with ML_CI_SERVE_* variables as fallbacks (the image sets those)."""

from __future__ import annotations

from pathlib import Path

from ml_ci.serve.__main__ import parse
from ml_ci.serve.limits import Limits


def test_defaults() -> None:
    model, host, port, limits = parse([], {})
    assert (model, host, port, limits) == (Path(".ml-ci/artifacts/export"), "127.0.0.1", 8080, Limits())


def test_environment_then_flags() -> None:
    env = {"ML_CI_SERVE_MODEL": "/opt/model", "ML_CI_SERVE_HOST": "0.0.0.0", "ML_CI_SERVE_PORT": "9000",
           "ML_CI_SERVE_MAX_BATCH_SIZE": "64", "ML_CI_SERVE_MAX_BATCH_DELAY_MS": "2.5"}
    model, host, port, limits = parse(["--port", "9100", "--max-texts", "7"], env)
    assert (model, host, port) == (Path("/opt/model"), "0.0.0.0", 9100)
    assert (limits.max_batch_size, limits.max_batch_delay_ms, limits.max_texts) == (64, 2.5, 7)
