"""The Optuna objective: one trial = one training run with suggested train.* overrides.

After each validation evaluation the trainer calls `report(step, metrics)`; the objective hands
the tuned metric to Optuna (trial.report) and raises optuna.TrialPruned when the pruner says
so, which stops the trainer. The fit function is a parameter, so tests inject a fake trainer.

Optuna's step is the number of training examples seen (optimizer steps x examples per step), not
the optimizer step: pruners compare trials at equal steps, and when the batch size is tuned, step
100 of a batch-8 trial has seen a quarter of the data of step 100 of a batch-32 trial.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Optional, Protocol

from ml_ci.config.model import Config
from ml_ci.errors import OperationalError
from ml_ci.train.params import merge
from ml_ci.tune.space import Value, suggest

# Trial user attributes: the optimizer steps a trial used (the compute it cost, pruned or not).
STEPS_ATTR = "steps"


class TrialLike(Protocol):
    """What the objective uses of optuna.Trial."""

    number: int

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...

    def report(self, value: float, step: int) -> None: ...

    def should_prune(self) -> bool: ...

    def set_user_attr(self, key: str, value: Any) -> None: ...


Report = Callable[[int, dict[str, float]], None]
# ml_ci.train.fit.fit(config, splits, *, overrides, output_dir, report) -> FitResult
FitFn = Callable[..., Any]


class Pruned(Exception):
    """Raised from the report callback to stop a pruned trial; the objective turns it into optuna.TrialPruned."""


def metric_value(metrics: Mapping[str, Any], metric: str) -> float:
    """The tuned metric from one evaluation; a trainer that does not compute it is a bug in the set-up."""
    if metric not in metrics:
        known = ", ".join(sorted(metrics)) or "nothing"
        raise OperationalError(f"the trainer did not report the tuned metric {metric!r} (it reported: {known})")
    return float(metrics[metric])


def final_metrics(result: Any) -> Mapping[str, Any]:
    """The validation metrics of a FitResult (its `metrics`, or a mapping returned as is)."""
    metrics = getattr(result, "metrics", result)
    if not isinstance(metrics, Mapping):
        raise OperationalError(f"the trainer returned {type(result).__name__}, without validation metrics")
    return metrics


def examples_per_step(config: Config, overrides: Mapping[str, Any]) -> int:
    """Training examples behind one optimizer step of a trial: its global batch x gradient accumulation."""
    hp = merge(config.train, overrides, task=config.task)
    return hp.batch_size * hp.gradient_accumulation_steps


# Called with (trial number, value, suggested parameters, the trainer's result) after a trial
# completed and before its folder is removed: the one chance to keep its model.
Keep = Callable[[int, float, dict[str, Any], Any], None]


def make_objective(
    config: Config, splits: Any, fit: FitFn, *, workdir: Path, keep: Optional[Keep] = None
) -> Callable[[TrialLike], float]:
    """The function Optuna calls per trial. Each trial trains (on tune.budget's rows and epochs) into
    a temporary folder under workdir, removed afterwards; `keep` may copy the model out first."""
    from ml_ci.tune import budget

    metric = config.tune.metric

    def objective(trial: TrialLike) -> float:
        suggested: dict[str, Value] = suggest(trial, config.tune.search_space)
        overrides = budget.trial_overrides(config, suggested)
        per_step = examples_per_step(config, overrides)

        def report(step: int, metrics: dict[str, float]) -> None:
            value = metric_value(metrics, metric)
            trial.set_user_attr(STEPS_ATTR, step)
            if math.isnan(value):  # diverged (e.g. too high a learning rate): a result of the search, not an error
                raise Pruned(f"trial {trial.number} diverged at step {step} ({metric} is NaN)")
            trial.report(value, step * per_step)
            if trial.should_prune():
                raise Pruned(f"trial {trial.number} pruned at step {step} ({metric} {value:.4f})")

        workdir.mkdir(parents=True, exist_ok=True)
        out = Path(tempfile.mkdtemp(prefix=f"trial-{trial.number}-", dir=workdir))
        try:
            result = fit(config, splits, overrides=overrides, output_dir=out, report=report)
            steps: Optional[int] = getattr(result, "steps", None)
            if isinstance(steps, int):
                trial.set_user_attr(STEPS_ATTR, steps)
            # A NaN here makes Optuna record the trial as failed and go on with the study.
            value = metric_value(final_metrics(result), metric)
            if keep is not None and not math.isnan(value):
                keep(trial.number, value, dict(suggested), result)
        except Pruned as e:
            import optuna

            raise optuna.TrialPruned(str(e)) from None
        finally:
            shutil.rmtree(out, ignore_errors=True)
        return value

    return objective
