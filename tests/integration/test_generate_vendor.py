"""The actions `ml-ci generate` vendors come from the installed package: the wheel ships a copy of
the repository's actions/ (the source of truth), and an installation from that wheel, without this
checkout on its path, writes exactly those files into a model repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.golden.variants import GOLDEN

pytestmark = pytest.mark.integration

SHIPPED = "ml_ci/_data/actions/"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ml-ci's wheel, built offline with the hatchling installed here."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "-w", str(out), "--no-deps", "--no-build-isolation", "-q"],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (built,) = out.glob("ml_ci-*.whl")
    return built


def test_the_wheel_ships_the_actions_as_they_are_in_the_repository(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        shipped = {name.removeprefix(SHIPPED): whl.read(name) for name in whl.namelist() if name.startswith(SHIPPED)}
    source = {
        p.relative_to(ROOT / "actions").as_posix(): p.read_bytes() for p in sorted((ROOT / "actions").rglob("*")) if p.is_file()
    }
    assert sorted(shipped) == sorted(source)
    assert any(name.endswith("/action.yml") for name in shipped)
    for name, data in source.items():
        assert shipped[name] == data, name


def test_an_installed_ml_ci_vendors_its_shipped_actions(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as whl:
        whl.extractall(site)  # a pure-Python wheel, importable as unpacked
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(GOLDEN / "vendored-default" / "ml.yaml", repo / "ml.yaml")
    probe = "import ml_ci, sys; from ml_ci.cli.main import main; print(ml_ci.__file__); sys.exit(main(sys.argv[1:]))"
    # The unpacked wheel comes first on the path, before this checkout's editable install.
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run(
        [sys.executable, "-c", probe, "generate", "-c", str(repo / "ml.yaml")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == str(site / "ml_ci" / "__init__.py")
    golden = GOLDEN / "vendored-default"
    expected = {p.relative_to(golden).as_posix() for p in golden.rglob("*") if p.is_file() and ".github" in p.parts}
    written = {p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file() and ".github" in p.parts}
    assert written == expected
    for rel in expected:
        assert (repo / rel).read_text(encoding="utf-8") == (golden / rel).read_text(encoding="utf-8"), rel
