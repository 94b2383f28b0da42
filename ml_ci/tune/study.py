"""Optuna's objects for a StudyPlan: sampler, pruner, the RDB storage (with heartbeat) and the study.

Standard RDB storage only, so that optuna-dashboard reads the same database.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ml_ci.config.model import CategoricalParam, Config, IntParam
from ml_ci.errors import OperationalError
from ml_ci.tune.plan import StudyPlan, redact
from ml_ci.tune.space import grid

if TYPE_CHECKING:
    import optuna

# Reaching the storage: a few attempts with a growing pause, then a clear error (never a hang).
CONNECT_ATTEMPTS = 3
CONNECT_PAUSE_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 10
# A trial killed with its worker is run once more, with the same parameters, by the next worker.
MAX_RETRY = 1
# PostgreSQL advisory lock id ("mlci") under which a worker creates Optuna's tables in a shared database.
SCHEMA_LOCK_ID = 0x6D6C6369


def _least(config: Config, name: str) -> int:
    """The smallest value train.<name> takes in the study: the search space's, else ml.yaml's."""
    p = config.tune.search_space.get(name)
    if isinstance(p, IntParam):
        return p.low
    if isinstance(p, CategoricalParam):
        return min(int(v) for v in p.choices)
    return int(getattr(config.train, name))


def first_report(config: Config) -> int:
    """The fewest examples any trial can have seen at its first report (Hyperband's smallest resource).
    With train.eval_steps 0 the first report comes after an epoch, of a size the study does not know:
    one step is the safe lower bound."""
    steps = max(1, config.train.eval_steps)
    return steps * _least(config, "batch_size") * _least(config, "gradient_accumulation_steps")


def make_sampler(plan: StudyPlan, config: Config) -> optuna.samplers.BaseSampler:
    import optuna

    if plan.sampler == "grid":
        return optuna.samplers.GridSampler(grid(config.tune.search_space), seed=plan.seed)
    if plan.sampler == "random":
        return optuna.samplers.RandomSampler(seed=plan.seed)
    # Start-up trials are random; a quarter of the budget (3 to 10) before TPE models the rest.
    # constant_liar keeps parallel workers from proposing the same point at once.
    startup = max(3, min(10, plan.total_trials // 4))
    return optuna.samplers.TPESampler(seed=plan.seed, n_startup_trials=startup, constant_liar=True)


def make_pruner(plan: StudyPlan, config: Config) -> optuna.pruners.BasePruner:
    import optuna

    if plan.pruner == "median":
        # Compare against at least a couple of finished trials before pruning anything.
        return optuna.pruners.MedianPruner(n_startup_trials=max(2, min(5, plan.total_trials // 5)))
    if plan.pruner == "hyperband":
        # Resources are training examples seen (tune/objective.py reports them), from the earliest first report.
        return optuna.pruners.HyperbandPruner(min_resource=first_report(config), max_resource="auto")
    return optuna.pruners.NopPruner()


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Local workers share the file: wait for its lock instead of failing at once.
        return {"connect_args": {"timeout": 60}}
    if url.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS}, "pool_pre_ping": True}
    if url.startswith("mysql"):
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS}, "pool_pre_ping": True}
    return {}


def with_driver(url: str, installed: Callable[[str], bool]) -> str:
    """postgresql://... with an installed driver: SQLAlchemy 2.1 takes psycopg (3) for a bare
    postgresql:// URL, while many set-ups (and ml-ci's dev extras) have psycopg2."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres") and not installed("psycopg") and installed("psycopg2"):
        return f"postgresql+psycopg2{sep}{rest}"
    return url


def module_installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@contextmanager
def schema_lock(url: str, engine_kwargs: dict[str, Any]) -> Iterator[None]:
    """Held while Optuna creates its tables. On an empty database, workers started together (the CI
    matrix's first run) each issue CREATE TYPE / CREATE TABLE / INSERT version, and all but one die with
    IntegrityError. A PostgreSQL session advisory lock lets one create them and the others then find
    them; it goes with its connection, so a killed worker cannot leave it held. Other databases: none
    (local `--workers` create the storage in the parent before starting the workers)."""
    if not url.startswith(("postgresql", "postgres")):
        yield
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, **engine_kwargs)
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:id)"), {"id": SCHEMA_LOCK_ID})
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:id)"), {"id": SCHEMA_LOCK_ID})
    finally:
        engine.dispose()


def open_storage(plan: StudyPlan, *, sleep: Callable[[float], None] = time.sleep) -> optuna.storages.RDBStorage:
    """The RDB storage with heartbeats, after at most CONNECT_ATTEMPTS attempts."""
    import optuna
    import sqlalchemy.exc

    if plan.storage_url.startswith("sqlite:///"):
        from pathlib import Path

        Path(plan.storage_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    where = redact(plan.storage_url)
    last = ""
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        url, kwargs = with_driver(plan.storage_url, module_installed), _engine_kwargs(plan.storage_url)
        try:
            with warnings.catch_warnings(), schema_lock(url, kwargs):
                # heartbeat_interval and the retry callback are marked experimental in Optuna.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=kwargs,
                    heartbeat_interval=plan.heartbeat_seconds,
                    grace_period=plan.grace_seconds,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
                )
        except sqlalchemy.exc.ArgumentError:
            example = "postgresql://user@host/db or sqlite:///path"
            raise OperationalError(f"{where} is not a valid storage URL (e.g. {example})") from None
        except ImportError as e:
            raise OperationalError(f"cannot use the storage {where}: its database driver is not installed ({e})") from None
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as e:
            last = str(e.orig if getattr(e, "orig", None) is not None else e).strip().splitlines()[0]
            if attempt < CONNECT_ATTEMPTS:
                sleep(CONNECT_PAUSE_SECONDS * attempt)
    source = "the default SQLite file" if not plan.storage_from_env else "from the storage environment variable"
    raise OperationalError(f"cannot reach the Optuna storage {where} ({source}) after {CONNECT_ATTEMPTS} attempts: {last}")


def open_study(plan: StudyPlan, config: Config, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """Create the study, or load it when another worker (or an earlier run) made it."""
    import optuna

    return optuna.create_study(
        storage=storage,
        study_name=plan.study_name,
        direction=plan.direction,
        sampler=make_sampler(plan, config),
        pruner=make_pruner(plan, config),
        load_if_exists=True,
    )


def finished_trials(study: optuna.Study) -> int:
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))
