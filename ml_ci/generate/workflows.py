"""ml.yaml -> the two workflows of a model repository: ml-pr.yml and ml-release.yml (pure)."""

from __future__ import annotations

import re
from dataclasses import replace

from ml_ci.config.model import Config
from ml_ci.generate import baselines, gitops_carry, pins, tuning
from ml_ci.generate import jobs as j
from ml_ci.generate.model import SAME_REPO, SELF_HOSTED, Concurrency, Job, Step, Workflow
from ml_ci.generate.options import Options
from ml_ci.generate.yamlout import Commented, Value
from ml_ci.pipeline.layout import IN_REPO

REGISTRY_ENVIRONMENT = "ml-ci-registry"  # holds the build job's secrets: the registry credentials, the signing key
GHCR = "ghcr.io"
# The job's own token may push to GHCR (packages: write); docker reads the login from its config.
GHCR_LOGIN = """\
set -euo pipefail
printf '%s' "$GHCR_TOKEN" | docker login ghcr.io -u "$GITHUB_ACTOR" --password-stdin
"""
PR_OR_REF = "${{ github.event.pull_request.number || github.ref }}"
# actions/attest-build-provenance pushes the attestation with the credentials it finds in ~/.docker/config.json
# (@sigstore/oci's getRegistryCredentials), never with ml-ci's environment variables: log in there for it.
REGISTRY_LOGIN = """\
set -euo pipefail
printf '%s' "$REGISTRY_PASSWORD" | docker login "$REGISTRY" -u "$REGISTRY_USER" --password-stdin
"""


def pushes_with_job_token(config: Config) -> bool:
    """The build job pushes with its own token: only GitHub's registry takes it (`packages: write`);
    any other registry, or ghcr.io with a token named in ml.yaml, gets the credentials ml.yaml names."""
    return not config.image.registry_password_env and config.image.registry.lower() == GHCR


def image_repository(config: Config) -> str:
    """registry/repository of the serving image, without a tag: what `ml-ci build` pushes to
    (ml_ci.build.plan.repository, a layer above the generator; tests/unit/generate/test_attest.py holds the two
    together)."""
    name = config.image.repository or re.sub(r"[^a-z0-9._/-]+", "-", config.name.lower()).strip("-._/") or "model"
    return f"{config.image.registry}/{name}"


def attestation_steps(config: Config) -> tuple[Step, ...]:
    """After the build step: GitHub's artifact attestation of the pushed digest, signed through the job's OIDC
    identity and pushed beside the image as an OCI referrer (docs/supply-chain.md)."""
    image = config.image
    login: tuple[Step, ...] = ()
    if image.registry_password_env and not pushes_with_job_token(config):
        # ml-ci build pushed with the credentials ml.yaml names; the attest action reads only the docker config.
        # The same user name as ml_ci.build.docker_ops.auth_config when ml.yaml names none.
        user = f"${{{{ secrets.{image.registry_username_env} }}}}" if image.registry_username_env else "ml-ci"
        login = (
            Step(
                name="Log in to the registry for the attestation",
                env={
                    "REGISTRY": image.registry,
                    "REGISTRY_USER": user,
                    "REGISTRY_PASSWORD": f"${{{{ secrets.{image.registry_password_env} }}}}",
                },
                run=REGISTRY_LOGIN,
            ),
        )
    attest = Step(
        name="Attest the image's build provenance",
        uses=pins.ATTEST_BUILD_PROVENANCE.uses(),
        with_={
            "subject-name": image_repository(config),
            "subject-digest": "${{ steps.build.outputs.digest }}",
            "push-to-registry": True,
            # A storage record needs `artifact-metadata: write` and an organization's repository; the attestation
            # itself needs neither.
            "create-storage-record": False,
        },
    )
    return (*login, attest)


def _triggers(config: Config, event: str) -> dict[str, Value]:
    trigger: dict[str, Value] = {"branches": list(config.ci.branches)}
    if config.ci.paths:
        trigger["paths"] = list(config.ci.paths)
    return {event: trigger}


def validate_job(config: Config, options: Options) -> Job:
    return j.job(config, "validate", "validate ml.yaml", (j.checkout(), j.setup(config, options, "validate", validate=True)))


def data_check_job(config: Config, options: Options) -> Job:
    return j.job(
        config,
        "data-check",
        "data check",
        (
            j.checkout(),
            j.setup(config, options, "data-check"),
            j.stage(config, options, "data-check", step_id="data", name="Check the data"),
            j.upload("data-check", "data-check"),
        ),
        needs=("validate",),
    )


