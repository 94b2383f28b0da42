"""Sampler, pruner and storage for a plan; SQLite files only (unit tests open no sockets)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import optuna
import pytest

from ml_ci.errors import OperationalError
from ml_ci.tune.plan import plan_study
from ml_ci.tune.study import CONNECT_ATTEMPTS, first_report, make_pruner, make_sampler, open_storage, open_study, with_driver
from tests.unit.tune.conftest import MakeConfig

FP = "sha256:" + "0" * 64


def test_sampler_per_setting(make_config: MakeConfig) -> None:
    config = make_config()
    plan = plan_study(config, data_fingerprint=FP, env={})
    assert isinstance(make_sampler(plan, config), optuna.samplers.TPESampler)
    assert isinstance(make_sampler(replace(plan, sampler="random"), config), optuna.samplers.RandomSampler)
    warmup = {"type": "float", "low": 0.0, "high": 0.2, "step": 0.1}
    grid_config = make_config(sampler="grid", search_space={"warmup_ratio": warmup})
    grid_plan = plan_study(grid_config, data_fingerprint=FP, env={})
    sampler = make_sampler(grid_plan, grid_config)
    assert isinstance(sampler, optuna.samplers.GridSampler)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("warmup_ratio", 0.0, 0.2, step=0.1), n_trials=10)
    # The grid sampler visits each point once, then stops the study.
    assert sorted(t.params["warmup_ratio"] for t in study.trials) == [0.0, 0.1, 0.2]


def test_pruner_per_setting(make_config: MakeConfig) -> None:
    config = make_config()
    plan = plan_study(config, data_fingerprint=FP, env={})
    assert isinstance(make_pruner(plan, config), optuna.pruners.MedianPruner)
    assert isinstance(make_pruner(replace(plan, pruner="hyperband"), config), optuna.pruners.HyperbandPruner)
    assert isinstance(make_pruner(replace(plan, pruner="none"), config), optuna.pruners.NopPruner)


@pytest.mark.parametrize(("eval_steps", "accumulation", "least"), [(0, 1, 8), (5, 1, 40), (5, 2, 80)])
def test_hyperband_starts_at_the_earliest_first_report(
    make_config: MakeConfig, eval_steps: int, accumulation: int, least: int
) -> None:
    """Its resource is examples seen; the smallest batch in the space (8 of 8/16) reports first. With
    eval_steps 0 (once per epoch) the bound is one step, never 0 (which Hyperband divides by)."""
    config = make_config(train={"eval_steps": eval_steps, "gradient_accumulation_steps": accumulation})
    assert first_report(config) == least
    pruner = make_pruner(replace(plan_study(config, data_fingerprint=FP, env={}), pruner="hyperband"), config)
    study = optuna.create_study(direction="maximize", pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        for i in range(1, 4):
            trial.report(0.1 * i + trial.number / 100, i * least)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return 0.5

    study.optimize(objective, n_trials=4)
    assert len(study.trials) == 4


def test_with_driver() -> None:
    only2 = {"psycopg2"}.__contains__
    assert with_driver("postgresql://u@h/db", only2) == "postgresql+psycopg2://u@h/db"
    assert with_driver("postgresql://u@h/db", {"psycopg", "psycopg2"}.__contains__) == "postgresql://u@h/db"
    assert with_driver("postgresql+asyncpg://u@h/db", only2) == "postgresql+asyncpg://u@h/db"
    assert with_driver("sqlite:///x.db", only2) == "sqlite:///x.db"


def test_default_sqlite_storage_is_created_and_reopened(make_config: MakeConfig) -> None:
    config = make_config()
    plan = plan_study(config, data_fingerprint=FP, env={})
    study = open_study(plan, config, open_storage(plan))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert (config.root / ".ml-ci" / "tune.db").is_file()
    again = open_study(plan, config, open_storage(plan))  # load_if_exists: the same study
    assert again.study_name == plan.study_name and len(again.trials) == 2


def test_unreachable_storage_is_retried_then_explained(make_config: MakeConfig, tmp_path: Path) -> None:
    config = make_config(storage_env="TUNE_DB")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    plan = plan_study(config, data_fingerprint=FP, env={"TUNE_DB": f"sqlite:///{folder}"})  # a folder is no database
    pauses: list[float] = []
    with pytest.raises(OperationalError) as e:
        open_storage(plan, sleep=pauses.append)
    assert str(e.value).startswith(
        f"cannot reach the Optuna storage sqlite:///{folder} (from the storage environment variable) "
        f"after {CONNECT_ATTEMPTS} attempts: "
    )
    assert pauses == [1.0, 2.0]


def test_a_malformed_url_is_not_retried(make_config: MakeConfig) -> None:
    config = make_config()
    plan = plan_study(config, data_fingerprint=FP, env={"OPTUNA_STORAGE": "not a url"})
    pauses: list[float] = []
    with pytest.raises(OperationalError, match=r"^not a url is not a valid storage URL"):
        open_storage(plan, sleep=pauses.append)
    assert pauses == []
