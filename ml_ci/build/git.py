"""Where the build comes from: the Actions environment when there is one, else the repository's git."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Mapping
from pathlib import Path

from ml_ci.build.plan import GitInfo


def from_env(env: Mapping[str, str]) -> GitInfo | None:
    """GitHub Actions' variables, which name the commit and tag of the run even in a shallow checkout."""
    sha = env.get("GITHUB_SHA")
    if not sha:
        return None
    tag = env.get("GITHUB_REF_NAME") if env.get("GITHUB_REF_TYPE") == "tag" else None
    server, repo = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY")
    source = f"{server}/{repo}" if server and repo else None
    return GitInfo(sha=sha, tag=tag, source=source)


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def from_repo(root: Path) -> GitInfo:
    sha = _git(root, "rev-parse", "HEAD")
    if sha is None:
        return GitInfo()
    remote = _git(root, "remote", "get-url", "origin")
    # Never put credentials of a remote URL (https://user:token@host/...) into an image label.
    if remote and "@" in remote and "://" in remote:
        scheme, rest = remote.split("://", 1)
        remote = f"{scheme}://{rest.split('@', 1)[1]}"
    return GitInfo(sha=sha, tag=_git(root, "describe", "--tags", "--exact-match", "HEAD"), source=remote)


def commit_time(root: Path, sha: str) -> int | None:
    """The committer time of sha (a shallow checkout has its own commit), None outside a repository."""
    out = _git(root, "show", "-s", "--format=%ct", sha)
    return int(out) if out and out.isdigit() else None


def git_info(root: Path, env: Mapping[str, str]) -> GitInfo:
    info = from_env(env) or from_repo(root)
    if info.sha is None:
        return info
    return dataclasses.replace(info, timestamp=commit_time(root, info.sha))