def train_job(config: Config, options: Options, needs: tuple[str, ...]) -> Job:
    steps: list[Step] = [j.checkout(), j.setup(config, options, "train", gpu=True)]
    with_: dict[str, Value] = {}
    if config.tune.enabled:
        steps.append(tuning.results(config))
        with_["params"] = IN_REPO.best_params.as_posix()
    steps += [j.stage(config, options, "train", step_id="train", name="Train", with_=with_), j.upload("train", "train")]
    return j.job(
        config,
        "train",
        "train",
        tuple(steps),
        needs=needs,
        long=True,
        gpu=True,
        outputs=j.passed_on("train", "train", "model-digest"),
    )


def evaluate_job(config: Config, options: Options, extra: baselines.EvaluateBaselines) -> Job:
    steps = (
        j.checkout(),
        j.setup(config, options, "evaluate"),
        j.download("train", "train"),
        *extra.before,
        j.stage(config, options, "evaluate", step_id="evaluate", name="Evaluate and check gates", with_=extra.inputs),
        j.upload("evaluate", "evaluate"),
        *extra.after,
    )
    return j.job(
        config,
        "evaluate",
        "evaluate",
        steps,
        needs=("train",),
        outputs=j.passed_on("evaluate", "evaluate", "verdict"),
        environment={"name": extra.environment} if extra.environment else None,
    )


def report_job(config: Config, options: Options, needs: tuple[str, ...]) -> Job:
    downloads = [j.download("data-check", "data-check", optional=True), j.download("evaluate", "evaluate", optional=True)]
    if config.tune.enabled:
        downloads.append(tuning.results(config, optional=True))
    steps = (
        j.checkout(),
        j.setup(config, options, "report"),
        *downloads,
        j.stage(
            config,
            options,
            "report",
            step_id="report",
            name="Report on the pull request",
            with_={"pr": "${{ github.event.pull_request.number }}"},
        ),
    )
    return j.job(
        config,
        "report",
        "report",
        steps,
        needs=needs,
        # Runs after failures too (the report says what failed), but never for a fork's PR:
        # those get no write token.
        if_=f"${{{{ !cancelled() && {SAME_REPO} }}}}",
        permissions={
            **j.READ,
            "pull-requests": Commented("write", "post the sticky report comment"),
            "statuses": Commented("write", "set the commit status"),
        },
    )


def _fork_guard(job: Job) -> Job:
    """Code from a fork's pull request never runs on a self-hosted runner (it could persist there)."""
    if SELF_HOSTED not in job.runs_on or (job.if_ and SAME_REPO in job.if_):
        return job
    return replace(job, if_=f"${{{{ {SAME_REPO} }}}}")


def pr_workflow(config: Config, options: Options) -> Workflow:
    jobs = [validate_job(config, options), data_check_job(config, options)]
    train_needs: tuple[str, ...] = ("data-check",)
    if config.tune.enabled:
        tune_jobs, last = tuning.jobs(config, options)
        jobs += tune_jobs
        train_needs = ("data-check", last)
    jobs += [train_job(config, options, train_needs), evaluate_job(config, options, baselines.for_pr(config))]
    jobs.append(report_job(config, options, tuple(job.id for job in jobs)))
    jobs = [_fork_guard(job) for job in jobs]
    return Workflow(
        name=f"ml-pr ({config.name})",
        on=_triggers(config, "pull_request"),
        jobs=tuple(jobs),
        # A new push to the PR supersedes the run in progress.
        concurrency=Concurrency(group=f"ml-pr-{config.name}-{PR_OR_REF}", cancel_in_progress=True),
    )


