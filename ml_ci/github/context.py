"""Where a report goes: repository, pull request, commit and API URL, from options and the runner.

Pure: the environment is passed in as a Mapping. Command-line values win over the environment;
in a pull_request workflow the PR number and head commit come from the event payload.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_ci.errors import OperationalError

PUBLIC_API = "https://api.github.com"
PUBLIC_SERVER = "https://github.com"


@dataclass(frozen=True)
class Target:
    repo: str | None  # owner/name
    pr: int | None
    sha: str | None
    api_url: str
    run_url: str | None  # the workflow run, whose artifacts hold the plots

    @property
    def owner_name(self) -> tuple[str, str]:
        if not self.repo or self.repo.count("/") != 1 or not all(self.repo.split("/")):
            raise OperationalError(f"--repo must be OWNER/NAME, not {self.repo!r}")
        owner, name = self.repo.split("/")
        return owner, name


def _event(env: Mapping[str, str]) -> dict[str, Any]:
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def resolve(
    env: Mapping[str, str],
    *,
    repo: str | None = None,
    pr: int | None = None,
    sha: str | None = None,
    github_url: str | None = None,
) -> Target:
    event = _event(env)
    pull = event.get("pull_request") if isinstance(event.get("pull_request"), dict) else {}
    assert isinstance(pull, dict)
    repo = repo or env.get("GITHUB_REPOSITORY") or None
    if pr is None and isinstance(pull.get("number"), int):
        pr = pull["number"]
    head = pull.get("head") if isinstance(pull.get("head"), dict) else {}
    assert isinstance(head, dict)
    # On pull_request, GITHUB_SHA is the merge commit; the status belongs on the PR's head commit.
    sha = sha or (head.get("sha") if isinstance(head.get("sha"), str) else None) or env.get("GITHUB_SHA") or None
    api_url = (github_url or env.get("GITHUB_API_URL") or PUBLIC_API).rstrip("/")
    run_url = None
    if repo and env.get("GITHUB_RUN_ID"):
        server = (env.get("GITHUB_SERVER_URL") or PUBLIC_SERVER).rstrip("/")
        run_url = f"{server}/{repo}/actions/runs/{env['GITHUB_RUN_ID']}"
    return Target(repo, pr, sha, api_url, run_url)


def enterprise_base(api_url: str) -> str | None:
    """The instance URL for github3's GitHubEnterprise (it appends /api/v3), or None for github.com."""
    url = api_url.rstrip("/")
    if url == PUBLIC_API:
        return None
    return url.removesuffix("/api/v3")
