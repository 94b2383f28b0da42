"""Tuning for real: `ml-ci tune` fine-tunes a tiny BERT for 3 trials, and `ml-ci train --params`
consumes the best_params.json it wrote (restoring the best trial's model). SQLite storage (the default);
nothing faked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.modelrepo import make_model_repo, tiny_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPTUNA_STORAGE", "ML_CI_TUNE_FIT")}
    env["GITHUB_OUTPUT"] = str(config.parent / "outputs.txt")
    env["GITHUB_STEP_SUMMARY"] = str(config.parent / "summary.md")
    return subprocess.run(
        [sys.executable, "-m", "ml_ci", *args, "-c", str(config)],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_tune_then_train_with_the_best_params(tmp_path: Path) -> None:
    tiny_model(tmp_path / "tiny-model")
    config = make_model_repo(
        tmp_path,
        n_train=64,
        n_val=32,
        n_test=32,
        overrides={
            "model": {"base": "tiny-model", "max_length": 32},
            "train": {"epochs": 1, "batch_size": 16, "eval_steps": 2},
            "tune": {
                "enabled": True,
                "trials": 3,
                "pruner": "median",
                "search_space": {
                    "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
                    "batch_size": {"type": "categorical", "choices": [8, 16]},
                },
            },
        },
    )
    tuned = run(config, "tune")
    assert tuned.returncode == 0, tuned.stderr
    out = tmp_path / ".ml-ci" / "artifacts" / "tune"
    best = json.loads((out / "best_params.json").read_text())
    report = json.loads((out / "report.json").read_text())
    assert set(best) == {"learning_rate", "batch_size"}
    assert best == report["best"]["params"]
    assert len(report["trials"]) == 3
    for trial in report["trials"]:
        # 64 rows, one epoch: 8 steps at batch 8, 4 at batch 16; fewer when pruned.
        full = 64 // trial["params"]["batch_size"]
        assert trial["steps"] == full if trial["state"] == "COMPLETE" else trial["steps"] < full
        assert 1e-4 <= trial["params"]["learning_rate"] <= 1e-2
    assert f"best-value={report['best']['value']!r}" in (tmp_path / "outputs.txt").read_text()
    assert "## Tuning: " in (tmp_path / "summary.md").read_text()
    assert not list((tmp_path / ".ml-ci" / "tmp" / "tune").iterdir()), "trial folders are removed"

    # A trial trained exactly this (no tune.budget): train restores the best trial's model, training nothing.
    trained = run(config, "train", "--params", str(out / "best_params.json"))
    assert trained.returncode == 0, trained.stderr
    assert "train: cache hit: restored" in trained.stdout and "training " not in trained.stderr
    art = tmp_path / ".ml-ci" / "artifacts" / "train"
    lineage = json.loads((art / "lineage.json").read_text())
    assert {k: lineage["hyperparameters"][k] for k in best} == best
    assert lineage["tune_trial"]["number"] == report["best"]["trial"]
    metrics = json.loads((art / "metrics.json").read_text())["validation"]
    assert metrics["accuracy"] == report["best"]["value"]
    kept = (art / "model" / "model.safetensors").read_bytes()
    # And it is the model training would have made: retraining gives the same weights, byte for byte.
    retrained = run(config, "train", "--params", str(out / "best_params.json"), "--no-cache")
    assert retrained.returncode == 0, retrained.stderr
    assert "training " in retrained.stderr
    assert (art / "model" / "model.safetensors").read_bytes() == kept
