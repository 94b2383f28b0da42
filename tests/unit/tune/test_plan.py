from __future__ import annotations

from dataclasses import replace

import pytest

from ml_ci.errors import ConfigError
from ml_ci.tune.plan import (
    GRACE_SECONDS,
    HEARTBEAT_ENV,
    HEARTBEAT_SECONDS,
    WORKER_ENV,
    plan_study,
    redact,
    space_fingerprint,
    split_trials,
    study_name,
    worker_seed,
)
from tests.unit.tune.conftest import MakeConfig

FP = "sha256:" + "ab" * 32


def test_defaults_come_from_ml_yaml(make_config: MakeConfig) -> None:
    config = make_config(trials=6, timeout_minutes=2)
    plan = plan_study(config, data_fingerprint=FP, env={})
    assert plan.study_name == f"tiny-sentiment-{'ab' * 6}-{space_fingerprint(config)[:8]}"
    assert plan.storage_url == f"sqlite:///{(config.root / '.ml-ci' / 'tune.db').resolve()}"
    assert not plan.storage_from_env
    assert (plan.n_trials, plan.total_trials, plan.workers, plan.timeout_seconds) == (6, 6, 1, 120)
    assert (plan.sampler, plan.pruner, plan.direction, plan.metric) == ("tpe", "median", "maximize", "accuracy")
    assert (plan.seed, plan.worker) == (config.train.seed, 0)
    assert (plan.heartbeat_seconds, plan.grace_seconds) == (HEARTBEAT_SECONDS, GRACE_SECONDS)


def test_options_and_environment_override(make_config: MakeConfig) -> None:
    config = make_config(storage_env="MY_STORE", trials=20)
    env = {"MY_STORE": "postgresql://u:pw@127.0.0.1/db", WORKER_ENV: "3", HEARTBEAT_ENV: "2"}
    plan = plan_study(config, data_fingerprint=FP, env=env, trials=5, workers=2, timeout_minutes=0.5)
    assert plan.storage_url == "postgresql://u:pw@127.0.0.1/db" and plan.storage_from_env
    assert (plan.n_trials, plan.total_trials, plan.workers, plan.timeout_seconds) == (5, 20, 2, 30)
    assert (plan.worker, plan.heartbeat_seconds, plan.grace_seconds) == (3, 2, 4)
    assert plan.to_json()["storage_url"] == "postgresql://u:***@127.0.0.1/db"


def test_disabled_tuning_is_a_config_error(make_config: MakeConfig) -> None:
    config = make_config(enabled=False)
    with pytest.raises(ConfigError) as e:
        plan_study(config, data_fingerprint=FP, env={})
    assert str(e.value) == (
        f"{config.path}: tune.enabled: tuning is disabled in ml.yaml: set tune.enabled: true "
        "and a tune.search_space to run `ml-ci tune`"
    )


def test_bad_heartbeat_variable_is_named(make_config: MakeConfig) -> None:
    with pytest.raises(ConfigError, match=f"{HEARTBEAT_ENV}: 'soon' is not a positive whole number"):
        plan_study(make_config(), data_fingerprint=FP, env={HEARTBEAT_ENV: "soon"})


def test_grid_total_is_capped_by_the_grid(make_config: MakeConfig) -> None:
    config = make_config(
        sampler="grid",
        trials=100,
        search_space={
            "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2, "step": 0.1},
            "batch_size": {"type": "categorical", "choices": [8, 16]},
        },
    )
    assert plan_study(config, data_fingerprint=FP, env={}).total_trials == 6


def test_study_name_follows_data_and_search(make_config: MakeConfig) -> None:
    config = make_config()
    assert study_name(config, FP) == study_name(config, FP)
    assert study_name(config, FP) != study_name(config, "sha256:" + "cd" * 32)
    other_space = replace(config, tune=replace(config.tune, direction="minimize"))
    assert study_name(config, FP) != study_name(other_space, FP)
    # Limits and parallelism do not change the objective: every CI job joins the same study.
    more = replace(config, tune=replace(config.tune, trials=99, workers=4, timeout_minutes=5))
    assert study_name(config, FP) == study_name(more, FP)


def test_worker_seed() -> None:
    assert worker_seed(7, 0, 0) == 7  # a single fresh worker is reproducible
    seeds = {worker_seed(7, w, n) for w in range(4) for n in (0, 5)} - {7}
    assert len(seeds) == 7 and all(0 <= s < 2**31 for s in seeds)
    assert worker_seed(7, 0, 0, salt="host:1") not in (7, worker_seed(7, 0, 0, salt="host:2"))


def test_split_trials() -> None:
    assert split_trials(7, 3) == [3, 2, 2]
    assert split_trials(1, 2) == [1, 0]
    assert sum(split_trials(10, 4)) == 10


def test_redact() -> None:
    assert redact("postgresql://user:p%40ss@host:5432/db") == "postgresql://user:***@host:5432/db"
    assert redact("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert redact("postgresql://user@host/db") == "postgresql://user@host/db"
