"""The pure parts of running the model (no torch here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ml_ci.errors import OperationalError
from ml_ci.evaluate.dataset import split_role
from ml_ci.evaluate.inference import check_finite, check_model_dir, label_columns
from tests.unit.evaluate.conftest import MakeConfig


def test_model_outputs_are_reordered_to_the_config_labels() -> None:
    assert label_columns(["positive", "negative"], ("negative", "positive"), Path("m")) == [1, 0]
    with pytest.raises(OperationalError, match=r"predicts labels \['LABEL_0', 'LABEL_1'\], but ml.yaml data.labels"):
        label_columns(["LABEL_0", "LABEL_1"], ("negative", "positive"), Path("m"))


def test_a_folder_without_weights_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(OperationalError, match=r"has no weights \(model.safetensors or pytorch_model.bin\)"):
        check_model_dir(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(OperationalError, match=r"has no config\.json: it is not a Hugging Face model folder"):
        check_model_dir(tmp_path / "empty")


def test_nan_probabilities_are_refused_with_where() -> None:
    probs = np.array([[0.5, 0.5], [np.nan, np.nan], [0.1, 0.9], [np.inf, 0.0]])
    with pytest.raises(OperationalError, match=r"for 2 of 4 examples \(the first at index 1\)"):
        check_finite(probs)
    check_finite(probs[[0, 2]])


def test_the_split_falls_back_to_validation_without_a_test_split(make_config: MakeConfig) -> None:
    assert split_role(make_config()) == "test"
    assert split_role(make_config(evaluate={"split": "validation"})) == "validation"
    config = make_config()
    no_test = dataclasses.replace(config, data=dataclasses.replace(config.data, test=None))
    assert split_role(no_test) == "validation"
