"""The stage cache for real: `ml-ci run` twice on a scratch repository (tiny model, tuning with a fake
trainer) reports every stage up to export as a cache hit the second time, restores the same bytes,
keeps a failed gate failed, and recomputes what a change reaches (and what --no-cache asks for)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.modelrepo import make_model_repo, tiny_model
from tests.unit.cache.scratch import tree

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("data-check", "tune", "train", "evaluate", "export")
ENV = {
    **os.environ,
    "CI": "true",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONPATH": str(ROOT),
    "ML_CI_TUNE_FIT": "tests.unit.cache.scratch:fake_fit",
}
for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "OPTUNA_STORAGE", "ML_CI_NO_CACHE"):
    ENV.pop(name, None)


def run(repo: Path, stage: str, *flags: str) -> str:
    """`ml-ci run --only STAGE`: the status the closing table gives it."""
    done = subprocess.run(
        [sys.executable, "-m", "ml_ci", "run", "--only", stage, *flags, "."],
        cwd=repo,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    row = next(line for line in done.stdout.splitlines() if line.startswith(stage + " "))
    return row.split(None, 1)[1].split("  ")[0].strip()


def statuses(repo: Path, *flags: str) -> dict[str, str]:
    return {stage: run(repo, stage, *flags) for stage in STAGES}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cached")
    tiny_model(root / "models/tiny")
    make_model_repo(
        root,
        overrides={
            "model": {"base": "models/tiny", "max_length": 32},
            "train": {"epochs": 1, "batch_size": 16},
            "tune": {
                "enabled": True,
                "trials": 2,
                "search_space": {"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True}},
            },
            # A random tiny model is near chance: this gate fails, as a cached evaluation must keep failing.
            "evaluate": {
                "metrics": ["accuracy", "latency_p95_ms"],
                "latency_samples": 3,
                "gates": [{"metric": "accuracy", "min": 0.99}],
            },
        },
    )
    return root


def artifacts(repo: Path) -> dict[str, dict[str, bytes]]:
    return {stage: tree(repo / ".ml-ci/artifacts" / stage) for stage in STAGES}


def test_a_second_run_is_cache_hits_with_the_same_bytes_and_verdict(repo: Path) -> None:
    first = statuses(repo)
    assert first == {"data-check": "ok", "tune": "ok", "train": "ok", "evaluate": "failed (exit 4)", "export": "ok"}
    written = artifacts(repo)
    assert {"eval.json", "report.md", "confusion.png"} <= set(written["evaluate"])
    assert {"model.onnx", "parity.json", "golden.json", "model.json"} <= set(written["export"])

    second = statuses(repo)
    assert second == {
        "data-check": "cache hit",
        "tune": "cache hit",
        "train": "cache hit",
        "evaluate": "failed (exit 4, cache hit)",
        "export": "cache hit",
    }
    assert artifacts(repo) == written


def test_a_change_reaches_only_the_stages_that_read_it(repo: Path) -> None:
    statuses(repo)  # whatever an earlier test left: every entry is there now
    doc = yaml.safe_load((repo / "ml.yaml").read_text())
    doc["data"]["checks"]["min_rows"] = 10
    (repo / "ml.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    assert statuses(repo) == {
        "data-check": "ok",
        "tune": "cache hit",
        "train": "cache hit",
        "evaluate": "failed (exit 4, cache hit)",
        "export": "cache hit",
    }


def test_no_cache_recomputes(repo: Path) -> None:
    statuses(repo)
    assert run(repo, "evaluate", "--no-cache") == "failed (exit 4)"
    assert run(repo, "export", "--no-cache") == "ok"  # evaluate's fresh latencies are in model.json: a new key anyway
    assert run(repo, "export") == "cache hit"
