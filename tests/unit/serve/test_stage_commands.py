"""`ml-ci export`, `build` and `serve` fail early, with exit 1 and the next step, when their input is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_ci.cli.main import main
from tests.modelrepo import make_model_repo


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("serve", "no exported model (model.json); run `ml-ci export` first"),
        ("build", "model.json is missing; run `ml-ci export` first"),
    ],
)
def test_missing_export(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, message: str) -> None:
    path = make_model_repo(tmp_path)
    assert main([command, "-c", str(path)]) == 1
    assert message in capsys.readouterr().err


def test_torch_packaging_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_model_repo(tmp_path, overrides={"package": {"format": "torch"}})
    assert main(["export", "-c", str(path)]) == 2
    assert "package.format: 'torch' is not one of: onnx" in capsys.readouterr().err
