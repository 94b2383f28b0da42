"""GitHub records of deploys, through github3.py: Deployments with statuses, and review pull
requests for GitOps environments that need approval.

Enabled by GITHUB_TOKEN and GITHUB_REPOSITORY (GITHUB_API_URL for GitHub Enterprise); the token
is never printed. Failures here are reported as warnings: the deploy itself already happened.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Optional

from ml_ci.errors import DeployError

PUBLIC_API = "https://api.github.com"


def login(env: Mapping[str, str], token_var: str = "GITHUB_TOKEN") -> Optional[Any]:
    token = env.get(token_var)
    if not token:
        return None
    import github3

    api = env.get("GITHUB_API_URL", PUBLIC_API).rstrip("/")
    if api == PUBLIC_API:
        return github3.login(token=token)
    # github3's GitHubEnterprise wants the server URL; Actions gives the API URL (<server>/api/v3).
    return github3.enterprise_login(url=api.removesuffix("/api/v3"), token=token)


def repository(gh: Any, slug: str) -> Any:
    owner, _, name = slug.partition("/")
    repo = gh.repository(owner, name)
    if repo is None:
        raise DeployError(f"GitHub repository {slug} not found or not visible to the token")
    return repo


def start_deployment(env: Mapping[str, str], *, environment: str, ref: str, image: str, description: str) -> Optional[Any]:
    """Create a Deployment of `ref` to `environment`, marked in_progress; None when not configured."""
    slug = env.get("GITHUB_REPOSITORY")
    gh = login(env)
    if gh is None or not slug:
        return None
    repo = repository(gh, slug)
    deployment = repo.create_deployment(
        ref=ref,
        environment=environment,
        auto_merge=False,
        required_contexts=[],
        payload=json.dumps({"image": image}),
        description=description[:140],
    )
    if deployment is None:
        raise DeployError(f"GitHub refused to create a deployment of {ref} to {environment}")
    deployment.create_status("in_progress", description=description[:140])
    return deployment


def finish_deployment(deployment: Any, state: str, description: str, url: Optional[str] = None) -> None:
    """The final status: success, failure or pending (waiting for a review)."""
    deployment.create_status(state, target_url=url, description=description[:140])


def open_pull_request(env: Mapping[str, str], token_var: str, slug: str, *, base: str, head: str, title: str, body: str) -> str:
    """The review PR for a GitOps change (an environment with approval: true)."""
    gh = login(env, token_var)
    if gh is None:
        raise DeployError(f"this environment needs approval, which opens a pull request on {slug}: set {token_var}")
    repo = repository(gh, slug)
    for pr in repo.pull_requests(state="open", head=f"{slug.split('/')[0]}:{head}", base=base):
        return str(pr.html_url)  # the same change is already up for review
    pr = repo.create_pull(title=title, base=base, head=head, body=body)
    if pr is None:
        raise DeployError(f"GitHub refused to open a pull request from {head} to {base} on {slug}")
    return str(pr.html_url)
