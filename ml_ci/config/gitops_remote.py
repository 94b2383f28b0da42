"""What deploy.gitops.repo names: a URL, owner/name on GitHub, or a folder (inside the model
repository or not). Pure but for one existence check; the generator, validate and deploy share it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

_GITHUB_SLUG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]+$")
_URL = re.compile(r"^(https?|ssh|git|file)://|^[^/@\s]+@[^:\s]+:")


@dataclass(frozen=True)
class Remote:
    url: str
    kind: str  # "github", "url" or "path"
    slug: str | None = None  # owner/name for GitHub


def resolve_remote(spec: str, root: Path, env: Mapping[str, str]) -> Remote:
    """deploy.gitops.repo -> where to push: a URL, owner/name on GitHub, or a path relative to the model repo."""
    if _URL.match(spec):
        return Remote(spec, "url")
    local = (root / spec).resolve() if not Path(spec).is_absolute() else Path(spec)
    if _GITHUB_SLUG.match(spec) and not spec.endswith(".git") and not local.exists():
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        return Remote(f"{server}/{spec}.git", "github", spec)
    return Remote(str(local), "path")


def in_repository(spec: str, root: Path) -> str | None:
    """deploy.gitops.repo as a path relative to the model repository when it is a folder inside it
    (resolve_remote's "path" kind, neither absolute nor leaving it), else None. On GitHub such a
    repository exists only within one workflow run: each job starts from a fresh checkout."""
    pure = PurePosixPath(spec)
    if (resolve_remote(spec, root, {}).kind != "path" or pure.is_absolute() or ".." in pure.parts
            or spec.startswith("~") or str(pure) == "."):
        return None
    return str(pure)
