"""The reusable workflow .github/workflows/ml-pipeline.yml: the whole pipeline behind one `uses:` line.

validate -> data check -> [tune] -> train -> evaluate -> report, and, behind inputs, export -> build
and push -> deploy to ml.yaml's first environment -> promote to each next one. A reusable workflow
cannot read the caller's ml.yaml while GitHub plans the jobs, so what ml.yaml decides at planning
time in the generated workflows is an input here (tune, export, build, deploy), and the rest is read
at run time: the validate job prints ml.yaml's environments (the deploy matrix, one at a time, in
order) and whether the image goes to ghcr.io with the job's token. `ml-ci generate` writes the full
workflows (a tuning matrix, one job per environment) for repositories that want them.

Its steps use the composite actions and the code of ml-ci at `ml-ci-ref`, checked out next to the
caller's repository, so that actions and CLI are the same version and no action is referenced by
tag. `ml-ci-ref` defaults to ML_CI_COMMIT, a commit: the workflow's own commit cannot be named inside
it (and GitHub gives a called workflow no context for it), so a release sets ML_CI_COMMIT to the
released commit in the commit after it.
"""

from __future__ import annotations

from dataclasses import replace

from ml_ci import __version__
from ml_ci.generate import jobs as j
from ml_ci.generate import pins, tuning
from ml_ci.generate.model import Concurrency, Job, Step, Workflow
from ml_ci.generate.options import Options
from ml_ci.generate.workflows import GHCR_LOGIN, REGISTRY_ENVIRONMENT
from ml_ci.generate.yamlout import Commented, Value
from ml_ci.lock import profiles
from ml_ci.pipeline.layout import IN_REPO

SOURCE = ".ml-ci-src"
# pip reads a bare ".ml-ci-src" as a package name; "./" makes it a path.
OPTIONS = Options(actions_ref=f"./{SOURCE}/actions", install_source=f"./{SOURCE}")
CONFIG = "${{ inputs.config }}"
# The commit of ml-ci/ml-ci whose actions and code run when the caller gives no ml-ci-ref. Every
# input this workflow passes to an action must exist in that commit's actions/ (an integration test
# reads them from git); bump it to each release's commit.
ML_CI_COMMIT = "99cac1c88fd84892d28d992836acf2da68301bbc"
TUNE_ENVIRONMENT = "ml-ci-tune"
# The secrets a caller may pass, under the names ml.yaml gives them by default (tune.storage_env,
# deploy.gitops.token_env) or must give them (image.registry_username_env, registry_password_env).
SECRETS = {
    "OPTUNA_STORAGE": "Optuna storage URL shared by the tuning workers (ml.yaml's tune.storage_env).",
    "REGISTRY_USERNAME": "Registry user, when ml.yaml's image.registry_username_env names REGISTRY_USERNAME.",
    "REGISTRY_PASSWORD": "Registry token, when ml.yaml's image.registry_password_env names REGISTRY_PASSWORD.",
    "GITOPS_TOKEN": "Token that may push to the GitOps repository (ml.yaml's deploy.gitops.token_env).",
}
# Images are built and deployed from a pull request's code never: only on pushes and by hand.
NOT_A_PR = "github.event_name != 'pull_request'"
RELEASE_PATH = "(inputs.export || inputs.build || inputs.deploy)"
# The validate job's plan: the deploy chain of ml.yaml (first deploy, then each promotion from the
# one before it) and whether the build logs in to ghcr.io with the job's token. Run on the ml-ci of
# ml-ci-ref, so it uses only load_config and the typed Config.
# One line each (json.dumps writes no newline), so plain name=value lines in $GITHUB_OUTPUT.
PLAN = """\
set -euo pipefail
python -c '
import json, os
from ml_ci.config import load_config
config = load_config(os.environ["ML_CI_CONFIG"]).config
names = [env.name for env in config.deploy.environments] if config.deploy else []
chain = [{"environment": name, "from": names[i - 1] if i else ""} for i, name in enumerate(names)]
ghcr = config.image.registry.lower() == "ghcr.io" and not config.image.registry_password_env
with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
    out.write("environments=" + json.dumps(chain) + "\\n")
    out.write("ghcr-login=" + ("true" if ghcr else "false") + "\\n")
'
"""