def release_workflow(config: Config, options: Options) -> Workflow:
    jobs = [validate_job(config, options)]
    train_needs: tuple[str, ...] = ("validate",)
    if config.tune.enabled:
        # Tuning again rejoins the PR's finished study when the storage is shared (see tuning.py).
        jobs.append(data_check_job(config, options))
        tune_jobs, last = tuning.jobs(config, options)
        jobs += tune_jobs
        train_needs = (last,)
    jobs += [train_job(config, options, train_needs), evaluate_job(config, options, baselines.for_release(config))]
    jobs.append(
        j.job(
            config,
            "export",
            "export",
            (
                j.checkout(),
                j.setup(config, options, "export"),
                j.download("train", "train"),
                j.stage(config, options, "export", step_id="export", name="Export"),
                j.upload("export", "export"),
            ),
            needs=("evaluate",),
        )
    )
    image = config.image
    build_env = j.secret_env(image.registry_username_env, image.registry_password_env)
    login: tuple[Step, ...] = ()
    build_permissions: dict[str, Commented] = dict(j.READ)
    if pushes_with_job_token(config):
        login = (Step(name="Log in to GHCR with the job's token", env={"GHCR_TOKEN": "${{ github.token }}"}, run=GHCR_LOGIN),)
        build_permissions["packages"] = Commented("write", "push the image to ghcr.io with the job's token")
    build = j.stage(config, options, "build", step_id="build", name="Build and push", with_={"push": "true"})
    attest: tuple[Step, ...] = ()
    supply = config.supply_chain
    if supply is not None and supply.attest:
        # The private key reaches the one step that signs with it, not the job's third-party actions.
        build = replace(build, env=j.secret_env(supply.signing_key_env))
        build_permissions["id-token"] = Commented("write", "the OIDC token that Sigstore certifies the attestation's signer by")
        build_permissions["attestations"] = Commented("write", "store the build provenance attestation with GitHub")
        attest = attestation_steps(config)
    # Secrets only in a job bound to an environment, whose protection rules guard them.
    build_environment = {"name": REGISTRY_ENVIRONMENT} if build_env or build.env else None
    jobs.append(
        j.job(
            config,
            "build",
            "build and push the image",
            (
                j.checkout(),
                j.setup(config, options, "build"),
                j.download("export", "export"),
                j.download("evaluate", "evaluate"),
                *login,
                build,
                *attest,
                j.upload("build", "build"),
            ),
            needs=("evaluate", "export"),
            permissions=build_permissions,
            outputs=j.passed_on("build", "build", "image", "digest"),
            environment=build_environment,
            env=build_env,
        )
    )
    if config.deploy is not None:
        deploy = config.deploy
        secrets = j.secret_env(deploy.gitops.token_env if deploy.strategy == "gitops" and deploy.gitops else None)
        if supply is not None and supply.verify:
            # Verification reads the image's referrers with the credentials ml.yaml names (ml_ci.supply.attest.verify_for).
            secrets |= build_env
        previous = None
        needs = "build"
        for env in deploy.environments:
            permissions = {**j.READ, "deployments": Commented("write", "record the deployment")}
            if deploy.strategy == "apply" and env.kind == "kubernetes":
                permissions["id-token"] = Commented("write", "log in to the cluster with OIDC")
            common: tuple[Step, ...] = (
                j.checkout(),
                j.setup(config, options, "deploy"),
                j.download("export", "export"),
                j.download("build", "build"),
            )
            if previous is None:
                # `ml-ci deploy` ships only a model whose evaluation record passed its gates.
                common = (*common, j.download("evaluate", "evaluate"))
                job_id, name = f"deploy-{env.name}", f"deploy to {env.name}"
                step = j.stage(
                    config,
                    options,
                    "deploy",
                    step_id="deploy",
                    name=f"Deploy to {env.name} and smoke-test",
                    with_={"environment": env.name, "image": "${{ needs.build.outputs.image }}"},
                )
            else:
                job_id, name = f"promote-{env.name}", f"promote {previous} to {env.name}"
                step = j.stage(
                    config,
                    options,
                    "promote",
                    step_id="promote",
                    name=f"Promote {previous} to {env.name}",
                    with_={"from": previous, "to": env.name},
                )
            # The GitHub Deployment record (ml_ci/deploy/github.py) is made with the job's token.
            step = replace(step, env={"GITHUB_TOKEN": "${{ github.token }}"})
            steps = (*common, *gitops_carry.around(config, previous=previous, env=env.name, deploy=step))
            jobs.append(
                j.job(
                    config,
                    job_id,
                    name,
                    steps,
                    needs=(needs,),
                    permissions=permissions,
                    environment={"name": env.name},
                    concurrency=j.deploy_concurrency(config, env.name),
                    env=secrets,
                )
            )
            previous, needs = env.name, job_id
    on = {**_triggers(config, "push"), "workflow_dispatch": {}}
    return Workflow(
        name=f"ml-release ({config.name})",
        on=on,
        jobs=tuple(jobs),
        # Releases queue up; one in progress is never cancelled (it may be deploying).
        concurrency=Concurrency(group=f"ml-release-{config.name}-${{{{ github.ref }}}}", cancel_in_progress=False),
    )
