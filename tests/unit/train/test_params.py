"""Hyperparameters: ml.yaml's train section merged with tuned overrides, validated like ml.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_ci.config import load_config
from ml_ci.config.model import Config
from ml_ci.errors import ConfigError
from ml_ci.train.params import merge, read_params_file, validate_overrides
from tests.modelrepo import make_model_repo


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(make_model_repo(tmp_path)).config


def test_no_overrides_is_the_train_section(config: Config) -> None:
    hp = merge(config.train)
    assert (hp.learning_rate, hp.batch_size, hp.seed, hp.epochs) == (1.0e-4, 16, 7, 1)


def test_overrides_replace_only_their_keys_and_accept_the_train_prefix(config: Config) -> None:
    hp = merge(config.train, {"train.learning_rate": 3e-5, "warmup_ratio": 0.2})
    assert (hp.learning_rate, hp.warmup_ratio, hp.batch_size) == (3e-5, 0.2, 16)


def test_whole_floats_from_json_are_accepted_for_integer_keys() -> None:
    assert validate_overrides({"batch_size": 32.0}, source="p.json") == {"batch_size": 32}


def test_every_bad_key_and_value_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as e:
        validate_overrides(
            {"learning_rat": 1e-4, "batch_size": 0, "precision": "fp8", "seed": True, "distributed": {}}, source="best.json"
        )
    assert [str(p) for p in e.value.problems] == [
        "best.json: train.learning_rat: unknown hyperparameter; did you mean 'learning_rate'?",
        "best.json: train.batch_size: 0 is less than the minimum of 1",
        "best.json: train.precision: 'fp8' is not one of ['auto', 'fp32', 'bf16', 'fp16']",
        "best.json: train.seed: True is not a number",
        "best.json: train.distributed: unknown hyperparameter (scale-out is set in ml.yaml only); known keys: "
        "epochs, batch_size, learning_rate, weight_decay, warmup_ratio, gradient_accumulation_steps, eval_steps, seed, precision",
    ]


def test_params_file_flat_or_under_params(tmp_path: Path) -> None:
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"learning_rate": 2e-5}))
    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps({"params": {"train.weight_decay": 0.1}, "value": 0.93}))
    assert read_params_file(flat) == {"learning_rate": 2e-5}
    assert read_params_file(nested) == {"weight_decay": 0.1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "the params file does not exist (run `ml-ci tune` first?)"),
        (
            "{not json",
            "cannot read the params file as JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        ("[1, 2]", "the params file must hold a JSON object of train.* keys"),
    ],
)
def test_unreadable_params_files(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "best_params.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as e:
        read_params_file(path)
    assert [p.message for p in e.value.problems] == [message]
    assert e.value.exit_code == 2
