"""A GitOps repository on disk inside the model repository travels between the release's deploy jobs
as artifacts; a remote one (GitHub, a URL) or a path outside the repository is left alone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_ci.config import load_config
from ml_ci.config.gitops_remote import in_repository
from ml_ci.config.model import Config
from ml_ci.generate.options import Options
from ml_ci.generate.render import RELEASE_FILE, render
from tests.conftest import EXAMPLE
from tests.golden.variants import GOLDEN
from tests.unit.generate.test_wiring import downloaded, uploaded, waited_for


def with_repo(config: Config, repo: str, path: Path | None = None) -> Config:
    assert config.deploy is not None and config.deploy.gitops is not None
    gitops = replace(config.deploy.gitops, repo=repo)
    return replace(config, deploy=replace(config.deploy, gitops=gitops), path=path or config.path)


def release_jobs(config: Config) -> dict[str, Any]:
    jobs: dict[str, Any] = yaml.safe_load(render(config, Options())[RELEASE_FILE])["jobs"]
    return jobs


def names(job: dict[str, Any]) -> list[str]:
    return [s["name"] for s in job["steps"]]


def gitops_steps(jobs: dict[str, Any]) -> dict[str, list[tuple[str, str, str]]]:
    """Per job: (action, artifact, path) of every step that moves a gitops-* artifact."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for job_id, job in jobs.items():
        for s in job["steps"]:
            uses = s.get("uses", "")
            if "-artifact@" in uses and s["with"]["name"].startswith("gitops-"):
                kind = "upload" if "upload-artifact" in uses else "download"
                out.setdefault(job_id, []).append((kind, s["with"]["name"], s["with"]["path"]))
    return out


def test_the_examples_repository_goes_from_the_deploy_job_to_the_promote_job() -> None:
    jobs = release_jobs(load_config(EXAMPLE / "ml.yaml").config)
    assert gitops_steps(jobs) == {
        "deploy-staging": [("upload", "gitops-staging", ".ml-ci/gitops.git")],
        "promote-production": [
            ("download", "gitops-staging", ".ml-ci/gitops.git"),
            ("upload", "gitops-production", ".ml-ci/gitops.git"),
        ],
    }
    deploy, promote = names(jobs["deploy-staging"]), names(jobs["promote-production"])
    # Fetched before the promotion reads staging's record; kept after the step that commits, even when it failed.
    assert deploy.index("Upload gitops-staging") == deploy.index("Deploy to staging and smoke-test") + 1
    assert (
        promote.index("Download gitops-staging") + 1
        == promote.index("Promote staging to production")
        == promote.index("Upload gitops-production") - 1
    )
    upload = next(s for s in jobs["promote-production"]["steps"] if s["name"] == "Upload gitops-production")
    assert (upload["if"], upload["with"]["include-hidden-files"]) == ("always()", True)


def test_each_promotion_starts_from_the_one_before_it() -> None:
    config = with_repo(load_config(GOLDEN / "gitops-three-envs" / "ml.yaml").config, "deploy/gitops.git")
    jobs = release_jobs(config)
    assert gitops_steps(jobs) == {
        "deploy-staging": [("upload", "gitops-staging", "deploy/gitops.git")],
        "promote-canary": [("download", "gitops-staging", "deploy/gitops.git"), ("upload", "gitops-canary", "deploy/gitops.git")],
        "promote-production": [
            ("download", "gitops-canary", "deploy/gitops.git"),
            ("upload", "gitops-production", "deploy/gitops.git"),
        ],
    }
    for job_id, job in jobs.items():
        missing = downloaded(job) - uploaded({k: jobs[k] for k in waited_for(jobs, job_id)})
        assert not missing, f"{job_id} downloads {missing} that no job before it uploads"
    # Artifact names are unique within a run.
    every = [name for steps in gitops_steps(jobs).values() for kind, name, _ in steps if kind == "upload"]
    assert len(every) == len(set(every))


@pytest.mark.parametrize(
    "repo",
    ["acme/deploy", "https://github.com/acme/deploy.git", "git@example.com:acme/deploy.git", "/srv/gitops.git", "../ops.git"],
)
def test_a_remote_or_a_repository_outside_the_model_repository_is_left_alone(repo: str) -> None:
    config = with_repo(load_config(GOLDEN / "gitops-three-envs" / "ml.yaml").config, repo)
    assert gitops_steps(release_jobs(config)) == {}


def test_which_repositories_are_on_disk_inside_the_model_repository(tmp_path: Path) -> None:
    assert in_repository(".ml-ci/gitops.git", tmp_path) == ".ml-ci/gitops.git"
    assert in_repository("./deploy/gitops.git", tmp_path) == "deploy/gitops.git"
    for remote in (
        "acme/deploy",
        "https://example.com/acme/deploy.git",
        "git@github.com:acme/deploy.git",
        "/srv/gitops.git",
        "../ops.git",
        "~/gitops.git",
        ".",
    ):
        assert in_repository(remote, tmp_path) is None, remote
    # owner/name that is a folder beside ml.yaml is that folder, as `ml-ci deploy` reads it.
    (tmp_path / "acme" / "deploy").mkdir(parents=True)
    assert in_repository("acme/deploy", tmp_path) == "acme/deploy"