def _inputs() -> dict[str, Value]:
    def string(description: str, default: str) -> dict[str, Value]:
        return {"description": description, "type": "string", "required": False, "default": default}

    def boolean(description: str) -> dict[str, Value]:
        return {"description": description, "type": "boolean", "required": False, "default": False}

    return {
        "config": string("Path to ml.yaml in the calling repository.", "ml.yaml"),
        "ml-ci-ref": string(
            f"Commit SHA of ml-ci/ml-ci whose actions and code run (default: a pinned commit of ml-ci {__version__}).",
            ML_CI_COMMIT,
        ),
        "python-version": string("Python version on the runners.", "3.11"),
        "runs-on": string("runs-on labels as a JSON list.", '["ubuntu-latest"]'),
        "train-runs-on": string("runs-on labels of the tune and train jobs as a JSON list (empty: runs-on).", ""),
        "timeout-minutes": {
            "description": "timeout-minutes of the tune and train jobs.",
            "type": "number",
            "required": False,
            "default": 60,
        },
        "tune": boolean("Tune before training (ml-ci tune, tune.workers processes in one job); train uses the best parameters."),
        "export": boolean("Export the model to ONNX after a passing evaluation (not on pull requests)."),
        "build": boolean("Export, then build and push the serving image (not on pull requests)."),
        "deploy": boolean(
            "Export, build, deploy to ml.yaml's first environment and promote to each next one, in order (not on pull requests)."
        ),
    }


def _job(
    job_id: str, name: str, steps: tuple[Step, ...], *, needs: tuple[str, ...] = (), train: bool = False, **extra: object
) -> Job:
    checkout_ml_ci = Step(
        name="Check out ml-ci",
        uses=pins.CHECKOUT.uses(),
        with_={"repository": "ml-ci/ml-ci", "ref": "${{ inputs.ml-ci-ref }}", "path": SOURCE, "persist-credentials": False},
    )
    # The stage this job runs, for its install profile; the tune and train jobs take torch's CUDA build on train-runs-on.
    stage_name = {"build-ghcr": "build", "deploy-and-promote": "deploy"}.get(job_id, job_id)
    profile = "${{ inputs.train-runs-on && 'cuda' || 'cpu' }}" if train else profiles.for_stage(stage_name, gpu=False).name
    setup = j.setup_step(
        OPTIONS,
        config_file=CONFIG,
        python="${{ inputs.python-version }}",
        version=__version__,
        validate=job_id == "validate",
        profile=profile,
    )
    runs_on = "${{ fromJSON(inputs.train-runs-on || inputs.runs-on) }}" if train else "${{ fromJSON(inputs.runs-on) }}"
    return Job(
        id=job_id,
        name=name,
        runs_on=(runs_on,),
        timeout_minutes="${{ inputs.timeout-minutes }}" if train else j.SHORT_TIMEOUT,
        permissions=extra.pop("permissions", j.READ),  # type: ignore[arg-type]
        needs=needs,
        steps=(j.checkout(), checkout_ml_ci, setup, *steps),
        **extra,  # type: ignore[arg-type]
    )


def _after(*needs: str) -> str:
    """A job's condition that its needs succeeded. GitHub's implicit success() also fails when any job
    upstream was skipped (the optional tune job), so jobs after it say what they wait for."""
    return " && ".join(["!cancelled()", *(f"needs.{need}.result == 'success'" for need in needs)])


def _secrets(*names: str) -> dict[str, str]:
    return {name: f"${{{{ secrets.{name} }}}}" for name in names}


