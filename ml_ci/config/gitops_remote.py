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
    if (
        resolve_remote(spec, root, {}).kind != "path"
        or pure.is_absolute()
        or ".." in pure.parts
        or spec.startswith("~")
        or str(pure) == "."
    ):
        return None
    return str(pure)


# Set to 1 to let one run send the GitOps token over plain http:// (deploy.gitops.allow_insecure_http says it for good).
ALLOW_HTTP_ENV = "ML_CI_GITOPS_ALLOW_HTTP"


def _meant(spec: str) -> str | None:
    """What a value that resolved to a missing folder probably meant: owner/name.git -> owner/name on
    GitHub; host/owner/name (a URL without its scheme) -> https://host/owner/name.git."""
    parts = spec.strip("/").split("/")
    if spec.startswith((".", "/", "~")) or any(p in ("", ".", "..") for p in parts):
        return None
    if len(parts) == 2 and spec.endswith(".git") and _GITHUB_SLUG.match(spec.removesuffix(".git")):
        return f"'{spec.removesuffix('.git')}' (owner/name on GitHub) or 'https://github.com/{spec}'"
    if len(parts) >= 3 and "." in parts[0]:
        url = f"https://{spec.strip('/')}" + ("" if spec.endswith(".git") else ".git")
        slug = "/".join(parts[1:3]).removesuffix(".git")
        also = f" or '{slug}' (owner/name on GitHub)" if parts[0] == "github.com" and len(parts) == 3 else ""
        return f"'{url}'{also}"
    return None


def missing_repository(spec: str, root: Path, create: bool) -> str | None:
    """Why deploy.gitops.repo must be refused: it names a folder that does not exist and ml.yaml does not
    ask to create one (deploy.gitops.create). A mistyped owner/name or URL resolves to such a folder;
    creating it would send deploys where Argo CD and Flux never look. None when it is fine."""
    remote = resolve_remote(spec, root, {})
    if remote.kind != "path" or create or Path(remote.url).exists():
        return None
    meant = _meant(spec)
    return (
        f"{spec!r} is not a URL or owner/name, and no repository exists at {remote.url}: expected owner/name on "
        "GitHub, a git URL (https://, ssh://, git@host:path) or an existing repository on disk"
        + (f"; did you mean {meant}?" if meant else "")
        + "; to create a scratch bare repository there on the first deploy, set deploy.gitops.create: true"
    )


def insecure_http(remote: Remote) -> bool:
    """The remote is plain http://: a token sent there travels unencrypted (git sends it as Basic auth)."""
    return remote.url.lower().startswith("http://")


def may_exist_elsewhere(spec: str, root: Path) -> bool:
    """A missing folder that may well exist on the machine that deploys (outside the model repository, and not
    a mistyped owner/name or URL): validate warns about it, deploy refuses it there if it is missing."""
    return in_repository(spec, root) is None and _meant(spec) is None
