"""The objective with a fake trainer and an in-memory Optuna study (no storage, no training)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
import pytest

from ml_ci.errors import OperationalError
from ml_ci.tune.objective import STEPS_ATTR, make_objective
from tests.unit.tune.conftest import MakeConfig

optuna.logging.set_verbosity(optuna.logging.WARNING)
# study.optimize(...) below: an optuna.Trial satisfies ml-ci's TrialLike, which mypy cannot see through the Callable.


class FakeTrainer:
    """Reports `curve` at steps 10, 20, ...; returns the last point as the final metrics."""

    def __init__(self, curve: list[float], metric: str = "accuracy") -> None:
        self.curve, self.metric = curve, metric
        self.calls: list[dict[str, Any]] = []
        self.dirs: list[Path] = []

    def __call__(self, config: Any, splits: Any, *, overrides: dict[str, Any], output_dir: Path, report: Any) -> Any:
        self.calls.append(overrides)
        self.dirs.append(output_dir)
        assert output_dir.is_dir()
        for i, value in enumerate(self.curve, start=1):
            report(i * 10, {self.metric: value})
        return type("FitResult", (), {"metrics": {self.metric: self.curve[-1]}, "steps": len(self.curve) * 10})()


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def test_a_trial_trains_with_suggested_overrides(make_config: MakeConfig, tmp_path: Path) -> None:
    config = make_config()
    fit = FakeTrainer([0.6, 0.7, 0.8])
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(make_objective(config, "splits", fit, workdir=tmp_path / "work"), n_trials=2)  # type: ignore[arg-type]
    assert [t.value for t in study.trials] == [0.8, 0.8]
    # Optuna's step is the examples seen: optimizer steps x the trial's batch (no accumulation here).
    assert [t.intermediate_values for t in study.trials] == [
        {10 * b: 0.6, 20 * b: 0.7, 30 * b: 0.8} for b in (t.params["batch_size"] for t in study.trials)
    ]
    assert [t.user_attrs[STEPS_ATTR] for t in study.trials] == [30, 30]
    assert fit.calls == [t.params for t in study.trials]
    assert set(fit.calls[0]) == {"learning_rate", "warmup_ratio", "batch_size"}
    assert not any(d.exists() for d in fit.dirs), "trial folders are removed"


def test_pruning_stops_the_trainer(make_config: MakeConfig, tmp_path: Path) -> None:
    fit = FakeTrainer([0.6, 0.7, 0.8])
    study = optuna.create_study(direction="maximize", pruner=AlwaysPrune())
    study.optimize(make_objective(make_config(), None, fit, workdir=tmp_path), n_trials=1)  # type: ignore[arg-type]
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert trial.intermediate_values == {10 * trial.params["batch_size"]: 0.6}  # stopped at the first evaluation
    assert trial.user_attrs[STEPS_ATTR] == 10
    assert not any(d.exists() for d in fit.dirs)


def test_a_metric_the_trainer_does_not_compute_is_an_error(make_config: MakeConfig, tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize")
    objective = make_objective(make_config(), None, FakeTrainer([0.5], metric="loss"), workdir=tmp_path)
    with pytest.raises(OperationalError, match="did not report the tuned metric 'accuracy' \\(it reported: loss\\)"):
        study.optimize(objective, n_trials=1)  # type: ignore[arg-type]
    assert study.trials[0].state == optuna.trial.TrialState.FAIL


def test_a_diverged_trial_is_pruned_and_the_study_goes_on(make_config: MakeConfig, tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize")
    study.optimize(make_objective(make_config(), None, FakeTrainer([0.5, math.nan]), workdir=tmp_path), n_trials=2)  # type: ignore[arg-type]
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.PRUNED] * 2
    assert study.trials[0].user_attrs[STEPS_ATTR] == 20


def test_trials_of_different_batch_sizes_are_compared_at_equal_data(make_config: MakeConfig, tmp_path: Path) -> None:
    """Step 10 of a batch-8 trial has seen half the data of step 10 of a batch-16 one: the median
    pruner must not hold the first against the second. Both report every 10 optimizer steps."""
    config = make_config(
        search_space={"batch_size": {"type": "categorical", "choices": [8, 16]}}, train={"gradient_accumulation_steps": 2}
    )
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    objective = make_objective(config, None, FakeTrainer([0.9, 0.9, 0.9, 0.9]), workdir=tmp_path)
    study.enqueue_trial({"batch_size": 16})
    study.optimize(objective, n_trials=1)  # type: ignore[arg-type]
    # A batch-8 trial that learns more slowly per step but not per example: 0.5 at step 10 (160
    # examples), then 0.9 from step 20 on (320 examples, where the batch-16 trial first reported).
    slow = make_objective(config, None, FakeTrainer([0.5, 0.9, 0.9, 0.9]), workdir=tmp_path)
    study.enqueue_trial({"batch_size": 8})
    study.optimize(slow, n_trials=1)  # type: ignore[arg-type]
    second = study.trials[1]
    assert second.state == optuna.trial.TrialState.COMPLETE, "judged at step 10 against a trial with twice its data"
    assert sorted(second.intermediate_values) == [160, 320, 480, 640]
    assert sorted(study.trials[0].intermediate_values) == [320, 640, 960, 1280]
