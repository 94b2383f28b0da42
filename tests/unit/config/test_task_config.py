"""text-classification's config half: load_config stores the task's typed view of its keys as Config.spec."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pytest

from ml_ci.config import by_task, load_config
from ml_ci.tasks.text_classification import config as tc_config

CASES = Path(__file__).parent / "cases" / "positive"


def test_load_config_builds_the_tasks_spec(tmp_path: Path) -> None:
    text = (CASES / "minimal.yaml").read_text(encoding="utf-8")
    (tmp_path / "ml.yaml").write_text(text.replace("name: demo", "name: demo\ntrain: {class_weights: {positive: 4}}"))
    config = load_config(tmp_path).config
    assert tc_config.of(config) == tc_config.TextClassificationSpec(
        labels=("negative", "positive"),
        text_column="text",
        label_column="label",
        min_rows_per_class=1,
        max_class_imbalance=10.0,
        class_weights={"positive": 4},
    )
    # the data section carries the same view, for the task's data half (which is given the section)
    assert tc_config.of(config.data) is tc_config.of(config)


def test_the_generic_config_holds_none_of_the_tasks_keys(tmp_path: Path) -> None:
    """The task's keys are in its view alone: the generic dataclasses are built without them."""
    (tmp_path / "ml.yaml").write_text((CASES / "minimal.yaml").read_text(encoding="utf-8"))
    config = load_config(tmp_path).config
    for *parents, key in by_task.own_keys("text-classification"):
        section = functools.reduce(getattr, parents, config)
        assert not hasattr(section, key), (*parents, key)
    assert {f.name for f in dataclasses.fields(config.data.checks)} >= {"min_rows", "max_null_fraction"}
    # what reads a section whole (the cache keys) sees the task's keys in their places, as before
    assert by_task.section(config, "train")["class_weights"] == "none"
    data = by_task.section(config, "data")
    assert (data["labels"], data["checks"]["min_rows_per_class"]) == (["negative", "positive"], 1)
    assert data["checks"]["min_rows"] == config.data.checks.min_rows
    assert "spec" not in data
    assert by_task.own_keys("text-classification") == {
        ("data", "labels"),
        ("data", "text_column"),
        ("data", "label_column"),
        ("data", "checks", "min_rows_per_class"),
        ("data", "checks", "max_class_imbalance"),
        ("train", "class_weights"),
    }


def test_without_removes_keys_at_their_places() -> None:
    data = {"data": {"labels": ["a"], "checks": {"x": 1, "y": 2}}, "evaluate": {"gates": [{"metric": "m", "z": 3}]}}
    keys = {("data", "labels"), ("data", "checks", "x"), ("evaluate", "gates", "[]", "z")}
    assert by_task.without(data, keys) == {"data": {"checks": {"y": 2}}, "evaluate": {"gates": [{"metric": "m"}]}}
    assert data["data"] == {"labels": ["a"], "checks": {"x": 1, "y": 2}}  # copies, the input is left alone


def test_the_default_class_weights(tmp_path: Path) -> None:
    (tmp_path / "ml.yaml").write_text((CASES / "minimal.yaml").read_text(encoding="utf-8"))
    assert tc_config.of(load_config(tmp_path).config).class_weights == "none"


def test_another_tasks_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ml.yaml").write_text((CASES / "minimal.yaml").read_text(encoding="utf-8"))
    config = dataclasses.replace(load_config(tmp_path).config, task="fake-task", spec=object())
    with pytest.raises(TypeError, match="task 'fake-task' is not text-classification"):
        tc_config.of(config)
