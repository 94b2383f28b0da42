"""tune.budget and the reuse of a full trial: trials on part of train for fewer epochs, and, without a
budget, the best trial's model standing in for `ml-ci train --params best_params.json` (no retraining)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from ml_ci.config.model import Config
from ml_ci.errors import ConfigError
from ml_ci.pipeline.layout import Layout
from ml_ci.train import stage
from ml_ci.train.fit import FitResult
from ml_ci.train.params import merge
from ml_ci.tune import budget
from ml_ci.tune import run as tune_run
from ml_ci.tune.plan import study_name
from tests.unit.cache.scratch import config as load
from tests.unit.cache.scratch import scratch, set_yaml

CALLS: list[dict[str, Any]] = []


def fit_with_model(config: Config, splits: Any, *, overrides: dict[str, Any], output_dir: Path, report: Any = None) -> FitResult:
    """A trainer that saves a 'model' naming its parameters; accuracy peaks at learning_rate 1e-4."""
    CALLS.append({"rows": len(splits["train"]), "overrides": dict(overrides)})
    accuracy = 0.95 - 0.1 * (math.log10(float(overrides["learning_rate"])) + 4) ** 2
    model = output_dir / "model"
    model.mkdir(parents=True)
    (model / "model.safetensors").write_text(json.dumps(overrides, sort_keys=True))
    if report is not None:
        report(10, {"accuracy": accuracy, "f1_macro": accuracy})
    return FitResult(
        metrics={"accuracy": accuracy, "f1_macro": accuracy, "loss": 0.5},
        loss_curve=((1, 0.7),),
        eval_curve=((10, {"accuracy": accuracy}),),
        steps=10,
        model_dir=model,
        hparams=merge(config.train, overrides),
        precision="fp32",
        world_size=1,
        seconds=0.0,
    )


ENV = {tune_run.FIT_HOOK_ENV: f"{__name__}:fit_with_model"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    CALLS.clear()
    root = scratch(tmp_path / "repo")
    set_yaml(root, "tune.trials", 3)
    return root


def test_rows_are_a_seeded_part_of_train_in_file_order() -> None:
    assert budget.rows(10, 1.0, 7) == list(range(10))
    picked = budget.rows(100, 0.25, 7)
    assert len(picked) == 25 and picked == sorted(picked) and picked == budget.rows(100, 0.25, 7)
    assert picked != budget.rows(100, 0.25, 8)
    assert len(budget.rows(3, 0.01, 7)) == 1  # never no rows


def test_budgeted_trials_train_on_part_of_train_for_the_budgets_epochs(repo: Path) -> None:
    set_yaml(repo, "tune.budget", {"train_fraction": 0.5, "epochs": 0.5})
    result = tune_run.tune(load(repo), tune_run.TuneOptions(), env=ENV)
    assert result.ran == 3
    assert [c["rows"] for c in CALLS] == [10, 10, 10]  # of the scratch repository's 20
    assert all(c["overrides"]["epochs"] == 0.5 for c in CALLS)
    best = json.loads((Layout(repo).artifacts("tune") / "best_params.json").read_text())
    assert "epochs" not in best  # the best parameters train in full: train.epochs
    assert not (Layout(repo).cache / "train").exists()  # a budgeted trial is no stand-in for training


def test_a_budget_is_its_own_study_and_cannot_also_tune_epochs(repo: Path) -> None:
    plain = study_name(load(repo), "sha256:d")
    set_yaml(repo, "tune.budget", {"train_fraction": 0.25})
    assert study_name(load(repo), "sha256:d") != plain
    set_yaml(repo, "tune.budget", {})
    assert study_name(load(repo), "sha256:d") == plain  # no budget: the study names of before
    set_yaml(repo, "tune.budget", {"epochs": 1})
    set_yaml(repo, "tune.search_space.epochs", {"type": "int", "low": 1, "high": 3})
    with pytest.raises(ConfigError, match=r"tune\.budget\.epochs: epochs is also in tune\.search_space"):
        tune_run.tune(load(repo), tune_run.TuneOptions(), env=ENV)


def test_without_a_budget_train_reuses_the_best_trials_model_instead_of_training(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml_ci.train import lineage

    monkeypatch.setattr(lineage, "git_commit", lambda root: None)  # no git process in a unit test
    config = load(repo)
    result = tune_run.tune(config, tune_run.TuneOptions(), env=ENV)
    assert result.summary is not None and result.summary.best is not None
    assert [c["rows"] for c in CALLS] == [20, 20, 20] and all("epochs" not in c["overrides"] for c in CALLS)

    def no_training(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the best trial already trained this model")

    monkeypatch.setattr(stage, "train_here", no_training)
    params = repo / ".ml-ci/artifacts/tune/best_params.json"
    outcome = stage.run(config, stage.TrainOptions(params=params), env={})
    assert outcome.status == "cache-hit"
    assert outcome.metrics["accuracy"] == result.summary.best.value
    art = Layout(repo).artifacts("train")
    assert json.loads((art / "model/model.safetensors").read_text()) == result.summary.best.params
    written = json.loads((art / "lineage.json").read_text())
    assert written["tune_trial"] == {"study": result.plan.study_name, "number": result.summary.best.number}
    assert written["cache_key"] == outcome.key and written["params_file"] == ".ml-ci/artifacts/tune/best_params.json"
    assert sorted(p.name for p in art.iterdir()) == ["README.md", "lineage.json", "metrics.json", "model"]
