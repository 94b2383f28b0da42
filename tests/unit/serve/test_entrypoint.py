"""`python -m ml_ci.serve` flags, with ML_CI_SERVE_* variables as fallbacks (the image sets those)."""

from __future__ import annotations

from pathlib import Path

from ml_ci.serve.__main__ import parse
from ml_ci.serve.limits import Limits


def test_defaults() -> None:
    model, host, port, limits = parse([], {})
    assert (model, host, port, limits) == (Path(".ml-ci/artifacts/export"), "127.0.0.1", 8080, Limits())


def test_environment_then_flags() -> None:
    env = {
        "ML_CI_SERVE_MODEL": "/opt/model",
        "ML_CI_SERVE_HOST": "0.0.0.0",
        "ML_CI_SERVE_PORT": "9000",
        "ML_CI_SERVE_MAX_BATCH_SIZE": "64",
        "ML_CI_SERVE_MAX_BATCH_DELAY_MS": "2.5",
    }
    model, host, port, limits = parse(["--port", "9100", "--max-texts", "7"], env)
    assert (model, host, port) == (Path("/opt/model"), "0.0.0.0", 9100)
    assert (limits.max_batch_size, limits.max_batch_delay_ms, limits.max_texts) == (64, 2.5, 7)


def test_the_image_serves_with_ml_yamls_settings(tmp_path: Path) -> None:
    """The image's ENV carries every serve setting of ml.yaml to `python -m ml_ci.serve`, drain_seconds
    included (docker stop and compose get the configured drain, not the default)."""
    from ml_ci.build.plan import render_dockerfile
    from ml_ci.config import load_config
    from tests.modelrepo import make_model_repo

    serve = {
        "max_batch_size": 8,
        "max_batch_delay_ms": 2.5,
        "max_body_bytes": 4096,
        "max_texts": 3,
        "max_text_chars": 50,
        "threads": 1,
        "drain_seconds": 7.5,
    }
    config = load_config(make_model_repo(tmp_path, overrides={"serve": serve})).config
    text = render_dockerfile(config).replace("\\\n", " ")
    env_line = next(line for line in text.splitlines() if line.startswith("ENV ") and "ML_CI_SERVE_" in line)
    env = dict(item.split("=", 1) for item in env_line[4:].split())
    _, _, _, limits = parse([], env)
    assert {k: getattr(limits, k) for k in serve} == serve
