"""A GitOps repository on disk inside the model repository (deploy.gitops.repo: .ml-ci/gitops.git),
carried from deploy job to deploy job of one release run.

Each job starts from a fresh checkout, so what `ml-ci deploy` committed there is gone when the
promote job starts. The job that deploys the first environment uploads the bare repository as the
artifact gitops-<env>; each promote job downloads the one before it, promotes, and uploads its own
(artifact names are unique within a run). Across runs nothing carries it: such a repository is for
trying the pipeline out; real deployments name a remote (owner/name or a URL), which is left alone
here (`ml-ci validate` warns about the on-disk one).
"""

from __future__ import annotations

from typing import Optional

from ml_ci.config.gitops_remote import in_repository
from ml_ci.config.model import Config
from ml_ci.generate import jobs as j
from ml_ci.generate.model import Step


def on_disk_path(config: Config) -> Optional[str]:
    """The workspace-relative path of an on-disk GitOps repository inside the model repository, or None."""
    deploy = config.deploy
    if deploy is None or deploy.strategy != "gitops" or deploy.gitops is None:
        return None
    return in_repository(deploy.gitops.repo, config.root)


def artifact(env: str) -> str:
    return f"gitops-{env}"


def around(config: Config, *, previous: Optional[str], env: str, deploy: Step) -> tuple[Step, ...]:
    """The deploy (previous None) or promote step of env, with the repository fetched before it and
    kept after it when it lives on disk; the step alone otherwise."""
    path = on_disk_path(config)
    if path is None:
        return (deploy,)
    fetch = () if previous is None else (j.download_path(artifact(previous), path),)
    # Kept after a failure too: the record of what failed (a revert commit) is in it.
    return (*fetch, deploy, j.upload_path(artifact(env), path))
