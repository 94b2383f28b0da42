"""image.platforms: one platform, the Docker engine's own, or a clear refusal (never accepted and ignored)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_ci.build.stage import check_platforms
from ml_ci.config import load_config
from ml_ci.errors import ConfigError
from tests.modelrepo import make_model_repo


def repo(tmp_path: Path, platforms: list[str]) -> Path:
    return make_model_repo(tmp_path, overrides={"image": {"registry": "127.0.0.1:5000", "platforms": platforms}})


def test_a_multi_platform_image_is_refused_at_validate_time(tmp_path: Path) -> None:
    path = repo(tmp_path, ["linux/amd64", "linux/arm64"])
    with pytest.raises(ConfigError) as e:
        load_config(path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "platforms" in text)
    [problem] = e.value.problems
    assert (problem.line, problem.path) == (line, "image.platforms")
    assert problem.message.startswith("linux/amd64, linux/arm64: multi-platform images are not built yet")


def test_the_engines_own_platform_builds(tmp_path: Path) -> None:
    check_platforms(load_config(repo(tmp_path, ["linux/amd64"])).config, "linux/amd64")


def test_another_platform_is_refused_with_its_line_before_anything_is_built(tmp_path: Path) -> None:
    path = repo(tmp_path, ["linux/arm64"])
    config = load_config(path).config  # valid: on an arm64 engine it builds
    with pytest.raises(ConfigError) as e:
        check_platforms(config, "linux/amd64")
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "platforms" in text)
    assert str(e.value) == (
        f"{path}:{line}:{e.value.problems[0].col}: image.platforms: linux/arm64 cannot be built by this "
        "Docker engine, which builds linux/amd64 images only (ml-ci builds one image, for the engine's "
        "own platform); set image.platforms: [linux/amd64] or build on a linux/arm64 machine"
    )
