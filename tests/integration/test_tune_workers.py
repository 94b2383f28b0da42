"""`ml-ci tune` as real processes against real storage (PostgreSQL from tests/services.py, or SQLite).

The trainer is replaced through the internal ML_CI_TUNE_FIT hook by `fake_fit` below, so that a
trial takes milliseconds; everything else (CLI, data loading, study, sampler, pruner, heartbeat,
MaxTrialsCallback, artifacts) is the real code path.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_ci.config import load_config
from tests.modelrepo import make_model_repo
from tests.services import postgres

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EVALS = 4  # validation evaluations per fake training run
# fake_fit reads these: a file to log each call to, and a trial number to hang in (for the kill test).
LOG_ENV = "FAKE_FIT_LOG"
HANG_ENV = "FAKE_FIT_HANG_TRIAL"


def fake_fit(config: Any, splits: Any, *, overrides: dict[str, Any], output_dir: Path, report: Any = None) -> dict[str, float]:
    """A trainer whose validation accuracy peaks at learning_rate 1e-4 and grows with each evaluation."""
    trial = int(output_dir.name.split("-")[1])  # trial-<n>-<random>, see ml_ci.tune.objective
    if log := os.environ.get(LOG_ENV):
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"trial": trial, "pid": os.getpid(), "params": overrides}) + "\n")
    if os.environ.get(HANG_ENV) == str(trial):
        Path(os.environ[LOG_ENV] + ".hung").write_text(str(os.getpid()))
        time.sleep(600)
    assert len(splits["train"]) > 0 and len(splits["validation"]) > 0
    best = 0.95 - 0.2 * (math.log10(overrides["learning_rate"]) + 4) ** 2
    accuracy = best
    for i in range(1, EVALS + 1):
        accuracy = best * (0.5 + 0.5 * i / EVALS)
        if report is not None:
            report(i * 10, {"accuracy": accuracy, "f1_macro": accuracy})
    return {"accuracy": accuracy, "f1_macro": accuracy}


def tune_repo(root: Path, *, fresh: bool = False, **tune: Any) -> Path:
    """A model repository with tuning on. fresh=True: data never seen before, hence a study name no earlier
    run used (the PostgreSQL database outlives the test run)."""
    settings = {
        "enabled": True,
        "trials": 8,
        "pruner": "median",
        "search_space": {
            "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
            "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2, "step": 0.1},
        },
    }
    seed = uuid.uuid4().int % 10**9 if fresh else 0
    return make_model_repo(root, n_train=40, n_val=20, n_test=20, seed=seed, overrides={"tune": {**settings, **tune}})


def ml_ci(config: Path, *args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml_ci", "tune", "-c", str(config), *args],
        env=env,
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def base_env(tmp_path: Path, storage: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPTUNA_STORAGE", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
    env.update({"PYTHONPATH": str(ROOT), "ML_CI_TUNE_FIT": f"{__name__}:fake_fit", LOG_ENV: str(tmp_path / "calls.jsonl")})
    if storage:
        env["OPTUNA_STORAGE"] = storage
    return env


def calls(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def pg_storage() -> Iterator[str]:
    """The test PostgreSQL; each test uses its own study names (the data differs), tables are shared."""
    yield postgres()


def load(storage: str, name: str) -> Any:
    import optuna

    from ml_ci.tune.study import module_installed, with_driver

    return optuna.load_study(study_name=name, storage=with_driver(storage, module_installed))


def study_name_of(repo: Path) -> str:
    return str(json.loads((repo / ".ml-ci/artifacts/tune/report.json").read_text())["study"])


def test_two_workers_share_one_postgres_study(tmp_path: Path, pg_storage: str) -> None:
    # The random sampler makes pruning all but certain: about half the trials score below the median.
    config = tune_repo(tmp_path / "repo", fresh=True, trials=12, workers=2, sampler="random")
    env = base_env(tmp_path, pg_storage)
    env["GITHUB_OUTPUT"] = str(tmp_path / "out.txt")
    result = ml_ci(config, env=env)
    assert result.returncode == 0, result.stderr
    study = load(pg_storage, study_name_of(config.parent))
    trials = study.get_trials(deepcopy=False)
    states = [t.state.name for t in trials]
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    # MaxTrialsCallback stops each worker once 12 trials finished; at most one more was in flight.
    assert 12 <= len(finished) <= 13, states
    assert "PRUNED" in states and "COMPLETE" in states, states
    assert set(states) <= {"COMPLETE", "PRUNED"}, states
    logged = calls(tmp_path)
    # Every trial ran exactly once and every run is recorded: no trial lost, none duplicated.
    assert sorted(c["trial"] for c in logged) == sorted(t.number for t in trials)
    assert len({c["pid"] for c in logged}) == 2, "both worker processes ran trials"
    by_number = {t.number: t for t in trials}
    for c in logged:
        assert by_number[c["trial"]].params == c["params"]
    # Optuna's step is training examples seen: the fake's optimizer steps 10, 20, ... x the batch
    # (not tuned here) x gradient accumulation.
    train = load_config(config).config.train
    per_step = train.batch_size * train.gradient_accumulation_steps
    for t in trials:
        if t.state.name == "PRUNED":
            assert max(t.intermediate_values) < EVALS * 10 * per_step, "a pruned trial stopped before its last evaluation"
        else:
            assert sorted(t.intermediate_values) == [i * 10 * per_step for i in range(1, EVALS + 1)]
    best = json.loads((config.parent / ".ml-ci/artifacts/tune/best_params.json").read_text())
    assert best == study.best_trial.params
    assert f"best-value={study.best_value!r}" in (tmp_path / "out.txt").read_text()


def wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            stderr = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"the worker exited with {proc.returncode} before hanging: {stderr}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the worker did not reach the hanging trial in {seconds} s")
        time.sleep(0.2)


def test_killed_worker_trial_fails_and_the_rerun_goes_on(tmp_path: Path, pg_storage: str) -> None:
    config = tune_repo(tmp_path / "repo", fresh=True, trials=4, pruner="none")
    env = base_env(tmp_path, pg_storage)
    env["ML_CI_TUNE_HEARTBEAT_SECONDS"] = "1"  # stale after 2 s without a heartbeat, instead of minutes
    proc = subprocess.Popen(
        [sys.executable, "-m", "ml_ci", "tune", "-c", str(config)],
        cwd=config.parent,
        env={**env, HANG_ENV: "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    hung = Path(env[LOG_ENV] + ".hung")
    wait_for(hung, proc)
    assert int(hung.read_text()) == proc.pid
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.stderr is not None
    proc.stderr.close()

    from ml_ci.config import load_config
    from ml_ci.tune.plan import study_name
    from ml_ci.tune.run import data_fingerprint

    cfg = load_config(config).config
    name = study_name(cfg, data_fingerprint(cfg))
    assert [t.state.name for t in load(pg_storage, name).get_trials()] == ["COMPLETE", "RUNNING"]
    time.sleep(3)  # let the killed trial's heartbeat go stale (grace: 2 s)

    result = ml_ci(config, env=env)
    assert result.returncode == 0, result.stderr
    trials = load(pg_storage, name).get_trials()
    killed = trials[1]
    assert killed.state.name == "FAIL"
    finished = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(finished) == 4, [t.state.name for t in trials]
    # The killed trial is retried once with its parameters (RetryHeartbeatStaleTrialCallback).
    retried = [t for t in finished if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retried) == 1 and retried[0].params == killed.params
    assert sorted(c["trial"] for c in calls(tmp_path)) == sorted(t.number for t in trials)


def test_sqlite_default_storage_reruns_continue_the_study(tmp_path: Path) -> None:
    config = tune_repo(tmp_path / "repo", trials=4)
    env = base_env(tmp_path, None)
    first = ml_ci(config, "--workers", "2", "--trials", "2", env=env)
    assert first.returncode == 0, first.stderr
    assert (config.parent / ".ml-ci" / "tune.db").is_file()
    assert len(calls(tmp_path)) == 2 and len({c["pid"] for c in calls(tmp_path)}) == 2
    second = ml_ci(config, "--trials", "10", env=env)  # the study needs only 2 more: tune.trials is 4
    assert second.returncode == 0, second.stderr
    assert sorted(c["trial"] for c in calls(tmp_path)) == [0, 1, 2, 3]
    report = json.loads((config.parent / ".ml-ci/artifacts/tune/report.json").read_text())
    assert len(report["trials"]) == 4
    third = ml_ci(config, env=env)  # a complete study: no trial runs, the report is rewritten
    assert third.returncode == 0, third.stderr
    assert len(calls(tmp_path)) == 4
    assert "best accuracy" in third.stdout


def test_unreachable_storage_fails_fast_with_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on once this closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tune_repo(tmp_path / "repo")
    env = base_env(tmp_path, f"postgresql://postgres:secret@127.0.0.1:{port}/mlci")
    result = ml_ci(config, env=env, timeout=120)
    assert result.returncode == 1
    assert f"error: cannot reach the Optuna storage postgresql://postgres:***@127.0.0.1:{port}/mlci" in result.stderr
    assert "after 3 attempts" in result.stderr
    assert "secret" not in result.stderr and "Traceback" not in result.stderr
    assert calls(tmp_path) == []


def test_a_single_choice_is_warned_about_and_tuned(tmp_path: Path) -> None:
    config = tune_repo(
        tmp_path / "repo",
        trials=1,
        search_space={
            "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
            "batch_size": {"type": "categorical", "choices": [16]},
        },
    )
    result = ml_ci(config, "--format", "text", env=base_env(tmp_path, None))
    assert result.returncode == 0, result.stderr
    where = rf"{re.escape(str(config))}:\d+:\d+: "
    assert re.search(where + "warning: tune.search_space.batch_size.choices: only one choice: nothing to tune", result.stderr)
    assert json.loads((config.parent / ".ml-ci/artifacts/tune/best_params.json").read_text())["batch_size"] == 16


@pytest.fixture
def fresh_pg() -> Iterator[str]:
    """A database of its own on the test PostgreSQL, empty (no Optuna tables yet), dropped afterwards:
    what the generated matrix meets on its first run."""
    import sqlalchemy as sa

    from ml_ci.tune.study import module_installed, with_driver

    server = postgres()
    admin = sa.create_engine(with_driver(server, module_installed), isolation_level="AUTOCOMMIT")
    name = f"mlci_fresh_{uuid.uuid4().hex[:12]}"
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_storage_opened_at_once_by_four_workers_on_an_empty_database(tmp_path: Path, fresh_pg: str) -> None:
    """Four workers released together create Optuna's tables on an empty database: each one opens the
    storage (before: one died with IntegrityError ... CREATE TYPE studydirection)."""
    import threading

    from ml_ci.tune.plan import plan_study
    from ml_ci.tune.run import data_fingerprint
    from ml_ci.tune.study import open_storage

    config = load_config(tune_repo(tmp_path / "repo")).config
    plan = plan_study(config, data_fingerprint=data_fingerprint(config), env={"OPTUNA_STORAGE": fresh_pg})
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            open_storage(plan).engine.dispose()
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []


@pytest.mark.parametrize("workers", [2, 4])
def test_matrix_workers_start_together_on_an_empty_database(tmp_path: Path, fresh_pg: str, workers: int) -> None:
    """The generated matrix: `workers` separate `ml-ci tune --workers 1` commands, started at once, each
    with its index, on a database no one has used yet. All succeed and share one study."""
    config = tune_repo(tmp_path / "repo", trials=2 * workers, workers=workers, sampler="random")
    procs = []
    for i in range(workers):
        env = {**base_env(tmp_path, fresh_pg), "ML_CI_TUNE_WORKER": str(i)}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "ml_ci", "tune", "-c", str(config), "--workers", "1", "--trials", "2"],
                env=env,
                cwd=config.parent,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    assert [code for code, _ in results] == [0] * workers, "\n".join(err for _, err in results)
    trials = load(fresh_pg, study_name_of(config.parent)).get_trials(deepcopy=False)
    assert len(trials) >= 2 * workers and len({c["pid"] for c in calls(tmp_path)}) == workers
