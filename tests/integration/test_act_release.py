"""The generated release workflow runs for real under act, on a push to main of a scratch model repository.

The whole chain runs as generated: train -> evaluate -> export -> `ml-ci build --push` to the real
registry by digest -> deploy to the first environment with its smoke test -> promote the same
digest through the others. The environments are `kind: local` (containers in the real Docker
engine, host networking, 127.0.0.1) recorded in a GitOps repository that is a bare repository on
disk, as examples/sentiment/ml.yaml does; its path is absolute here, a remote every job reaches.
How act runs and the stand-ins for third-party actions: tests/integration/actrun.py. The model is
a tiny random BERT on the tiny dataset (the point is the workflow, not the model).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_ci.net import free_port
from tests.integration.actrun import (
    FAILING_GATES,
    METRICS,
    PASSING_GATES,
    Act,
    ActRun,
    Runner,
    clean_up,
    make_runner,
    push_event,
    run_act,
    scratch_repo,
)
from tests.services import base_image, registry

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BUILD_JOBS = {
    "validate ml.yaml": "succeeded",
    "train": "succeeded",
    "evaluate": "succeeded",
    "export": "succeeded",
    "build and push the image": "succeeded",
}
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return make_runner(tmp_path_factory.mktemp("runner"))


class Release:
    """A scratch model repository with local environments on free ports, a GitOps repository and
    its own image repository in the registry (so that 'nothing was pushed' can be checked)."""

    def __init__(
        self,
        root: Path,
        runner: Runner,
        *,
        environments: tuple[str, ...],
        gates: list[dict[str, Any]],
        smoke_timeout: int = 120,
        approval: tuple[str, ...] = (),
    ):
        self.name = f"act{uuid.uuid4().hex[:8]}"
        self.image_repository = f"acttests/{self.name}"
        self.gitops = root / "gitops.git"
        self.path = f"apps/{self.name}"
        self.ports = {env: free_port() for env in environments}
        self.root = root
        self.repo = scratch_repo(
            root / "repo",
            runner,
            {
                "name": self.name,
                "evaluate": {"metrics": METRICS, "gates": gates},
                "image": {"registry": registry(), "repository": self.image_repository, "base": base_image()},
                "deploy": {
                    "strategy": "gitops",
                    "gitops": {"repo": str(self.gitops), "path": self.path, "create": True},
                    "environments": [
                        {
                            "name": env,
                            "kind": "local",
                            "port": port,
                            "smoke_test": {"golden_examples": 8, "timeout_seconds": smoke_timeout},
                            **({"approval": True} if env in approval else {}),
                        }
                        for env, port in self.ports.items()
                    ],
                },
            },
        )

    def run(self, runner: Runner, *, work: str = "work", caches_of: ActRun | None = None) -> ActRun:
        return run_act(
            self.repo,
            runner,
            self.root / work,
            Act(event="push", workflow=".github/workflows/ml-release.yml", payload=push_event(self.repo)),
            caches_of=caches_of,
        )

    def gitops_refs(self) -> str:
        """Every ref of the GitOps repository and its commit: any commit or new branch changes it."""
        return subprocess.run(
            ["git", "--git-dir", str(self.gitops), "for-each-ref", "--format=%(refname) %(objectname)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout

    def record(self, env: str, file: str = "release.json", branch: str = "main") -> Any:
        """A file of an environment's overlay on a branch of the GitOps repository (None when absent)."""
        if not self.gitops.exists():
            return None
        shown = subprocess.run(
            ["git", "--git-dir", str(self.gitops), "show", f"{branch}:{self.path}/overlays/{env}/{file}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if shown.returncode != 0:
            return None
        return json.loads(shown.stdout) if file.endswith(".json") else shown.stdout

    def containers(self) -> dict[str, Any]:
        import docker

        client = docker.from_env()
        return {c.name: c for c in client.containers.list(all=True, filters={"label": f"dev.ml-ci.model={self.name}"})}

    def clean(self, run: ActRun | None) -> None:
        clean_up(self.containers().values(), run)


def in_registry(repository: str, reference: str) -> int:
    """HTTP status of the registry's manifest of repository:reference (200: it holds it)."""
    request = urllib.request.Request(
        f"http://{registry()}/v2/{repository}/manifests/{reference}", method="HEAD", headers={"Accept": MANIFEST_TYPES}
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code


def tags(repository: str) -> tuple[int, list[str]]:
    try:
        with urllib.request.urlopen(f"http://{registry()}/v2/{repository}/tags/list", timeout=15) as response:
            return int(response.status), list(json.loads(response.read()).get("tags") or [])
    except urllib.error.HTTPError as e:
        return e.code, []


def ready(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code


@contextlib.contextmanager
def stale_listener(port: int) -> Iterator[None]:
    """Something else holds the port: it accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        yield


@pytest.mark.timeout(1800)
def test_release_workflow_ships_one_digest_through_every_environment(tmp_path: Path, runner: Runner) -> None:
    release = Release(tmp_path, runner, environments=("staging", "preprod", "production"), gates=PASSING_GATES)
    run = None
    try:
        run = release.run(runner)
        assert run.results == {
            **BUILD_JOBS,
            "deploy to staging": "succeeded",
            "promote staging to preprod": "succeeded",
            "promote preprod to production": "succeeded",
        }, f"{run.results}\n{run.log[-10000:]}"
        image = json.loads((run.state / "artifacts" / "build" / "image.json").read_text())
        digest = image["digest"]
        assert image["reference"] == f"{registry()}/{release.image_repository}@{digest}"
        assert in_registry(release.image_repository, digest) == 200
        records = {env: release.record(env) for env in release.ports}
        # Every environment names the very digest that was built, promoted from the one before it.
        assert {env: (r["image"], r["status"], r["smoke"]) for env, r in records.items()} == {
            env: (image["reference"], "live", "passed") for env in release.ports
        }, records
        assert [r["source"] for r in records.values()] == ["deploy", "promote:staging", "promote:preprod"]
        assert digest in release.record("production", "kustomization.yaml")
        containers = release.containers()
        for env, port in release.ports.items():
            live = containers[f"ml-ci-{release.name}-{env}"]
            assert (live.status, live.labels["dev.ml-ci.image"]) == ("running", image["reference"])
            assert ready(port) == 200
        # No candidate or backup container was left behind.
        assert sorted(containers) == sorted(f"ml-ci-{release.name}-{env}" for env in release.ports)
    finally:
        release.clean(run)


@pytest.mark.timeout(2700)  # two releases: the second reuses train's cache
def test_an_approved_production_waits_for_its_merged_review(
    tmp_path: Path, runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    """production has approval: true (kind: local, its record in the GitOps repository, as the example's): the
    release's promote job pushes a review branch and starts no container; a reviewer merges it; the next
    promote of that digest starts production's container, smoke-tests it and records it live; once.

    Then the release runs again on the same commit (issue 20 item 2): it builds the same digest, and deploy and
    promote change nothing, so the GitOps repository gets no commit. The second run sees the first run's
    actions/cache entries (train's model), as GitHub shares a branch's caches between runs; evaluate and
    export run again from scratch in it, as they do on GitHub, and the image must still be the same."""
    from ml_ci.cli.main import main as cli
    from tests.integration import test_gitops as gitops_tests  # merge_review: what a reviewer does, with git

    release = Release(tmp_path, runner, environments=("staging", "production"), gates=PASSING_GATES, approval=("production",))
    run = again = None
    try:
        run = release.run(runner)
        assert run.results == {**BUILD_JOBS, "deploy to staging": "succeeded", "promote staging to production": "succeeded"}, (
            f"{run.results}\n{run.log[-10000:]}"
        )
        reference = json.loads((run.state / "artifacts" / "build" / "image.json").read_text())["reference"]
        short = reference.split(":")[-1][:12]
        branch = f"ml-ci/production/{short}"
        assert f"production needs approval: merge branch {branch} to deploy {short}" in run.job_log(
            "promote staging to production"
        )
        assert (release.record("staging")["image"], release.record("staging")["status"]) == (reference, "live")
        assert release.record("production") is None  # nothing on main before review
        proposed = release.record("production", branch=branch)
        assert (proposed["image"], proposed["status"], proposed["source"]) == (reference, "pending", "promote:staging")
        assert f"ml-ci-{release.name}-production" not in release.containers()

        gitops_tests.merge_review(release.gitops, branch, tmp_path / "reviewer")
        config = str(release.repo / "ml.yaml")
        capsys.readouterr()
        assert cli(["promote", "-c", config, "--from", "staging", "--to", "production"]) == 0, capsys.readouterr().err
        assert capsys.readouterr().out.startswith(f"production: approved; {short} is live; smoke test passed")
        production = release.record("production")
        assert (production["image"], production["status"], production["smoke"]) == (reference, "live", "passed")
        live = release.containers()[f"ml-ci-{release.name}-production"]
        assert (live.status, live.labels["dev.ml-ci.image"]) == ("running", reference)
        assert ready(release.ports["production"]) == 200
        tip = subprocess.run(
            ["git", "--git-dir", str(release.gitops), "rev-parse", "main"], capture_output=True, text=True, check=True
        ).stdout
        assert cli(["promote", "-c", config, "--from", "staging", "--to", "production"]) == 0
        assert "nothing to do" in capsys.readouterr().out
        assert (
            subprocess.run(
                ["git", "--git-dir", str(release.gitops), "rev-parse", "main"], capture_output=True, text=True, check=True
            ).stdout
            == tip
        )

        refs = release.gitops_refs()
        again = release.run(runner, work="work-again", caches_of=run)
        assert again.results == run.results, f"{again.results}\n{again.log[-10000:]}"
        rebuilt = json.loads((again.state / "artifacts" / "build" / "image.json").read_text())["reference"]
        assert rebuilt == reference, "the same commit, rebuilt without export's cache, is the same image digest"
        assert release.gitops_refs() == refs, "an unchanged release commits nothing and opens no review"
        assert (release.record("production")["image"], release.record("production")["status"]) == (reference, "live")
        assert release.containers()[f"ml-ci-{release.name}-production"].id == live.id, "production was not restarted"
    finally:
        release.clean(run)
        clean_up((), again)


@pytest.mark.timeout(1200)
def test_release_workflow_stops_at_a_failed_gate(tmp_path: Path, runner: Runner) -> None:
    release = Release(tmp_path, runner, environments=("staging", "production"), gates=FAILING_GATES)
    run = None
    try:
        run = release.run(runner)
        # export needs evaluate, build needs both: nothing after the red gate starts.
        assert run.results == {"validate ml.yaml": "succeeded", "train": "succeeded", "evaluate": "failed"}, (
            f"{run.results}\n{run.log[-8000:]}"
        )
        evaluate_log = run.job_log("evaluate")
        assert "size_mb" in evaluate_log and "exit status 4" in evaluate_log, evaluate_log[-6000:]
        assert tags(release.image_repository) == (404, [])
        assert not release.gitops.exists()
        assert release.containers() == {}
    finally:
        release.clean(run)


@pytest.mark.timeout(1500)
def test_a_staging_that_fails_its_check_never_reaches_production(tmp_path: Path, runner: Runner) -> None:
    """Staging's port is held by a stale process: the candidate passes its smoke test on a free port,
    but the container on staging's port never becomes ready, so the deploy fails (exit 5) and the
    promotion to production never starts."""
    release = Release(tmp_path, runner, environments=("staging", "production"), gates=PASSING_GATES, smoke_timeout=30)
    run = None
    try:
        with stale_listener(release.ports["staging"]):
            run = release.run(runner)
        assert run.results == {**BUILD_JOBS, "deploy to staging": "failed"}, f"{run.results}\n{run.log[-10000:]}"
        deploy_log = run.job_log("deploy to staging")
        assert "did not become ready" in deploy_log and "exit status 5" in deploy_log, deploy_log[-6000:]
        assert "Address already in use" in deploy_log and "there was no previous one to restore" in deploy_log
        image = json.loads((run.state / "artifacts" / "build" / "image.json").read_text())
        # Staging's record says what failed; production has nothing, and no container of this model runs.
        staging = release.record("staging")
        assert (staging["image"], staging["status"]) == (image["reference"], "failed"), staging
        assert release.record("production") is None
        assert release.containers() == {}
    finally:
        release.clean(run)
