"""Where the source comes from and when: its commit (from the Actions environment when there is one, else
the repository's git) and the time that stands for "now" in what is built from it.

Export and build stamp their artifacts with the same time, so that the same commit gives the same bytes
(reproducible-builds.org's SOURCE_DATE_EPOCH, else the commit's time): both stages read it here.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class GitInfo:
    sha: str | None = None
    tag: str | None = None  # the git tag at HEAD, if any
    source: str | None = None  # the repository's URL
    timestamp: int | None = None  # the commit's time (seconds since 1970), what the image's times are set to


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


def source_date_epoch(env: Mapping[str, str], commit_time: int | None, fallback: int | None) -> int:
    """SOURCE_DATE_EPOCH when set (reproducible-builds.org), else the commit's time, else fallback, else 0."""
    raw = env.get("SOURCE_DATE_EPOCH", "").strip()
    if raw:
        if not raw.isdigit():
            raise ValueError(f"SOURCE_DATE_EPOCH={raw!r} is not a number of seconds since 1970-01-01")
        return int(raw)
    for value in (commit_time, fallback):
        if value is not None:
            return value
    return 0
