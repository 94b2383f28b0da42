"""The text-generation example's PR workflow (examples/assistant: its ml.yaml, its generated
.github/workflows/ml-pr.yml and the actions vendored in .github/actions/ml-ci) runs green under act, from the
data check through tuning, LoRA training and evaluation with its prompt-set gates, to the report on the pull
request. How act runs and the stand-ins for third-party actions: tests/integration/actrun.py.

The example is copied to a scratch git repository as it is (its committed random Llama, data, prompt set, 2
tuning trials and gates); ml-ci is installed from a wheel of this checkout (`PIP_FIND_LINKS`, as
test_act_example.py says), and `OPTUNA_STORAGE` names a SQLite file of the test. Unlike the other examples' act
tests, the pull request comes from a branch of the repository itself (its `origin` is acme/models, as GitHub's
checkout leaves it), so the report job runs: with a token and `GITHUB_API_URL` pointing at the stand-in for
GitHub's REST API of test_github_report.py on 127.0.0.1 (not GitHub), it posts the sticky comment and the commit
status, which the test reads back. The PR workflow stops after evaluate; the release workflow (the push to main)
is then run up to its build job (`act -j build` runs the jobs it needs; the deploys of a text-generation model are
the next issue): it rejoins the PR's finished study instead of tuning again, as the shared storage lets it,
trains, evaluates and exports the merged model, checked against PyTorch token for token, and builds the serving
image with the real Docker engine, checks its golden prompts and pushes it to the test registry by digest.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ml_ci.cli.main import main as cli
from tests.conftest import ROOT
from tests.integration.actrun import GIT, Act, Runner, commit_all, make_runner, push_event, run_act
from tests.integration.test_act_example import PR_JOBS as SENTIMENT_PR_JOBS
from tests.integration.test_act_release import in_registry
from tests.integration.test_github_report import TOKEN, StandIn
from tests.services import registry

pytestmark = [pytest.mark.integration, pytest.mark.slow]
EXAMPLE = ROOT / "examples" / "assistant"
# The sentiment example's PR jobs (it tunes too) and the report, which a pull request from the repository gets.
PR_JOBS = {**SENTIMENT_PR_JOBS, "report": "succeeded"}
RELEASE_JOBS = {**SENTIMENT_PR_JOBS, "export": "succeeded", "build and push the image": "succeeded"}


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return make_runner(tmp_path_factory.mktemp("runner"))


def same_repository_pull_request(owner: str, repo: str, number: int, sha: str) -> dict[str, Any]:
    """A pull request from a branch of the repository itself: its job token may comment."""
    full = f"{owner}/{repo}"
    return {
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"ref": "feature", "sha": sha, "repo": {"full_name": full}},
            "base": {"ref": "main", "repo": {"full_name": full}},
        },
        "repository": {"full_name": full, "default_branch": "main"},
    }


def example_repo(dest: Path, owner: str, repo: str) -> Path:
    """The example as a committed repository of its own whose origin is owner/repo on GitHub (act reads
    `github.repository` from it; nothing is fetched)."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".ml-ci"))
    (dest / ".gitignore").write_text(".ml-ci/\n")
    # The committed workflows are what runs.
    assert cli(["generate", "-c", str(dest / "ml.yaml"), "--check"]) == 0
    commit_all(dest, "the assistant example")
    subprocess.run([*GIT, "remote", "add", "origin", f"https://github.com/{owner}/{repo}.git"], cwd=dest, check=True)
    return dest


