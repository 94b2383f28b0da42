"""Commit environment folders to the GitOps repository, safely under concurrency.

Each update runs in a fresh temporary clone: read the current state, decide the edit from it,
commit, push. A push that loses a race (the branch moved) starts over from the new tip with
backoff, so concurrent deploys never lose an update and never merge blindly; a push the remote
refuses for any other reason (a hook, permissions) fails at once, and the remote is unchanged.
An edit that changes nothing makes no commit: deploying the same digest twice is a no-op.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ml_ci.config.gitops_remote import Remote
from ml_ci.deploy.git import Git
from ml_ci.errors import DeployError

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Edit:
    """Folder -> its complete new content (name -> text), or None to remove the folder."""

    folders: Mapping[str, Optional[Mapping[str, str]]]
    message: str


@dataclass(frozen=True)
class Outcome:
    changed: bool
    commit: Optional[str]  # the pushed commit (None when nothing changed)
    branch: str
    attempts: int


class Checkout:
    """Read access to the repository's files at the commit an edit is computed from (and, in a clone, to the
    branch's recent history)."""

    def __init__(self, path: Path, git: Optional[Git] = None):
        self.path = path
        self.git = git

    def read(self, relpath: str) -> Optional[str]:
        target = self.path / relpath
        return target.read_text(encoding="utf-8") if target.is_file() else None

    def files(self, folder: str) -> dict[str, str]:
        base = self.path / folder
        if not base.is_dir():
            return {}
        return {p.name: p.read_text(encoding="utf-8") for p in sorted(base.iterdir()) if p.is_file()}

    def files_before(self, folder: str, record: str, image: str) -> dict[str, str]:
        """`folder` as it was before `image` arrived in its `record` (release.json): walking the branch's first
        parents back (a merged review's merge commit, a fast-forward or a squash alike), the files at the newest
        commit whose record names another image; {} when there is none within the fetched history."""
        if self.git is None:
            return {}
        revs = self.git.run("rev-list", "--first-parent", "HEAD", check=False).stdout.split()
        for rev in revs:
            shown = self.git.run("show", f"{rev}:{folder}/{record}", check=False)
            if shown.returncode == 0 and f'"image": "{image}"' in shown.stdout:
                continue
            names = self.git.run("ls-tree", "--name-only", f"{rev}:{folder}", check=False)
            if names.returncode != 0:
                return {}
            return {name: self.git.out("show", f"{rev}:{folder}/{name}") for name in names.stdout.split()}
        return {}


def _write(root: Path, edit: Edit) -> None:
    for folder, files in edit.folders.items():
        target = root / folder
        if target.exists():
            shutil.rmtree(target)
        if files is None:
            continue
        target.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (target / name).write_text(text, encoding="utf-8")


# How git reports that the branch moved under a push: checked before the push (rejected) or while
# the remote locked the ref (another push won between the check and the update).
_RACES = (
    "[rejected] (fetch first)",
    "[rejected] (non-fast-forward)",
    "[remote rejected] (failed to update ref)",
    "[remote rejected] (failed to lock)",
    "[rejected] (stale info)",
)


def push_rejection(porcelain: str) -> str:
    """Classify `git push --porcelain` output: "race" (the branch moved), "refused" or "" (pushed)."""
    for line in porcelain.splitlines():
        if line.startswith("!"):
            return "race" if any(r in line for r in _RACES) else "refused"
    return ""


def backoff(attempt: int) -> float:
    """Exponential with full jitter, so that racing deployers spread out."""
    return float(random.uniform(0, min(5.0, 0.2 * 2**attempt)))


