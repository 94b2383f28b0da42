"""`ml-ci tune`, the effectful part: open the study, run trials here or in local worker processes,
write the artifacts and the runner outputs.

The artifacts of a finished study are cached (`ml_ci.tune.cached`): an unchanged rerun restores
them without opening the storage or importing Optuna.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Optional

from ml_ci.cache import Cached, StageCache, announce, cache_key, mode, through_cache, unpinned
from ml_ci.config.model import Config
from ml_ci.errors import ConfigError, OperationalError, Problem
from ml_ci.github.actions_io import add_summary, set_output
from ml_ci.pipeline.layout import Layout
from ml_ci.tune import cached
from ml_ci.tune.objective import FitFn, make_objective
from ml_ci.tune.plan import WORKER_ENV, StudyPlan, plan_study, split_trials, worker_seed
from ml_ci.tune.summary import Summary, markdown

if TYPE_CHECKING:
    import optuna

STAGE = "tune"
# Internal hook for tests and benchmarks: "module:function" replaces ml_ci.train.fit.fit in the
# objective, so that worker processes run the real `ml-ci tune` path with a fast fake trainer.
FIT_HOOK_ENV = "ML_CI_TUNE_FIT"


@dataclass(frozen=True, kw_only=True)
class TuneOptions:
    trials: Optional[int] = None  # the most trials this command runs; default tune.trials
    workers: Optional[int] = None  # local processes; default tune.workers
    timeout_minutes: Optional[float] = None
    report: bool = True  # False in local worker processes: their parent writes the report
    no_cache: bool = False


@dataclass(frozen=True)
class TuneResult:
    plan: StudyPlan
    summary: Optional[Summary]  # None when report=False
    ran: int  # trials this command ran (or its workers)
    cache_hit: bool = False


def data_fingerprint(config: Config) -> str:
    """The splits tuning reads (train and validation), hashed without loading them."""
    from ml_ci.data.fingerprint import combined, fingerprints

    return combined(fingerprints(config, ("train", "validation")))


def resolve_fit(env: Mapping[str, str]) -> FitFn:
    hook = env.get(FIT_HOOK_ENV)
    if hook:
        module, _, name = hook.partition(":")
        try:
            fn: FitFn = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as e:
            raise ConfigError([Problem(FIT_HOOK_ENV, 0, 0, "", f"cannot import {hook!r}: {e}")]) from None
        return fn
    from ml_ci.train.fit import fit

    return fit


def seed_salt(config: Config, env: Mapping[str, str]) -> str:
    """Parallel workers that were not given their index (ML_CI_TUNE_WORKER) must still not share a
    seed: they would propose the same start-up trials. Host and process tell them apart."""
    if WORKER_ENV in env or config.tune.workers <= 1:
        return ""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def optimize(study: optuna.Study, plan: StudyPlan, config: Config, fit: FitFn, n_trials: int) -> int:
    """Run up to n_trials trials here; stops early once the study has plan.total_trials finished
    trials (counting every worker's) or the timeout passes. Returns the trials started here."""
    import optuna

    from ml_ci.data.load import load_splits
    from ml_ci.tune.study import finished_trials

    if n_trials <= 0 or finished_trials(study) >= plan.total_trials:
        return 0
    from ml_ci.tune import budget, reuse

    before = len(study.get_trials(deepcopy=False))
    splits = load_splits(config)
    # A full trial is the training `ml-ci train --params` would run: keep the best one's model for it.
    keep = reuse.keeper(config, study, splits.sources) if budget.is_full(config) else None
    objective = make_objective(
        config, budget.apply(config, splits), fit, workdir=Layout(config.root).state / "tmp" / "tune", keep=keep
    )
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    stop = optuna.study.MaxTrialsCallback(plan.total_trials, states=finished)
    # optuna.Trial satisfies TrialLike; mypy cannot see it through the Callable's parameter.
    study.optimize(
        objective,  # type: ignore[arg-type]
        n_trials=n_trials,
        timeout=plan.timeout_seconds,
        callbacks=[stop],
        gc_after_trial=True,
    )
    return len(study.get_trials(deepcopy=False)) - before


def worker_command(config: Config, plan: StudyPlan, n_trials: int) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "ml_ci",
        "tune",
        "-c",
        str(config.path),
        "--workers",
        "1",
        "--trials",
        str(n_trials),
        "--no-report",
    ]
    if plan.timeout_seconds is not None:
        cmd += ["--timeout-minutes", repr(plan.timeout_seconds / 60)]
    return cmd


