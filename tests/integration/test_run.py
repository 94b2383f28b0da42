"""`ml-ci run`: the plan's stages as subprocesses, in order; cache hits reported; a failed stage stops
its dependents and gives the run its exit code; a closing table names every stage."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.modelrepo import make_model_repo, tiny_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ENV = {**os.environ, "CI": "true", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def ml_ci(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml_ci", *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900, check=False
    )


def table(stdout: str) -> dict[str, str]:
    """stage -> status, from the closing summary table."""
    lines = stdout.split("stage ", 1)[1].splitlines()[2:]
    rows: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            break
        name, rest = line.split(None, 1)
        rows[name] = rest.split("  ")[0].strip()
    return rows


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path: Path) -> None:
    make_model_repo(tmp_path)
    done = ml_ci("run", "--dry-run", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    names = [m.group(1) for m in re.finditer(r"^\s*\d+\.\s+(\S+)", done.stdout, re.MULTILINE)]
    assert names == ["validate", "data-check", "train", "evaluate", "export", "build"]
    assert not (tmp_path / ".ml-ci").exists()


def test_only_train_twice_is_a_cache_hit_the_second_time(tmp_path: Path) -> None:
    tiny_model(tmp_path / "models/tiny")
    make_model_repo(tmp_path, overrides={"model": {"base": "models/tiny", "max_length": 32}})
    first = ml_ci("run", "--only", "train", ".", cwd=tmp_path)
    assert first.returncode == 0, first.stderr + first.stdout
    assert "==> [1/1] train: ml-ci train -c ml.yaml  (in .)" in first.stdout
    assert table(first.stdout) == {"train": "ok"}
    shutil.rmtree(tmp_path / ".ml-ci/artifacts")
    second = ml_ci("run", "--only", "train", ".", cwd=tmp_path)
    assert table(second.stdout) == {"train": "cache hit"}
    assert (tmp_path / ".ml-ci/artifacts/train/model/model.safetensors").is_file()


def test_a_failed_stage_skips_its_dependents_and_sets_the_exit_code(tmp_path: Path) -> None:
    # 10 training rows fail data.checks.min_rows (20): `ml-ci data check` exits 3.
    make_model_repo(tmp_path, n_train=10)
    done = ml_ci("run", ".", cwd=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    rows = table(done.stdout)
    assert rows["validate"] == "ok"
    assert rows["data-check"] == "failed (exit 3)"
    assert all(rows[s].startswith("skipped") for s in ("train", "evaluate", "export", "build")), rows
    assert not (tmp_path / ".ml-ci/artifacts/train").exists()
    assert "failed in" in done.stdout and ": exit 3" in done.stdout
