"""text-classification's config half: load_config stores the task's typed view of its keys as Config.spec."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ml_ci.config import load_config
from ml_ci.tasks.text_classification import config as tc_config

CASES = Path(__file__).parent / "cases" / "positive"


def test_load_config_builds_the_tasks_spec(tmp_path: Path) -> None:
    text = (CASES / "minimal.yaml").read_text(encoding="utf-8")
    (tmp_path / "ml.yaml").write_text(text.replace("name: demo", "name: demo\ntrain: {class_weights: {positive: 4}}"))
    config = load_config(tmp_path).config
    assert tc_config.of(config) == tc_config.TextClassificationSpec(
        labels=("negative", "positive"), text_column="text", label_column="label", class_weights={"positive": 4}
    )
    # the same values the typed Config still carries for the stages that read them there
    assert (config.data.labels, config.data.text_column, config.data.label_column) == (("negative", "positive"), "text", "label")


def test_the_default_class_weights(tmp_path: Path) -> None:
    (tmp_path / "ml.yaml").write_text((CASES / "minimal.yaml").read_text(encoding="utf-8"))
    assert tc_config.of(load_config(tmp_path).config).class_weights == "none"


def test_another_tasks_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ml.yaml").write_text((CASES / "minimal.yaml").read_text(encoding="utf-8"))
    config = dataclasses.replace(load_config(tmp_path).config, task="fake-task", spec=object())
    with pytest.raises(TypeError, match="task 'fake-task' is not text-classification"):
        tc_config.of(config)
