"""The `ml-ci-validate` pre-commit hook, run for real by `pre-commit try-repo` on a scratch repository.

pre-commit builds ml-ci from a git repository into a virtualenv of its own with pip. To work
without a network, pip is pointed at a wheelhouse made here from this virtualenv's installed
distributions (ml-ci's dependencies and the hatchling build backend) and told to use no index.
The repository pre-commit clones is a snapshot of this working tree, committed in a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import Distribution, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

VALID = (ROOT / "tests" / "unit" / "config" / "cases" / "positive" / "minimal_hub.yaml").read_text(encoding="utf-8")
# What `pip install .` of ml-ci needs: its runtime dependencies, and the build backend.
ROOTS = ("ml-ci", "hatchling")
SNAPSHOT = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "ml_ci", "schemas", "templates", "actions")


def _closure(names: tuple[str, ...]) -> list[Distribution]:
    """The installed distributions names need, following requirements whose markers hold here (no extras)."""
    seen: dict[str, Distribution] = {}
    todo = list(names)
    while todo:
        dist = distribution(todo.pop())
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in seen:
            continue
        seen[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return [d for k, d in seen.items() if k != "ml-ci"]  # pre-commit builds ml-ci itself, from the snapshot


def _repack(dist: Distribution, wheelhouse: Path) -> None:
    """A wheel holding an installed distribution's files as its RECORD lists them (scripts and caches left out)."""
    files = [f for f in dist.files or [] if not str(f).startswith("..") and "__pycache__" not in str(f)]
    info = next(f for f in files if str(f).endswith(".dist-info/WHEEL"))
    lines = Path(str(info.locate())).read_text(encoding="utf-8").splitlines()
    tags = [line.split(": ", 1)[1].strip() for line in lines if line.startswith("Tag: ")]
    name = dist.metadata["Name"].replace("-", "_")
    with zipfile.ZipFile(wheelhouse / f"{name}-{dist.version}-{tags[0]}.whl", "w") as whl:
        for f in files:
            whl.write(Path(str(f.locate())), str(f))


def _snapshot(into: Path) -> Path:
    repo = into / "ml-ci"
    repo.mkdir()
    for name in SNAPSHOT:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_data"))
        else:
            shutil.copy2(src, repo / name)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "snapshot")
    return repo


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=cwd, check=True)


@pytest.fixture(scope="module")
def hook_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("precommit")
    wheelhouse = base / "wheels"
    wheelhouse.mkdir()
    for dist in _closure(ROOTS):
        _repack(dist, wheelhouse)
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(base / "cache"),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PRE_COMMIT_COLOR": "never",
        "NO_COLOR": "1",
    }
    env.pop("PIP_INDEX_URL", None)
    return _snapshot(base), env


def _try_repo(hook_repo: Path, env: dict[str, str], work: Path, *files: str) -> subprocess.CompletedProcess[str]:
    pre_commit = Path(sys.executable).with_name("pre-commit")
    return subprocess.run(
        [str(pre_commit), "try-repo", str(hook_repo), "ml-ci-validate", "--files", *files],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _work_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    _git(path, "add", ".")
    return path


def test_manifest_is_valid() -> None:
    pre_commit = Path(sys.executable).with_name("pre-commit")
    subprocess.run([str(pre_commit), "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")], check=True)


def test_hook_passes_a_valid_ml_yaml(hook_env: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    hook_repo, env = hook_env
    work = _work_repo(tmp_path / "work", {"ml.yaml": VALID, "models/b/ml.yaml": VALID.replace("demo", "other")})
    result = _try_repo(hook_repo, env, work, "ml.yaml", "models/b/ml.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ml-ci validate" in result.stdout
    assert "Passed" in result.stdout


def test_hook_fails_an_invalid_ml_yaml_naming_line_and_fix(hook_env: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    hook_repo, env = hook_env
    work = _work_repo(tmp_path / "work", {"ml.yaml": VALID + "train:\n  learning_rate: -1\n", "notes.yaml": "a: [\n"})
    result = _try_repo(hook_repo, env, work, "ml.yaml", "notes.yaml")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Failed" in result.stdout
    assert "- exit code: 2" in result.stdout
    assert "ml.yaml:11:18: train.learning_rate: -1 is less than the minimum 0" in result.stdout
    assert "notes.yaml" not in result.stdout.split("Failed", 1)[1]  # the hook only sees files named ml.yaml
