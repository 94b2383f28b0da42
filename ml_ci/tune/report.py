"""Write the tuning artifacts: best_params.json, report.json, report.md and the PNG plots.

Everything goes into a fresh temporary folder that replaces .ml-ci/artifacts/tune/ in one rename,
so a failure (or a kill) leaves the previous artifacts or none, never half of them.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_ci.atomic import staged_dir
from ml_ci.pipeline.layout import BEST_PARAMS, TUNE_REPORT
from ml_ci.tune.summary import Summary, markdown, summarize, with_extras

if TYPE_CHECKING:
    import optuna

# fANOVA fits a random forest on the complete trials; below this it mostly reports noise.
MIN_TRIALS_FOR_IMPORTANCE = 10
PLOTS = ("optimization_history.png", "parallel_coordinate.png")


def importances(study: optuna.Study, seed: int) -> dict[str, float]:
    """fANOVA importances once MIN_TRIALS_FOR_IMPORTANCE trials completed; {} before."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE or not complete[0].params:
        return {}
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    return {k: float(v) for k, v in optuna.importance.get_param_importances(study, evaluator=evaluator).items()}


def plots(study: optuna.Study, folder: Path) -> list[str]:
    """The optimization history and parallel coordinates as PNGs; the names of those written."""
    import matplotlib

    matplotlib.use("Agg")  # headless: CI runners have no display
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm

    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        return []
    written = []
    with warnings.catch_warnings():
        # Optuna marks its matplotlib plots experimental; that is no concern of the user's.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        draws: list[Callable[[optuna.Study], Any]] = [ovm.plot_optimization_history, ovm.plot_parallel_coordinate]
        for name, draw in zip(PLOTS, draws, strict=True):
            ax = draw(study)
            ax.figure.set_size_inches(8, 4.5)
            ax.figure.tight_layout()
            ax.figure.savefig(folder / name, dpi=100)
            plt.close(ax.figure)
            written.append(name)
    return written


def study_summary(study: optuna.Study, metric: str) -> Summary:
    direction = "maximize" if study.direction.name == "MAXIMIZE" else "minimize"
    return summarize(study.study_name, metric, direction, study.get_trials(deepcopy=False))


def write_artifacts(out_dir: Path, study: optuna.Study, *, metric: str, seed: int, plan: dict[str, Any]) -> Summary:
    """Fill a temporary folder and rename it into place as out_dir; returns the summary written."""
    with staged_dir(out_dir) as tmp:
        summary = study_summary(study, metric)
        summary = with_extras(summary, importances(study, seed), plots(study, tmp))
        if summary.best is not None:  # no file rather than an empty one that would train with the defaults
            # Only train.* keys: `ml-ci train --params` reads this file as is.
            best = json.dumps(summary.best_params(), indent=2, sort_keys=True)
            BEST_PARAMS.within(tmp).write_text(best + "\n", encoding="utf-8")
        TUNE_REPORT.within(tmp).write_text(
            json.dumps({**summary.to_json(), "plan": plan}, indent=2, default=str) + "\n", encoding="utf-8"
        )
        (tmp / "report.md").write_text(markdown(summary), encoding="utf-8")
    return summary
