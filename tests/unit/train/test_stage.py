"""The train stage's effectful edges that need no training: cache keys from files, checkpoint
ownership for --resume, and the files --emit-k8s writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ml_ci.config import load_config
from ml_ci.config.model import Config
from ml_ci.errors import ConfigError
from ml_ci.train.stage import TrainOptions, emit_k8s, gather_inputs, prepare_checkpoints
from tests.modelrepo import make_model_repo


@pytest.fixture
def config(tmp_path: Path) -> Config:
    model = tmp_path / "models/base"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"w")
    return load_config(make_model_repo(tmp_path, overrides={"model": {"base": "models/base"}})).config


def test_key_changes_with_data_base_model_and_params_file(config: Config, tmp_path: Path) -> None:
    key = gather_inputs(config, None).key
    assert gather_inputs(config, None).key == key
    params = tmp_path / "best.json"
    params.write_text(json.dumps({"learning_rate": 3e-5}))
    assert gather_inputs(config, params).key != key
    (tmp_path / "models/base/model.safetensors").write_bytes(b"v")
    after_model = gather_inputs(config, None).key
    assert after_model != key
    with (tmp_path / "data/train.csv").open("a") as f:
        f.write("one more row,positive\n")
    assert gather_inputs(config, None).key != after_model


def test_a_bad_params_file_fails_before_anything_is_hashed_or_written(config: Config, tmp_path: Path) -> None:
    params = tmp_path / "best.json"
    params.write_text(json.dumps({"epochs": -1}))
    with pytest.raises(ConfigError, match=r"train\.epochs: -1 is less than or equal to the minimum of 0"):
        gather_inputs(config, params)
    assert not (tmp_path / ".ml-ci").exists()


def test_checkpoints_belong_to_one_key(tmp_path: Path) -> None:
    said: list[str] = []
    work = tmp_path / "work"
    checkpoints = prepare_checkpoints(work, "k1", False, said.append)
    (checkpoints / "checkpoint-2").mkdir(parents=True)
    prepare_checkpoints(work, "k1", True, said.append)
    assert (checkpoints / "checkpoint-2").is_dir() and said == []  # resume keeps them
    prepare_checkpoints(work, "k2", True, said.append)
    assert not (checkpoints / "checkpoint-2").exists()  # other inputs: start over, and say so
    assert said == ["the checkpoints in .ml-ci/work/train belong to other inputs: training from the start"]
    (checkpoints / "checkpoint-4").mkdir(parents=True)
    prepare_checkpoints(work, "k2", False, said.append)
    assert not (checkpoints / "checkpoint-4").exists()  # without --resume a run starts clean


def test_emit_k8s_writes_the_job_and_a_kustomization_beside_it(config: Config, tmp_path: Path) -> None:
    written = emit_k8s(config, TrainOptions(image="reg/img:1"), tmp_path / "k8s/job.yaml")
    assert written == [tmp_path / "k8s/job.yaml", tmp_path / "k8s/kustomization.yaml"]
    assert sorted(p.name for p in (tmp_path / "k8s").iterdir()) == ["job.yaml", "kustomization.yaml"]
    assert yaml.safe_load((tmp_path / "k8s/kustomization.yaml").read_text())["resources"] == ["job.yaml"]
    job = yaml.safe_load((tmp_path / "k8s/job.yaml").read_text())
    assert job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["image"] == "reg/img:1"
