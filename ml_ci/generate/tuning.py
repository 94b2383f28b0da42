"""The tuning jobs of the generated workflows: the worker matrix and the one set of results after it.

The PR and the release workflow tune alike. GitHub's cache does not let a push to main read what
a pull request stored, so the release cannot restore the PR's trained model; with the shared
storage (tune.storage_env) it rejoins the PR's study, which is finished (the study name is a hash
of data and search space, and a finished study runs no more trials), so it gets the same best
parameters and trains what the PR evaluated. Without the storage it tunes again: the honest
fallback.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ml_ci.config.model import Config
from ml_ci.generate import actions, pins
from ml_ci.generate import jobs as j
from ml_ci.generate.model import Job, Step
from ml_ci.generate.options import Options
from ml_ci.generate.yamlout import Commented, Value
from ml_ci.pipeline.layout import TUNE_REPORT

TUNE_ENVIRONMENT = "ml-ci-tune"  # holds the shared Optuna storage secret
TUNE_WORKERS_DIR = ".ml-ci/tune-workers"
RESULTS_JOB = "tune-results"
RESULTS_ARTIFACT = "tune"
NO_STORAGE = "unset: every worker tunes its own SQLite study, and tune-results takes the best by value"

# Only when the workers had no shared storage: each report is a separate study, so the best of
# them by the tuned metric is taken (ties: the lowest worker index), never an arbitrary one.
PICK_BEST_BY_VALUE = f"""\
set -euo pipefail
python - <<'PY'
import json, pathlib, shutil, sys
runs = [(p.parent, json.loads(p.read_text(encoding="utf-8")))
        for p in sorted(pathlib.Path("{TUNE_WORKERS_DIR}").glob("*/{TUNE_REPORT.name}"))]
runs = [(folder, report) for folder, report in runs if report.get("best")]
if not runs:
    sys.exit("no tuning worker completed a trial")
sign = 1 if runs[0][1]["direction"] == "maximize" else -1
folder, report = max(runs, key=lambda run: sign * run[1]["best"]["value"])
shutil.copytree(folder, "{j.artifacts_path("tune")}", dirs_exist_ok=True)
print(f"no shared storage: {{len(runs)}} separate studies; best {{report['metric']}} "
      f"{{report['best']['value']}} from {{folder.name}}")
PY
"""


def shared(config: Config) -> bool:
    """Workers in separate jobs share one study through the storage secret."""
    return config.tune.workers > 1


def storage_env(config: Config) -> dict[str, str | Commented]:
    name = config.tune.storage_env
    return {name: Commented(f"${{{{ secrets.{name} }}}}", NO_STORAGE)}


def tune_job(config: Config, options: Options) -> Job:
    tune = config.tune
    workers = tune.workers
    with_: dict[str, Value] = {}
    environment, env = None, None
    if shared(config):
        # Every worker runs its share of the trials on one study in the shared storage, whose
        # URL (a secret) lives in a dedicated GitHub environment.
        with_ = {"trials": str(math.ceil(tune.trials / workers)), "workers": "1"}
        environment, env = {"name": TUNE_ENVIRONMENT}, storage_env(config)
    # The job index varies the sampler's seed between workers (ml_ci/tune/plan.py: worker_seed).
    step = replace(
        j.stage(config, options, "tune", step_id="tune", name="Tune", with_=with_),
        env={"ML_CI_TUNE_WORKER": "${{ strategy.job-index }}"},
    )
    steps = (
        j.checkout(),
        j.setup(config, options, "tune", gpu=True),
        step,
        save_kept_model(),
        j.upload("tune-worker-${{ matrix.worker }}", "tune"),
    )
    return j.job(
        config,
        "tune",
        "tune (worker ${{ matrix.worker }})",
        steps,
        needs=("data-check",),
        long=True,
        gpu=True,
        strategy={"fail-fast": False, "matrix": {"worker": list(range(workers))}},
        environment=environment,
        env=env,
    )


def save_kept_model() -> Step:
    """Hand the best trial's model to the train job through GitHub's cache.

    `ml-ci tune` (without tune.budget) kept it in this job's .ml-ci/cache under the key training
    with best_params.json has; the train job's ml-ci train action restores exactly that entry (same
    key, same path) before `ml-ci train`, which then restores the model instead of training it
    again. Every worker saves the entry of the study's best as it sees it when it ends, if it ran
    that trial: the final best is seen by the worker that ran it, so one of them saves the entry the
    train job asks for (or none, under a budget: the train job trains).
    """
    key = f"${{{{ steps.tune.outputs.{actions.KEPT_OUTPUT} }}}}"
    return Step(
        name="Save the best trial's model for the train job",
        if_=f"steps.tune.outputs.{actions.KEPT_OUTPUT} != ''",
        uses=pins.CACHE_SAVE.uses(),
        with_={"path": actions.train_cache_path(key), "key": actions.TRAIN_CACHE_PREFIX + key},
    )


def results_job(config: Config, options: Options) -> Job:
    """After the matrix: the study's results, rebuilt once from the shared storage (`ml-ci tune --trials 0`)."""
    set_ = f"env.{config.tune.storage_env} != ''"
    unset = f"env.{config.tune.storage_env} == ''"
    rebuild = replace(
        j.stage(
            config,
            options,
            "tune",
            step_id="tune",
            name="Rebuild the results from the shared study",
            with_={"trials": "0", "workers": "1"},
        ),
        if_=set_,
    )
    steps = (
        j.checkout(),
        j.setup(config, options, "tune"),
        rebuild,
        Step(
            name="Download every tuning worker's results",
            if_=unset,
            uses=pins.DOWNLOAD_ARTIFACT.uses(),
            with_={"pattern": "tune-worker-*", "path": TUNE_WORKERS_DIR},
        ),
        Step(name="Take the best of the separate studies", if_=unset, run=PICK_BEST_BY_VALUE),
        j.upload(RESULTS_ARTIFACT, "tune"),
    )
    return j.job(
        config,
        RESULTS_JOB,
        "tuning results",
        steps,
        needs=("tune",),
        environment={"name": TUNE_ENVIRONMENT},
        env=storage_env(config),
    )


def jobs(config: Config, options: Options) -> tuple[list[Job], str]:
    """The tuning jobs and the one the training job waits for."""
    if shared(config):
        return [tune_job(config, options), results_job(config, options)], RESULTS_JOB
    return [tune_job(config, options)], "tune"


def results(config: Config, *, optional: bool = False) -> Step:
    """The step that puts the tuning results into .ml-ci/artifacts/tune."""
    artifact = RESULTS_ARTIFACT if shared(config) else "tune-worker-0"  # one worker: its view is the whole study
    return j.download(artifact, "tune", optional=optional)
