"""Resolve a tuning run from the typed Config, the environment and the data fingerprint.

Pure: nothing here opens the storage or imports Optuna, so the plan is tested on toy inputs and
`ml-ci run --dry-run` can show it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Optional

from ml_ci.config.model import Config
from ml_ci.errors import ConfigError, Problem
from ml_ci.pipeline.layout import Layout
from ml_ci.tune.space import grid, grid_size

# Optuna's heartbeat: a worker writes one every HEARTBEAT_SECONDS while its trial runs; a trial
# whose last heartbeat is older than GRACE_SECONDS is failed by the next worker that starts a
# trial (a killed CI job, an evicted pod). Long enough not to fail a slow but live trial.
HEARTBEAT_SECONDS = 30
GRACE_SECONDS = 120
# Internal: tests shorten the heartbeat so that a killed worker's trial goes stale in seconds.
HEARTBEAT_ENV = "ML_CI_TUNE_HEARTBEAT_SECONDS"
# The index of this worker among those sharing the study (set by `--workers N` for its
# processes, and by the generated matrix jobs); it varies the sampler's seed between workers.
WORKER_ENV = "ML_CI_TUNE_WORKER"
SQLITE_FILE = "tune.db"


@dataclass(frozen=True, kw_only=True)
class StudyPlan:
    study_name: str
    storage_url: str
    storage_from_env: bool  # False: the default SQLite file under .ml-ci/
    direction: Literal["maximize", "minimize"]
    metric: str
    sampler: Literal["tpe", "random", "grid"]
    pruner: Literal["median", "hyperband", "none"]
    seed: int
    worker: int
    n_trials: int  # the most trials this command runs (all its local workers together)
    total_trials: int  # finished trials the study needs (all workers, all jobs)
    timeout_seconds: Optional[float]
    workers: int
    heartbeat_seconds: int
    grace_seconds: int

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["storage_url"] = redact(self.storage_url)
        return data


def redact(url: str) -> str:
    """The storage URL without its password, for messages and reports."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def space_fingerprint(config: Config) -> str:
    """A hash of what defines the study's objective besides the data: two different searches
    must not share a study (Optuna would mix their trials)."""
    tune = config.tune
    search = {
        "space": {k: asdict(v) for k, v in sorted(tune.search_space.items())},
        "metric": tune.metric,
        "direction": tune.direction,
        "model": config.model.base,
        "max_length": config.model.max_length,
    }
    if tune.budget.train_fraction < 1 or tune.budget.epochs is not None:
        # Trials on other rows or epochs score differently: not one study. (Absent: the names of before.)
        search["budget"] = asdict(tune.budget)
    return hashlib.sha256(json.dumps(search, sort_keys=True, default=str).encode()).hexdigest()


def study_name(config: Config, data_fingerprint: str) -> str:
    """<model name>-<data fingerprint>-<search fingerprint>: every CI job of one commit's data and
    search computes the same name, so they share one study; new data starts a new one."""
    data = data_fingerprint.partition(":")[2] or data_fingerprint  # drop the "sha256:" prefix
    return f"{config.name}-{data[:12]}-{space_fingerprint(config)[:8]}"


def default_storage(root: Path) -> str:
    return f"sqlite:///{(Layout(root).state / SQLITE_FILE).resolve()}"


def worker_seed(seed: int, worker: int, finished_before: int, salt: str = "") -> int:
    """train.seed for the first worker of a new study (reproducible); otherwise a seed mixed with the
    worker index and the trials already in the study, so that parallel workers and reruns do not
    replay the same random start-up suggestions. salt: for workers that do not know their index."""
    if worker == 0 and finished_before == 0 and not salt:
        return seed
    digest = hashlib.sha256(f"{seed}:{worker}:{finished_before}:{salt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _disabled(config: Config) -> ConfigError:
    message = "tuning is disabled in ml.yaml: set tune.enabled: true and a tune.search_space to run `ml-ci tune`"
    return ConfigError([Problem(str(config.path), 0, 0, "tune.enabled", message)])


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError([Problem(name, 0, 0, "", f"{raw!r} is not a positive whole number of seconds")])
    return value


def plan_study(
    config: Config,
    *,
    data_fingerprint: str,
    env: Mapping[str, str],
    trials: Optional[int] = None,
    workers: Optional[int] = None,
    timeout_minutes: Optional[float] = None,
) -> StudyPlan:
    """The study this command works on. Raises ConfigError when tuning is disabled or the grid is too large."""
    tune = config.tune
    if not tune.enabled:
        raise _disabled(config)
    from ml_ci.tune import budget

    budget.check(config)
    total = tune.trials
    if tune.sampler == "grid":
        try:
            points = grid_size(grid(tune.search_space))
        except ValueError as e:
            raise ConfigError([Problem(str(config.path), 0, 0, "tune.search_space", str(e))]) from None
        total = min(total, points)  # the grid sampler stops the study once every point is tried
    url = env.get(tune.storage_env) or ""
    heartbeat = _positive_int(env, HEARTBEAT_ENV, HEARTBEAT_SECONDS)
    try:
        worker = int(env.get(WORKER_ENV, "0"))
    except ValueError:
        worker = 0
    minutes = tune.timeout_minutes if timeout_minutes is None else timeout_minutes
    return StudyPlan(
        study_name=study_name(config, data_fingerprint),
        storage_url=url or default_storage(config.root),
        storage_from_env=bool(url),
        direction=tune.direction,
        metric=tune.metric,
        sampler=tune.sampler,
        pruner=tune.pruner,
        seed=config.train.seed,
        worker=worker,
        n_trials=total if trials is None else trials,
        total_trials=total,
        timeout_seconds=minutes * 60 if minutes > 0 else None,
        workers=tune.workers if workers is None else workers,
        heartbeat_seconds=heartbeat,
        grace_seconds=GRACE_SECONDS if HEARTBEAT_ENV not in env else 2 * heartbeat,
    )


def split_trials(n_trials: int, workers: int) -> list[int]:
    """n_trials spread over local workers as evenly as possible (the first ones take the remainder)."""
    base, extra = divmod(n_trials, workers)
    return [base + (1 if i < extra else 0) for i in range(workers)]
