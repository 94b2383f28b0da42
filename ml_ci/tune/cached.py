"""The tune stage's cache: what its key reads, when a result may be kept, and the summary read back.

Pure. A study is shared state (other workers, other jobs add trials to it), so its artifacts are a
function of the key only once the study is finished: `ml-ci tune` stops adding trials to a study
that holds tune.trials finished ones, so from then on a rerun rewrites the same artifacts. Until
then nothing is stored, and a rerun continues the study as before.

What goes in the key, and why:
- the study plan (its name already hashes the search space, metric, direction, base model spec
  and the train and validation files), with the storage URL (password left out) and the counts;
- the `tune`, `train` and `model` sections (a trial trains with them) and how rows are loaded;
- the train and validation splits' content and the base model's files (identity);
- the trainer hook (ML_CI_TUNE_FIT) and the versions of the libraries a trial runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, Optional

from ml_ci.config.by_task import section
from ml_ci.config.model import Config
from ml_ci.data.cache_inputs import loading, split_fingerprints
from ml_ci.tune.plan import StudyPlan
from ml_ci.tune.summary import FINISHED, Summary, TrialRow

PACKAGES = (
    "optuna",
    "matplotlib",
    "torch",
    "transformers",
    "accelerate",
    "datasets",
    "tokenizers",
    "safetensors",
    "numpy",
    "seqeval",
)
ROLES = ("train", "validation")


def cache_inputs(
    config: Config,
    *,
    plan: StudyPlan,
    fingerprints: Mapping[str, str],
    base_identity: str,
    fit_hook: Optional[str],
    packages: Mapping[str, str],
) -> dict[str, Any]:
    return {
        "plan": plan.to_json(),
        "tune": asdict(config.tune),
        "train": section(config, "train"),
        "model": asdict(config.model),
        "data": loading(config),
        "splits": split_fingerprints(fingerprints, ROLES),
        "base_model": base_identity,
        "fit_hook": fit_hook,
        "packages": dict(sorted(packages.items())),
    }


def finished(summary: Optional[Summary], plan: StudyPlan) -> bool:
    """Whether the study can gain no more trials from ml-ci, and has a best trial to report."""
    if summary is None or summary.best is None:
        return False
    return sum(n for state, n in summary.counts.items() if state in FINISHED) >= plan.total_trials


def _row(data: Mapping[str, Any]) -> TrialRow:
    return TrialRow(
        number=int(data["number"]),
        state=str(data["state"]),
        value=data.get("value"),
        params=dict(data.get("params") or {}),
        steps=data.get("steps"),
        seconds=data.get("seconds"),
    )


def summary_from_report(report: Mapping[str, Any]) -> Summary:
    """report.json (what `Summary.to_json` wrote) back into the Summary."""
    trials = tuple(_row(t) for t in report["trials"])
    best = report.get("best")
    best_row = next((t for t in trials if best is not None and t.number == best["trial"]), None)
    return Summary(
        study_name=str(report["study"]),
        metric=str(report["metric"]),
        direction=str(report["direction"]),
        trials=trials,
        best=best_row,
        importances=dict(report.get("importances") or {}),
        plots=tuple(report.get("plots") or ()),
    )
