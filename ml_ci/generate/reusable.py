"""The reusable workflow .github/workflows/ml-pipeline.yml: the PR pipeline behind one `uses:` line.

A reusable workflow cannot read the caller's ml.yaml while GitHub plans the jobs, so it runs
the fixed chain validate -> data check -> train -> evaluate -> report; `ml-ci generate` writes
the full workflows (tuning matrix, environments) for repositories that want them. Its steps use
the composite actions and the code of ml-ci at `ml-ci-ref`, checked out next to the caller's
repository, so that actions and CLI are the same version and no action is referenced by tag.
"""

from __future__ import annotations

from ml_ci import __version__
from ml_ci.generate import jobs as j
from ml_ci.generate import pins
from ml_ci.generate.model import Concurrency, Job, Step, Workflow
from ml_ci.generate.options import Options
from ml_ci.generate.yamlout import Commented, Value

SOURCE = ".ml-ci-src"
# pip reads a bare ".ml-ci-src" as a package name; "./" makes it a path.
OPTIONS = Options(actions_ref=f"./{SOURCE}/actions", install_source=f"./{SOURCE}")
CONFIG = "${{ inputs.config }}"


def _inputs() -> dict[str, Value]:
    def string(description: str, default: str) -> dict[str, Value]:
        return {"description": description, "type": "string", "required": False, "default": default}

    return {
        "config": string("Path to ml.yaml in the calling repository.", "ml.yaml"),
        "ml-ci-ref": string("Tag or commit SHA of ml-ci/ml-ci whose actions and code run (a SHA pins them).",
                            f"v{__version__}"),
        "python-version": string("Python version on the runners.", "3.11"),
        "runs-on": string("runs-on labels as a JSON list.", '["ubuntu-latest"]'),
        "timeout-minutes": {"description": "timeout-minutes of the training job.", "type": "number", "required": False,
                            "default": 60},
    }


def _job(job_id: str, name: str, steps: tuple[Step, ...], *, needs: tuple[str, ...] = (), **extra: object) -> Job:
    checkout_ml_ci = Step(name="Check out ml-ci", uses=pins.CHECKOUT.uses(), with_={
        "repository": "ml-ci/ml-ci", "ref": "${{ inputs.ml-ci-ref }}", "path": SOURCE, "persist-credentials": False})
    setup = j.setup_step(OPTIONS, config_file=CONFIG, python="${{ inputs.python-version }}", version=__version__,
                         validate=job_id == "validate", extras="" if job_id == "validate" else "all")
    return Job(id=job_id, name=name, runs_on=("${{ fromJSON(inputs.runs-on) }}",),
               timeout_minutes=extra.pop("timeout_minutes", j.SHORT_TIMEOUT),  # type: ignore[arg-type]
               permissions=extra.pop("permissions", j.READ),  # type: ignore[arg-type]
               needs=needs, steps=(j.checkout(), checkout_ml_ci, setup, *steps), **extra)  # type: ignore[arg-type]


def pipeline_workflow() -> Workflow:
    train = _job("train", "train", (j.stage(CONFIG, OPTIONS, "train", step_id="train", name="Train"), j.upload("train", "train")),
                 needs=("data-check",), outputs={"model-digest": "${{ steps.train.outputs.model-digest }}"},
                 timeout_minutes="${{ inputs.timeout-minutes }}")
    jobs = (
        _job("validate", "validate ml.yaml", ()),
        _job("data-check", "data check", (j.stage(CONFIG, OPTIONS, "data-check", step_id="data", name="Check the data"),
                                          j.upload("data-check", "data-check")), needs=("validate",)),
        train,
        _job("evaluate", "evaluate", (j.download("train", "train"),
                                      j.stage(CONFIG, OPTIONS, "evaluate", step_id="evaluate", name="Evaluate and check gates"),
                                      j.upload("evaluate", "evaluate")),
             needs=("train",), outputs={"verdict": "${{ steps.evaluate.outputs.verdict }}"}),
        _job("report", "report", (j.download("data-check", "data-check", optional=True),
                                  j.download("evaluate", "evaluate", optional=True),
                                  j.stage(CONFIG, OPTIONS, "report", step_id="report", name="Report on the pull request",
                                          with_={"pr": "${{ github.event.pull_request.number }}"})),
             needs=("validate", "data-check", "train", "evaluate"),
             if_="${{ !cancelled() && github.event_name == 'pull_request' && "
                 "github.event.pull_request.head.repo.full_name == github.repository }}",
             permissions={**j.READ, "pull-requests": Commented("write", "post the sticky report comment"),
                          "statuses": Commented("write", "set the commit status")}),
    )
    on: dict[str, Value] = {"workflow_call": {"inputs": _inputs(), "outputs": {
        "verdict": {"description": "Gate verdict of the evaluate job (pass or fail).",
                    "value": "${{ jobs.evaluate.outputs.verdict }}"}}}}
    return Workflow(name="ml-pipeline", on=on, jobs=jobs,
                    concurrency=Concurrency(group="ml-pipeline-${{ github.workflow }}-"
                                                  "${{ github.event.pull_request.number || github.ref }}",
                                            cancel_in_progress=True))
