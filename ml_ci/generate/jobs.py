"""Building blocks shared by the PR and release workflows: steps and least-privilege jobs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

from ml_ci import __version__
from ml_ci.config.model import Config
from ml_ci.generate import pins
from ml_ci.generate.model import Concurrency, Env, Job, Step
from ml_ci.generate.options import Options
from ml_ci.generate.yamlout import Commented, Value
from ml_ci.lock import own, profiles
from ml_ci.pipeline import stages
from ml_ci.pipeline.layout import IN_REPO

# Short jobs (validate, report, deploy) get this; training and tuning get ci.timeout_minutes.
SHORT_TIMEOUT = 20
READ = {"contents": Commented("read", "check out the repository")}


def artifacts_path(stage: str) -> str:
    return IN_REPO.artifacts(stage).as_posix()


def checkout() -> Step:
    # No token left in .git/config for later steps to find.
    return Step(name="Check out", uses=pins.CHECKOUT.uses(), with_={"persist-credentials": False})


def setup(config: Config, options: Options, stage_name: str, *, gpu: bool = False, validate: bool = False) -> Step:
    """The setup step of the job that runs stage_name: the environment (profile) that stage imports; gpu: the job is
    a job(gpu=True), which runs on ci.gpu_runner where one is set and then gets torch's CUDA build."""
    gpu = gpu and config.ci.gpu_runner is not None
    return setup_step(
        options,
        config_file=config.path.name,
        python=config.ci.python,
        version=config.ci.ml_ci_version or __version__,
        profile=profiles.for_stage(stage_name, gpu=gpu).name,
        lock_dir=profiles.LOCK_DIR if own.uses_own(config) else "",
        torch_index=config.ci.torch_index,
        validate=validate,
    )


def setup_step(
    options: Options,
    *,
    config_file: str,
    python: str,
    version: str,
    profile: str,
    lock_dir: str = "",
    torch_index: Optional[str] = None,
    validate: bool = False,
) -> Step:
    with_: dict[str, Value] = {
        "config": config_file,
        "python-version": python,
        "version": version,
        "profile": profile,
        "validate": "true" if validate else "false",
    }
    if lock_dir:
        with_["lock-dir"] = lock_dir
    if torch_index is not None and profile == "cpu":
        with_["torch-index"] = torch_index
    if options.install_source:
        with_["source"] = options.install_source
    return Step(name="Set up ml-ci", uses=options.uses("setup"), with_=with_)


def stage(
    config: Config | str, options: Options, action: str, *, step_id: str, name: str, with_: Optional[Mapping[str, Value]] = None
) -> Step:
    """A step running one of ml-ci's composite actions; config is the Config or the ml.yaml path."""
    config_file = config if isinstance(config, str) else config.path.name
    return Step(name=name, id=step_id, uses=options.uses(action), with_={"config": config_file, **(with_ or {})})


def passed_on(stage_name: str, step_id: str, *names: str) -> dict[str, str]:
    """A job's outputs for later jobs: the named outputs of the step that runs a stage's action, each one
    the stage table says the stage sets."""
    declared = stages.get(stage_name).outputs
    unknown = [name for name in names if name not in declared]
    if unknown:
        raise ValueError(f"stage {stage_name} sets no output {', '.join(unknown)} (it sets {', '.join(declared)})")
    return {name: f"${{{{ steps.{step_id}.outputs.{name} }}}}" for name in names}


def upload(artifact: str, stage_dir: str) -> Step:
    return upload_path(artifact, artifacts_path(stage_dir))


def upload_path(artifact: str, path: str) -> Step:
    # always(): a failed stage's report is what the reviewer needs most.
    return Step(
        name=f"Upload {artifact}",
        if_="always()",
        uses=pins.UPLOAD_ARTIFACT.uses(),
        with_={"name": artifact, "path": path, "include-hidden-files": True, "if-no-files-found": "ignore", "retention-days": 7},
    )


def download(artifact: str, stage_dir: str, *, optional: bool = False) -> Step:
    return download_path(artifact, artifacts_path(stage_dir), optional=optional)


def download_path(artifact: str, path: str, *, optional: bool = False) -> Step:
    return Step(
        name=f"Download {artifact}",
        uses=pins.DOWNLOAD_ARTIFACT.uses(),
        with_={"name": artifact, "path": path},
        continue_on_error=optional,
    )


def job(
    config: Config,
    job_id: str,
    name: str,
    steps: tuple[Step, ...],
    *,
    needs: tuple[str, ...] = (),
    long: bool = False,
    gpu: bool = False,
    permissions: Optional[Mapping[str, Commented]] = None,
    if_: Optional[str] = None,
    environment: Optional[Mapping[str, str]] = None,
    concurrency: Optional[Concurrency] = None,
    strategy: Optional[Mapping[str, Value]] = None,
    outputs: Optional[Mapping[str, str]] = None,
    env: Optional[Env] = None,
) -> Job:
    """A job on the config's runners, reading the repository only unless given more permissions."""
    return Job(
        id=job_id,
        name=name,
        runs_on=config.ci.train_runner if gpu else config.ci.runner,
        timeout_minutes=config.ci.timeout_minutes if long else SHORT_TIMEOUT,
        permissions=permissions or READ,
        needs=needs,
        steps=steps,
        if_=if_,
        environment=environment,
        concurrency=concurrency,
        strategy=strategy,
        outputs=outputs or {},
        env=env or {},
    )


def secret_env(*names: Optional[str]) -> dict[str, str]:
    """Secrets by name, into the environment of the job that needs them, never into a script."""
    return {n: f"${{{{ secrets.{n} }}}}" for n in names if n}


def deploy_concurrency(config: Config, environment: str) -> Concurrency:
    # One deploy per environment at a time, and a running deploy is never cancelled halfway.
    return Concurrency(group=f"ml-ci-deploy-{config.name}-{environment}", cancel_in_progress=False)