def _build_job(job_id: str, *, ghcr: bool) -> Job:
    """The build job in two variants, of which the plan runs one: only the one that pushes to ghcr.io
    with the job's token gets `packages: write`."""
    login = (
        (Step(name="Log in to GHCR with the job's token", env={"GHCR_TOKEN": "${{ github.token }}"}, run=GHCR_LOGIN),)
        if ghcr
        else ()
    )
    permissions = {
        **j.READ,
        **({"packages": Commented("write", "push the image to ghcr.io with the job's token")} if ghcr else {}),
    }
    return _job(
        job_id,
        "build and push the image" + (" (ghcr.io)" if ghcr else ""),
        (
            j.download("export", "export"),
            j.download("evaluate", "evaluate"),
            *login,
            j.stage(CONFIG, OPTIONS, "build", step_id="build", name="Build and push", with_={"push": "true"}),
            j.upload("build", "build"),
        ),
        needs=("validate", "evaluate", "export"),
        if_=f"${{{{ {_after('validate', 'evaluate', 'export')} && (inputs.build || inputs.deploy) && {NOT_A_PR} && "
        f"needs.validate.outputs.ghcr-login {'==' if ghcr else '!='} 'true' }}}}",
        permissions=permissions,
        environment={"name": REGISTRY_ENVIRONMENT},
        outputs=j.passed_on("build", "build", "image", "digest"),
        env=_secrets("REGISTRY_USERNAME", "REGISTRY_PASSWORD"),
    )


def _deploy_job() -> Job:
    """One matrix job per environment of ml.yaml, one at a time in ml.yaml's order (max-parallel 1;
    a failure cancels the rest): the first deploys the image, each next promotes the one before it.
    Each runs in its GitHub environment, so required reviewers gate it as in the generated workflow."""
    image = "${{ needs.build.outputs.image || needs.build-ghcr.outputs.image }}"
    token = {"GITHUB_TOKEN": "${{ github.token }}"}  # the GitHub Deployment record
    deploy = replace(
        j.stage(
            CONFIG,
            OPTIONS,
            "deploy",
            step_id="deploy",
            name="Deploy and smoke-test",
            with_={"environment": "${{ matrix.environment }}", "image": image},
        ),
        if_="matrix.from == ''",
        env=token,
    )
    promote = replace(
        j.stage(
            CONFIG,
            OPTIONS,
            "promote",
            step_id="promote",
            name="Promote",
            with_={"from": "${{ matrix.from }}", "to": "${{ matrix.environment }}"},
        ),
        if_="matrix.from != ''",
        env=token,
    )
    return _job(
        "deploy-and-promote",
        "deploy to ${{ matrix.environment }}",
        (j.download("export", "export"), j.download("build", "build"), j.download("evaluate", "evaluate"), deploy, promote),
        needs=("validate", "build", "build-ghcr"),
        if_="${{ " + _after("validate") + " && inputs.deploy && " + NOT_A_PR + " && "
        "needs.validate.outputs.environments != '[]' && "
        "(needs.build.result == 'success' || needs.build-ghcr.result == 'success') }}",
        strategy={
            "fail-fast": True,
            "max-parallel": 1,
            "matrix": {"include": "${{ fromJSON(needs.validate.outputs.environments) }}"},
        },
        permissions={**j.READ, "deployments": Commented("write", "record the deployment")},
        environment={"name": "${{ matrix.environment }}"},
        concurrency=Concurrency(
            group="ml-ci-deploy-${{ github.repository }}-${{ matrix.environment }}", cancel_in_progress=False
        ),
        env=_secrets("GITOPS_TOKEN"),
    )


