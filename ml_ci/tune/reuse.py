"""Keep the best full trial's model, so that `ml-ci train --params best_params.json` does not repeat it.

Without a tune.budget a completed trial is exactly the training `ml-ci train` would run with its
parameters (same data, epochs, seed, one process). Whenever a trial beats every completed trial of
the study so far, its model, metrics, lineage and card go into train's stage cache under the key
that training with those parameters has; train then restores it (a cache hit) instead of training.
Each worker does this for its own trials; the study's best is among what they stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

from ml_ci.config.model import Config
from ml_ci.tune.objective import Keep

if TYPE_CHECKING:
    import optuna

BEST_PARAMS = ".ml-ci/artifacts/tune/best_params.json"  # what `ml-ci tune` tells to pass to train


def beats(value: float, best: Optional[float], direction: str) -> bool:
    """Strictly better than the best so far (a tie keeps the earlier trial, as the study's best does)."""
    return best is None or (value > best if direction == "maximize" else value < best)


def keeper(config: Config, study: optuna.Study, sources: Mapping[str, str]) -> Keep:
    import optuna

    def keep(number: int, value: float, suggested: dict[str, Any], result: Any) -> None:
        from ml_ci.train.fit import FitResult
        from ml_ci.train.stage import store_trial

        if not isinstance(result, FitResult) or not result.model_dir.is_dir():
            return
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        values = [t.value for t in done if t.value is not None and t.number != number]
        best = (max(values) if study.direction == optuna.study.StudyDirection.MAXIMIZE else min(values)) if values else None
        direction = "maximize" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "minimize"
        if beats(value, best, direction):
            store_trial(
                config,
                suggested,
                result,
                sources,
                params_file=BEST_PARAMS,
                tune_trial={"study": study.study_name, "number": number},
            )

    return keep