class GitOpsRepo:
    def __init__(
        self,
        remote: Remote,
        branch: str,
        *,
        token: Optional[str] = None,
        auth_hint: str = "",
        sleep: Callable[[float], None] = time.sleep,
        create: bool = False,
    ):
        self.remote = remote
        self.create = create
        self.branch = branch
        self.token = token
        self.auth_hint = auth_hint
        self.sleep = sleep

    def ensure_exists(self) -> None:
        """A local remote that does not exist yet is created as a bare repository (first use), when asked
        to (deploy.gitops.create): else a mistyped name would become a repository nobody reconciles."""
        if self.remote.kind == "path" and not Path(self.remote.url).exists():
            if not self.create:
                raise DeployError(
                    f"deploy.gitops.repo: no repository at {self.remote.url} (set deploy.gitops.create: true to create one there)"
                )
            Path(self.remote.url).parent.mkdir(parents=True, exist_ok=True)
            Git(Path(self.remote.url).parent).run("init", "--bare", f"--initial-branch={self.branch}", self.remote.url)
        elif (
            self.remote.kind == "path"
            and not (Path(self.remote.url) / "HEAD").exists()
            and not (Path(self.remote.url) / ".git").exists()
        ):
            raise DeployError(f"deploy.gitops.repo: {self.remote.url} exists but is not a git repository")

    @contextmanager
    def _clone(self, branch: str) -> Iterator[Git]:
        with tempfile.TemporaryDirectory(prefix="ml-ci-gitops-") as tmp:
            git = Git(Path(tmp), token=self.token, auth_hint=self.auth_hint)
            git.run("init", "--quiet")
            git.run("remote", "add", "origin", self.remote.url)
            self._sync(git, branch)
            yield git

    def _sync(self, git: Git, branch: str) -> None:
        """Point the work tree at the remote tip of `branch`, or an empty orphan when it does not exist."""
        exists = bool(git.out("ls-remote", "--heads", "origin", f"refs/heads/{branch}"))
        if exists:
            git.run("fetch", "--quiet", "--depth=50", "origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}")
            git.run("checkout", "--quiet", "--force", "-B", branch, f"origin/{branch}")
            git.run("clean", "-fdxq")
        else:
            git.run("checkout", "--quiet", "--orphan", branch)
            git.run("rm", "-rfq", "--ignore-unmatch", ".")

    @contextmanager
    def snapshot(self, branch: Optional[str] = None) -> Iterator[Checkout]:
        """The files of `branch` (default: the deploy branch) now; empty when the repository or branch does not
        exist yet."""
        if self.remote.kind == "path" and not Path(self.remote.url).exists():
            with tempfile.TemporaryDirectory(prefix="ml-ci-gitops-") as tmp:
                yield Checkout(Path(tmp))
            return
        with self._clone(branch or self.branch) as git:
            yield Checkout(git.cwd, git)

    def delete_branch(self, branch: str) -> None:
        """Remove `branch` from the remote (a review branch whose change is complete); absent already is fine."""
        with tempfile.TemporaryDirectory(prefix="ml-ci-gitops-") as tmp:
            git = Git(Path(tmp), token=self.token, auth_hint=self.auth_hint)
            git.run("init", "--quiet")
            git.run("remote", "add", "origin", self.remote.url)
            if git.out("ls-remote", "--heads", "origin", f"refs/heads/{branch}"):
                git.run("push", "--quiet", "origin", f":refs/heads/{branch}")

    def update(self, decide: Callable[[Checkout], Optional[Edit]], *, branch: Optional[str] = None) -> Outcome:
        """Apply decide(current files) and push it; decide runs again on the new tip after a lost race.

        branch: push there instead of self.branch (a review branch, starting from self.branch).
        """
        self.ensure_exists()
        target = branch or self.branch
        with self._clone(self.branch) as git:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                edit = decide(Checkout(git.cwd, git))
                if edit is None:
                    return Outcome(False, None, target, attempt)
                _write(git.cwd, edit)
                git.add(list(edit.folders))
                if git.run("diff", "--cached", "--quiet", check=False).returncode == 0:
                    return Outcome(False, None, target, attempt)
                git.run("commit", "--quiet", "-m", edit.message)
                # A review branch is ml-ci's own, rebuilt from the tip of the main branch each time.
                force = ["--force"] if branch else []
                push = git.run("push", "--porcelain", *force, "origin", f"HEAD:refs/heads/{target}", check=False)
                verdict = push_rejection(push.stdout) if push.returncode else ""
                if push.returncode == 0:
                    return Outcome(True, git.out("rev-parse", "HEAD"), target, attempt)
                if verdict != "race" or branch:
                    detail = git.redact("\n".join(x for x in (push.stderr.strip(), push.stdout.strip()) if x))
                    raise DeployError(f"the GitOps remote refused the push to {target}; nothing was changed there:\n{detail}")
                self.sleep(backoff(attempt))
                self._sync(git, self.branch)
            raise DeployError(f"gave up pushing to {target} after {MAX_ATTEMPTS} attempts: the branch kept moving")