def pipeline_workflow() -> Workflow:
    plan = Step(name="Plan the release (environments, registry login)", id="plan", env={"ML_CI_CONFIG": CONFIG}, run=PLAN)
    tune = _job(
        "tune",
        "tune",
        (j.stage(CONFIG, OPTIONS, "tune", step_id="tune", name="Tune"), tuning.save_kept_model(), j.upload("tune", "tune")),
        needs=("data-check",),
        train=True,
        if_="${{ inputs.tune }}",
        environment={"name": TUNE_ENVIRONMENT},
        env=_secrets("OPTUNA_STORAGE"),
    )
    params = "${{ inputs.tune && '" + IN_REPO.best_params.as_posix() + "' || '' }}"
    train = _job(
        "train",
        "train",
        (
            replace(j.download("tune", "tune"), if_="${{ inputs.tune }}"),
            j.stage(CONFIG, OPTIONS, "train", step_id="train", name="Train", with_={"params": params}),
            j.upload("train", "train"),
        ),
        needs=("data-check", "tune"),
        train=True,
        # Runs when tuning succeeded or was not asked for (a skipped need skips a job by default).
        if_="${{ !cancelled() && needs.data-check.result == 'success' && "
        "(needs.tune.result == 'success' || needs.tune.result == 'skipped') }}",
        outputs=j.passed_on("train", "train", "model-digest"),
    )
    jobs = (
        _job(
            "validate",
            "validate ml.yaml",
            (plan,),
            outputs={
                "environments": "${{ steps.plan.outputs.environments }}",
                "ghcr-login": "${{ steps.plan.outputs.ghcr-login }}",
            },
        ),
        _job(
            "data-check",
            "data check",
            (j.stage(CONFIG, OPTIONS, "data-check", step_id="data", name="Check the data"), j.upload("data-check", "data-check")),
            needs=("validate",),
        ),
        tune,
        train,
        _job(
            "evaluate",
            "evaluate",
            (
                j.download("train", "train"),
                j.stage(CONFIG, OPTIONS, "evaluate", step_id="evaluate", name="Evaluate and check gates"),
                j.upload("evaluate", "evaluate"),
            ),
            needs=("train",),
            if_=f"${{{{ {_after('train')} }}}}",
            outputs=j.passed_on("evaluate", "evaluate", "verdict"),
        ),
        _job(
            "report",
            "report",
            (
                j.download("data-check", "data-check", optional=True),
                j.download("evaluate", "evaluate", optional=True),
                replace(j.download("tune", "tune", optional=True), if_="${{ inputs.tune }}"),
                j.stage(
                    CONFIG,
                    OPTIONS,
                    "report",
                    step_id="report",
                    name="Report on the pull request",
                    with_={"pr": "${{ github.event.pull_request.number }}"},
                ),
            ),
            needs=("validate", "data-check", "tune", "train", "evaluate"),
            if_="${{ !cancelled() && github.event_name == 'pull_request' && "
            "github.event.pull_request.head.repo.full_name == github.repository }}",
            permissions={
                **j.READ,
                "pull-requests": Commented("write", "post the sticky report comment"),
                "statuses": Commented("write", "set the commit status"),
            },
        ),
        _job(
            "export",
            "export",
            (
                j.download("train", "train"),
                j.stage(CONFIG, OPTIONS, "export", step_id="export", name="Export"),
                j.upload("export", "export"),
            ),
            needs=("train", "evaluate"),
            if_=f"${{{{ {_after('train', 'evaluate')} && {RELEASE_PATH} && {NOT_A_PR} }}}}",
        ),
        _build_job("build", ghcr=False),
        _build_job("build-ghcr", ghcr=True),
        _deploy_job(),
    )
    on: dict[str, Value] = {
        "workflow_call": {
            "inputs": _inputs(),
            "secrets": {name: {"description": text, "required": False} for name, text in SECRETS.items()},
            "outputs": {
                "verdict": {
                    "description": "Gate verdict of the evaluate job (pass or fail).",
                    "value": "${{ jobs.evaluate.outputs.verdict }}",
                },
                "image": {
                    "description": "The image pushed by the build (reference with its digest; empty without build).",
                    "value": "${{ jobs.build.outputs.image || jobs.build-ghcr.outputs.image }}",
                },
            },
        }
    }
    return Workflow(
        name="ml-pipeline",
        on=on,
        jobs=jobs,
        # A new push to a pull request supersedes its run; a release is never cancelled halfway.
        concurrency=Concurrency(
            group="ml-pipeline-${{ github.workflow }}-${{ github.event.pull_request.number || github.ref }}",
            cancel_in_progress="${{ github.event_name == 'pull_request' }}",
        ),
    )