def run_workers(config: Config, plan: StudyPlan, env: Mapping[str, str]) -> int:
    """plan.workers processes of `ml-ci tune` on the same study; each gets a distinct worker index."""
    procs: dict[int, subprocess.Popen[bytes]] = {}
    try:
        for i, n in enumerate(split_trials(plan.n_trials, plan.workers)):
            if n == 0:
                continue
            child_env = {**env, WORKER_ENV: str(plan.worker * plan.workers + i)}
            if not plan.storage_from_env:  # children must find the same default storage
                child_env.setdefault(config.tune.storage_env, plan.storage_url)
            procs[i] = subprocess.Popen(worker_command(config, plan, n), env=child_env)
        codes = {i: p.wait() for i, p in procs.items()}
    except BaseException:
        for p in procs.values():
            p.kill()
            p.wait()
        raise
    failed = [(i, c) for i, c in codes.items() if c != 0]
    if failed:
        raise OperationalError("tuning worker(s) failed: " + ", ".join(f"worker {i} exited with {c}" for i, c in failed))
    return len(procs)


def key_of(config: Config, plan: StudyPlan, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """The cache key, and the split roles it cannot see (an unpinned hub split)."""
    from ml_ci.data.fingerprint import fingerprints
    from ml_ci.train import base_model
    from ml_ci.versions import package_versions

    fps = fingerprints(config, cached.ROLES)
    inputs = cached.cache_inputs(
        config,
        plan=plan,
        fingerprints=fps,
        base_identity=base_model.identity(base_model.resolve(config)),
        fit_hook=env.get(FIT_HOOK_ENV),
        packages=package_versions(cached.PACKAGES),
    )
    return cache_key(STAGE, inputs), unpinned(fps)


def run_study(config: Config, plan: StudyPlan, env: Mapping[str, str]) -> tuple[optuna.Study, int]:
    """Open the study and run this command's trials (here or in local workers); the trials started."""
    from ml_ci.tune.study import finished_trials, make_sampler, open_storage, open_study

    if plan.n_trials > 0 and not env.get(FIT_HOOK_ENV):  # a hub model that cannot be had fails once, before any worker
        from ml_ci.train import base_model

        base_model.check_loadable(base_model.resolve(config))
    storage = open_storage(plan)
    study = open_study(plan, config, storage)
    if plan.workers > 1 and plan.n_trials > 0:
        before = len(study.get_trials(deepcopy=False))
        run_workers(config, plan, env)
        return study, len(study.get_trials(deepcopy=False)) - before
    seeded = replace(plan, seed=worker_seed(plan.seed, plan.worker, finished_trials(study), seed_salt(config, env)))
    study.sampler = make_sampler(seeded, config)
    return study, optimize(study, seeded, config, resolve_fit(env), plan.n_trials)


def tune(config: Config, options: TuneOptions, env: Mapping[str, str] | None = None) -> TuneResult:
    """Run the study as the options say and write .ml-ci/artifacts/tune/ (unless report=False)."""
    env = dict(os.environ if env is None else env)
    from ml_ci.progress import quiet_unless_terminal

    quiet_unless_terminal(env)  # trials load data and models: bars on a terminal only, never in CI logs
    plan = plan_study(
        config,
        data_fingerprint=data_fingerprint(config),
        env=env,
        trials=options.trials,
        workers=options.workers,
        timeout_minutes=options.timeout_minutes,
    )
    if not options.report:  # a local worker: its parent writes (and caches) the artifacts
        return TuneResult(plan, None, run_study(config, plan, env)[1])
    layout = Layout(config.root)
    dest = layout.artifacts(STAGE)
    key, unseen = key_of(config, plan, env)

    def compute() -> TuneResult:
        from ml_ci.tune.report import write_artifacts

        study, ran = run_study(config, plan, env)
        summary = write_artifacts(dest, study, metric=plan.metric, seed=config.train.seed, plan=plan.to_json())
        return TuneResult(plan, summary, ran)

    def restored() -> TuneResult:
        report = json.loads(layout.tune_report.read_text(encoding="utf-8"))
        return TuneResult(plan, cached.summary_from_report(report), 0, cache_hit=True)

    result, how = through_cache(
        StageCache(layout.cache),
        STAGE,
        key,
        dest,
        mode=mode(no_cache=options.no_cache, unseen=unseen),
        compute=compute,
        restored=restored,
        keep=lambda r: cached.finished(r.summary, plan),
    )
    return finish(result, how, env)


def finish(result: TuneResult, how: Cached, env: Mapping[str, str]) -> TuneResult:
    """Tell the Actions runner; exit 1 when no trial completed."""
    summary, plan = result.summary, result.plan
    assert summary is not None
    # The job summary cannot show the PNGs (they are artifacts): leave their links out there.
    add_summary(markdown(replace(summary, plots=())), env)
    announce(how, env)
    if summary.best is None:
        raise OperationalError(
            f"no trial of study {plan.study_name!r} has completed yet "
            f"({', '.join(f'{n} {s.lower()}' for s, n in summary.counts.items()) or 'no trials'})"
        )
    set_output("best-value", repr(summary.best.value), env)
    return result
