"""Which runner labels ml-ci declares for actionlint (ml_ci/generate/lintconfig.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from ml_ci.config import load_config
from ml_ci.config.model import Config
from ml_ci.generate.lintconfig import ACTIONLINT_FILE, actionlint_config, custom_labels
from ml_ci.generate.render import render
from tests.golden.variants import GOLDEN, options_for

CONFIG = load_config(GOLDEN / "minimal" / "ml.yaml").config


def with_runners(runner: tuple[str, ...], gpu_runner: tuple[str, ...] | None = None) -> Config:
    return replace(CONFIG, ci=replace(CONFIG.ci, runner=runner, gpu_runner=gpu_runner))


@pytest.mark.parametrize(
    ("runner", "gpu_runner", "declared"),
    [
        (("ubuntu-latest",), None, []),
        (("ubuntu-24.04-arm",), ("macos-14-large",), []),
        (("self-hosted", "linux", "x64"), ("self-hosted", "Linux", "ARM64"), []),
        (("self-hosted", "linux", "x64"), ("self-hosted", "gpu", "a100"), ["a100", "gpu"]),
        (("my-org-large-runner",), None, ["my-org-large-runner"]),
        (("self-hosted", "gpu"), ("self-hosted", "gpu"), ["gpu"]),
    ],
)
def test_custom_labels(runner: tuple[str, ...], gpu_runner: tuple[str, ...] | None, declared: list[str]) -> None:
    config = with_runners(runner, gpu_runner)
    assert custom_labels(config) == declared
    body = actionlint_config(config)
    if declared:
        assert body is not None and yaml.safe_load(body) == {"self-hosted-runner": {"labels": declared}}
    else:
        assert body is None


def test_the_gpu_variant_declares_its_labels() -> None:
    folder = GOLDEN / "gpu-runners"
    rendered = render(load_config(folder / "ml.yaml").config, options_for(folder))
    assert yaml.safe_load(rendered[ACTIONLINT_FILE]) == {"self-hosted-runner": {"labels": ["a100", "gpu"]}}
    assert ACTIONLINT_FILE not in render(CONFIG, options_for(GOLDEN / "minimal"))
