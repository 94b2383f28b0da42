"""The generated PR workflow, and ml-ci's reusable workflow called from a one-job caller, run for
real under act in a scratch model repository.

How act runs here, and the stand-ins for third-party actions: tests/integration/actrun.py.
The scratch repository has the tiny learnable dataset of tests/modelrepo and a tiny random BERT
(the point is the workflow, not the model). The pull request comes from a fork, so the report job
must be skipped (it would need a token).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ml_ci import __version__
from tests.integration.actrun import (
    FAILING_GATES,
    METRICS,
    PASSING_GATES,
    Act,
    Runner,
    commit_all,
    fork_pull_request_event,
    make_runner,
    ml_ci_copy,
    push_event,
    run_act,
    scratch_repo,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
# All a model repository needs for the pipeline: one job calling ml-ci's reusable workflow at a
# commit, and running ml-ci's actions and code at that same commit; one input switched on (tune, deploy).
CALLER = """\
name: ml
on: {event}
jobs:
  ml:
    uses: ml-ci/ml-ci/.github/workflows/ml-pipeline.yml@{sha}
    with:
      ml-ci-ref: {sha}
      {switch}: true
"""
TUNE = {
    "enabled": True,
    "trials": 2,
    "metric": "accuracy",
    "search_space": {"learning_rate": {"type": "float", "low": 1.0e-4, "high": 1.0e-3, "log": True}},
}
PR = Act(event="pull_request", workflow=".github/workflows/ml-pr.yml", payload=fork_pull_request_event())


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return make_runner(tmp_path_factory.mktemp("runner"))


def pr_repo(root: Path, runner: Runner, *, gates: list[dict[str, Any]], tune: dict[str, Any] | None = None) -> Path:
    overrides: dict[str, Any] = {"evaluate": {"metrics": METRICS, "gates": gates}}
    if tune:
        overrides["tune"] = tune
    return scratch_repo(root / "repo", runner, overrides)


@pytest.mark.timeout(600)
def test_validate_job_runs_under_act(tmp_path: Path, runner: Runner) -> None:
    repo = pr_repo(tmp_path, runner, gates=PASSING_GATES)
    run = run_act(repo, runner, tmp_path / "work", replace(PR, job="validate"))
    assert run.results == {"validate ml.yaml": "succeeded"}, run.log[-6000:]
    assert "Successfully installed ml-ci-" in run.log


@pytest.mark.timeout(1500)
def test_pr_workflow_is_green(tmp_path: Path, runner: Runner) -> None:
    repo = pr_repo(tmp_path, runner, gates=PASSING_GATES, tune=TUNE)
    run = run_act(repo, runner, tmp_path / "work", PR)
    assert run.results == {
        "validate ml.yaml": "succeeded",
        "data check": "succeeded",
        "tune (worker 0)": "succeeded",
        "train": "succeeded",
        "evaluate": "succeeded",
    }, f"{run.results}\n{run.log[-8000:]}"
    # The artifacts travelled: train read the tuned params, evaluate the trained model.
    assert (run.state / "artifacts" / "evaluate" / "eval.json").is_file()
    # The tune job saved its best trial's model under train's key; train restored it, training nothing (22.4).
    assert "Cache saved with key: ml-ci-train-" in run.job_log("tune (worker 0)"), run.job_log("tune (worker 0)")[-6000:]
    assert "train: cache hit: restored" in run.job_log("train"), run.job_log("train")[-6000:]


@pytest.mark.timeout(1500)
def test_pr_workflow_turns_red_at_the_gate(tmp_path: Path, runner: Runner) -> None:
    repo = pr_repo(tmp_path, runner, gates=FAILING_GATES)
    run = run_act(repo, runner, tmp_path / "work", PR)
    assert run.results == {
        "validate ml.yaml": "succeeded",
        "data check": "succeeded",
        "train": "succeeded",
        "evaluate": "failed",
    }, f"{run.results}\n{run.log[-8000:]}"
    evaluate_log = run.job_log("evaluate")
    assert "size_mb" in evaluate_log and "exit status 4" in evaluate_log, evaluate_log[-6000:]
    # The failed evaluation's record is still uploaded for the reviewer.
    assert (run.state / "artifacts" / "evaluate" / "eval.json").is_file()


@pytest.mark.timeout(1500)
def test_reusable_workflow_runs_from_a_one_job_caller(tmp_path: Path, runner: Runner) -> None:
    """ml-ci's own .github/workflows/ml-pipeline.yml, called at a commit from a model repository, with
    tuning on: act takes ml-ci/ml-ci@<sha> from a local copy of this checkout, and so does the workflow's
    checkout of ml-ci (the checkout stand-in), whose actions and code (pip install of the source) the
    jobs then run. On a pull request the release jobs (export, build, deploy) are skipped."""
    repos = tmp_path / "github"
    copy = ml_ci_copy(repos / "ml-ci" / "ml-ci", f"v{__version__}")
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=copy, check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()
    repo = pr_repo(tmp_path, runner, gates=PASSING_GATES, tune=TUNE)
    (repo / ".github" / "workflows" / "ml.yml").write_text(CALLER.format(event="pull_request", sha=sha, switch="tune"))
    commit_all(repo, "call ml-ci's reusable workflow")
    run = run_act(
        repo,
        runner,
        tmp_path / "work",
        Act(
            event="pull_request",
            workflow=".github/workflows/ml.yml",
            payload=fork_pull_request_event(),
            env={"ML_CI_STANDIN_REPOS": str(repos)},
            local_repositories={f"ml-ci/ml-ci@{sha}": copy},
        ),
    )
    # The fork's pull request gets no report job (it would need a write token).
    assert run.results == {
        "ml-pipeline/validate ml.yaml": "succeeded",
        "ml-pipeline/data check": "succeeded",
        "ml-pipeline/tune": "succeeded",
        "ml-pipeline/train": "succeeded",
        "ml-pipeline/evaluate": "succeeded",
    }, f"{run.results}\n{run.log[-8000:]}"
    assert f"Checked out ml-ci/ml-ci at {sha}" in run.job_log("ml-pipeline/train")
    # The tuned parameters travelled to training: train used the study's best learning rate.
    best = json.loads((run.state / "artifacts" / "tune" / "best_params.json").read_text())
    lineage = json.loads((run.state / "artifacts" / "train" / "lineage.json").read_text())
    assert best and {k: lineage["hyperparameters"][k] for k in best} == best, (best, lineage["hyperparameters"])
    assert "gates passed" in run.job_log("ml-pipeline/evaluate")
    assert (run.state / "artifacts" / "evaluate" / "eval.json").is_file()


@pytest.mark.timeout(1800)
def test_reusable_workflow_releases_through_every_environment_in_order(tmp_path: Path, runner: Runner) -> None:
    """The reusable workflow on a push with `deploy: true`: export, build and push to the real registry
    (not ghcr.io: the build without packages: write), then the deploy matrix read from ml.yaml at run
    time deploys staging and promotes the same digest to production, one after the other (kind: local
    containers and an on-disk GitOps repository outside the model repository, as test_act_release)."""
    from tests.integration.test_act_release import Release, ready

    repos = tmp_path / "github"
    copy = ml_ci_copy(repos / "ml-ci" / "ml-ci", f"v{__version__}")
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=copy, check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()
    release = Release(tmp_path, runner, environments=("staging", "production"), gates=PASSING_GATES)
    (release.repo / ".github" / "workflows" / "ml.yml").write_text(CALLER.format(event="push", sha=sha, switch="deploy"))
    commit_all(release.repo, "call ml-ci's reusable workflow")
    run = None
    try:
        run = run_act(
            release.repo,
            runner,
            tmp_path / "work",
            Act(
                event="push",
                workflow=".github/workflows/ml.yml",
                payload=push_event(release.repo),
                env={"ML_CI_STANDIN_REPOS": str(repos)},
                local_repositories={f"ml-ci/ml-ci@{sha}": copy},
            ),
        )
        deploys = [job for job in run.results if job.startswith("ml-pipeline/deploy to")]
        assert {k: v for k, v in run.results.items() if k not in deploys} == {
            "ml-pipeline/validate ml.yaml": "succeeded",
            "ml-pipeline/data check": "succeeded",
            "ml-pipeline/train": "succeeded",
            "ml-pipeline/evaluate": "succeeded",
            "ml-pipeline/export": "succeeded",
            "ml-pipeline/build and push the image": "succeeded",
        }, f"{run.results}\n{run.log[-10000:]}"
        assert len(deploys) == 2 and all(run.results[d] == "succeeded" for d in deploys), f"{run.results}\n{run.log[-10000:]}"
        image = json.loads((run.state / "artifacts" / "build" / "image.json").read_text())
        records = {env: release.record(env) for env in release.ports}
        assert {env: (r["image"], r["status"], r["smoke"]) for env, r in records.items()} == {
            env: (image["reference"], "live", "passed") for env in release.ports
        }, records
        assert [r["source"] for r in records.values()] == ["deploy", "promote:staging"]
        # One at a time, in ml.yaml's order: production's job started after staging's ended; staging
        # deployed the image and production promoted it (the other step of each was skipped).
        lines = run.log.splitlines()
        staging = [i for i, line in enumerate(lines) if line.startswith("[ml/ml-pipeline/deploy to staging")]
        production = [i for i, line in enumerate(lines) if line.startswith("[ml/ml-pipeline/deploy to production")]
        assert staging and production and max(staging) < min(production), deploys
        assert "Run Main Deploy and smoke-test" in "\n".join(lines[i] for i in staging)
        assert "Run Main Promote" in "\n".join(lines[i] for i in production)
        assert "Run Main Promote" not in "\n".join(lines[i] for i in staging)
        assert all(ready(port) == 200 for port in release.ports.values())
    finally:
        release.clean(run)