# Measured on 2 shared cores at a load average of 3: PR 170 s + release to build 281 s (7.5 min in all).
@pytest.mark.timeout(2400)
def test_the_assistant_examples_workflows_run_green_to_the_report_and_the_export(tmp_path: Path, runner: Runner) -> None:
    env = {"PIP_FIND_LINKS": str(runner.wheel.parent), "OPTUNA_STORAGE": f"sqlite:///{tmp_path / 'optuna.db'}"}
    with StandIn(TOKEN) as api:
        state = api.state
        repo = example_repo(tmp_path / "assistant", state.owner, state.repo)
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()
        pr = run_act(
            repo,
            runner,
            tmp_path / "pr",
            Act(
                event="pull_request",
                workflow=".github/workflows/ml-pr.yml",
                payload=same_repository_pull_request(state.owner, state.repo, state.pr, sha),
                env={**env, "GITHUB_API_URL": f"{api.url}/api/v3"},
                secrets={"GITHUB_TOKEN": TOKEN},
            ),
            timeout=2000,
        )
        assert pr.results == PR_JOBS, f"{pr.results}\n{pr.log[-10000:]}"

        # Tuning ran the example's 2 trials; evaluate judged every gate, the prompt set's per tag too.
        assert "2 trials in study" in pr.job_log("tune (worker 0)"), pr.job_log("tune (worker 0)")[-4000:]
        evaluate = pr.job_log("evaluate")
        assert "gates passed" in evaluate, evaluate[-6000:]
        record = json.loads((pr.state / "artifacts" / "evaluate" / "eval.json").read_text())
        assert record["verdict"] == "pass"
        gated = {g["name"]: g["passed"] for g in record["gates"]}
        gated.update({g["name"]: g["passed"] for sl in record["slices"] for g in sl["gates"]})
        assert gated["pass_rate.json >= 0.9"] and gated["[tag:exact] pass_rate >= 0.25"], gated
        metrics = record["metrics"]
        assert metrics["pass_rate.json"] == 1.0 and metrics["loss"] < 1.0, metrics

        # The report job posted one sticky comment, with the gates, the tags' slices and the failed exact answers
        # (prompt and output), and a green commit status on the pull request's commit.
        [body] = [c["body"] for c in state.comments.values()]
        assert body.startswith("<!-- ml-ci-report:assistant -->"), body[:200]
        for shown in ("pass_rate.json", "tag:exact", "tag:sentence", "what is"):
            assert shown in body, shown
        failed = [
            row
            for row in record["predictions"]
            if row.get("source") == "prompts" and not row["passed"] and row["id"].startswith("exact-")
        ]
        assert failed and all(row["id"] in body for row in failed[:3]), body[-4000:]
        assert [s["state"] for s in state.statuses] == ["success"], state.statuses
        assert TOKEN not in pr.log

    release = run_act(
        repo,
        runner,
        tmp_path / "release",
        Act(event="push", workflow=".github/workflows/ml-release.yml", payload=push_event(repo), job="build", env=env),
        timeout=2000,
    )
    assert release.results == RELEASE_JOBS, f"{release.results}\n{release.log[-10000:]}"
    # The release rejoined the PR's finished study: the storage holds the PR's 2 trials and no more.
    with contextlib.closing(sqlite3.connect(tmp_path / "optuna.db")) as db:
        assert db.execute("SELECT count(*) FROM trials").fetchone() == (2,)
    assert "gates passed" in release.job_log("evaluate")
    exported = release.state / "artifacts" / "export"
    for name in ("model.onnx", "model.onnx.data", "genai_config.json", "tokenizer.json", "golden.json"):
        assert (exported / name).is_file(), sorted(p.name for p in exported.iterdir())
    assert re.search(r"parity on \d+ prompts: \d+ greedy continuations identical", release.job_log("export")), release.job_log(
        "export"
    )[-4000:]
    image = json.loads((release.state / "artifacts" / "build" / "image.json").read_text())
    assert image["reference"].startswith(f"{registry()}/examples/assistant@sha256:"), image
    assert in_registry("examples/assistant", image["digest"]) == 200
    built = release.job_log("build and push the image")
    assert "32 golden examples match" in built, built[-4000:]
    print(f"act wall time: PR {pr.seconds:.0f} s + release to build {release.seconds:.0f} s")
