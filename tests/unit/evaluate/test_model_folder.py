"""The model folder and the split evaluate reads (no torch here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ml_ci.errors import OperationalError
from ml_ci.evaluate.dataset import split_role
from ml_ci.evaluate.model_folder import check_model_dir
from tests.unit.evaluate.conftest import MakeConfig


def test_a_folder_without_weights_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(OperationalError, match=r"has no weights \(model.safetensors or pytorch_model.bin\)"):
        check_model_dir(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(OperationalError, match=r"has no config\.json: it is not a Hugging Face model folder"):
        check_model_dir(tmp_path / "empty")


def test_the_split_falls_back_to_validation_without_a_test_split(make_config: MakeConfig) -> None:
    assert split_role(make_config()) == "test"
    assert split_role(make_config(evaluate={"split": "validation"})) == "validation"
    config = make_config()
    no_test = dataclasses.replace(config, data=dataclasses.replace(config.data, test=None))
    assert split_role(no_test) == "validation"
