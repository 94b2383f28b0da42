"""`ml-ci train` for real: the pretrained MiniLM learns the small dataset, a rerun is a cache hit,
a killed run resumes to the same result, two DDP processes match one, and bad input fails cleanly.

Every run is the CLI in a subprocess, as CI runs it. Models stay small: the real MiniLM where the
point is learning, the tiny random BERT where the point is mechanics.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.modelrepo import make_model_repo, tiny_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ENV = {
    **os.environ,
    "CI": "true",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
ENV.pop("GITHUB_OUTPUT", None)
ENV.pop("GITHUB_STEP_SUMMARY", None)


def ml_ci(root: Path, *args: str, timeout: float = 900, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml_ci", *args],
        cwd=root,
        env=env or ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


MINILM = {"epochs": 2, "learning_rate": 1.5e-4}


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def validation(root: Path) -> dict[str, float]:
    data: dict[str, Any] = json.loads((root / ".ml-ci/artifacts/train/metrics.json").read_text())
    return data["validation"]  # type: ignore[no-any-return]


def tiny_repo(root: Path, model: Path, **train: Any) -> Path:
    """A repository training a copy of one tiny random BERT (so that two repositories start equal)."""
    shutil.copytree(model, root / "models/tiny")
    make_model_repo(
        root,
        overrides={
            "model": {"base": "models/tiny", "max_length": 32},
            "train": {"learning_rate": 1e-3, "epochs": 3, "eval_steps": 5, **train},
        },
    )
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The real MiniLM fine-tuned in one process (shared by the tests that compare against it)."""
    root = tmp_path_factory.mktemp("single")
    make_model_repo(root, overrides={"train": MINILM})
    return root, ml_ci(root, "train", env={**ENV, "GITHUB_OUTPUT": str(root / "outputs")})


def test_minilm_learns_and_an_unchanged_rerun_is_a_cache_hit(single: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    tmp_path, first = single
    outputs = tmp_path / "outputs"
    assert first.returncode == 0, first.stderr
    assert "validation at step" in first.stderr and "\r" not in first.stderr  # log lines, no bar, in CI
    art = tmp_path / ".ml-ci/artifacts/train"
    metrics = validation(tmp_path)
    assert metrics["accuracy"] >= 0.9 and metrics["f1_macro"] >= 0.9
    assert sorted(p.name for p in art.iterdir()) == ["README.md", "lineage.json", "metrics.json", "model"]
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in (art / "model").iterdir()}
    assert not list((art / "model").glob("*.bin"))
    config = json.loads((art / "model/config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    curve = json.loads((art / "metrics.json").read_text())["loss_curve"]
    assert len(curve) >= 5 and curve[-1][1] < curve[0][1]
    lineage = json.loads((art / "lineage.json").read_text())
    assert lineage["base_model"]["identity"].startswith("sha256:") and lineage["seed"] == 7
    assert set(lineage["data"]) == {"train", "validation"} and lineage["packages"]["torch"]  # what training reads
    assert lineage["class_weights"] is None
    assert (art / "README.md").read_text().startswith("---\nlibrary_name: transformers\n")
    key = ml_ci(tmp_path, "train", "--print-cache-key").stdout.strip()
    assert key == lineage["cache_key"]
    lines = outputs.read_text().splitlines()
    assert f"cache-key={key}" in lines and "cache-hit=false" in lines
    assert not (tmp_path / ".ml-ci/work/train").exists()  # checkpoints go once training succeeded

    before = tree(art)
    shutil.rmtree(art)
    second = ml_ci(tmp_path, "train")
    assert second.returncode == 0, second.stderr
    assert "cache hit: restored" in second.stdout and "training " not in second.stderr
    assert tree(art) == before

    # A changed hyperparameter is another key; --no-cache would train again (not run: it is slow).
    (tmp_path / "best.json").write_text(json.dumps({"learning_rate": 5e-5}))
    assert ml_ci(tmp_path, "train", "--params", "best.json", "--print-cache-key").stdout.strip() != key


def test_sigkill_then_resume_ends_where_an_uninterrupted_run_ends(tmp_path: Path, tiny: Path) -> None:
    whole = tiny_repo(tmp_path / "whole", tiny)
    killed = tiny_repo(tmp_path / "killed", tiny)
    done = ml_ci(whole, "train")
    assert done.returncode == 0, done.stderr

    proc = subprocess.Popen(
        [sys.executable, "-m", "ml_ci", "train"],
        cwd=killed,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    checkpoints = killed / ".ml-ci/work/train/checkpoints"
    try:
        while proc.poll() is None and not list(checkpoints.glob("checkpoint-*/trainer_state.json")):
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training ended before it could be killed"
    assert not (killed / ".ml-ci/artifacts/train").exists()  # nothing half-written in place

    resumed = ml_ci(killed, "train", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stderr
    got, want = validation(killed), validation(whole)
    assert json.loads((killed / ".ml-ci/artifacts/train/metrics.json").read_text())["resumed_from"]
    for name in ("accuracy", "f1_macro", "loss"):
        assert abs(got[name] - want[name]) <= 0.01, (name, got, want)
    assert [p.name for p in (killed / ".ml-ci/artifacts").iterdir()] == ["train"]  # no temporary folder left


def test_two_gloo_processes_match_one_with_the_same_global_batch(
    tmp_path: Path, single: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    make_model_repo(tmp_path, overrides={"train": {**MINILM, "distributed": {"nproc_per_node": 2, "nodes": 1}}})
    done = ml_ci(tmp_path, "train")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("train: trained:") == 1, done.stdout  # the parent reports, not each of its workers
    assert done.stderr.count(" rows: 2 process(es)") == 1, done.stderr
    one = json.loads((single[0] / ".ml-ci/artifacts/train/metrics.json").read_text())
    two = json.loads((tmp_path / ".ml-ci/artifacts/train/metrics.json").read_text())
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["steps"] == two["steps"]  # the global batch is split, not multiplied
    # Same model, global batch and steps; only the order of the rows differs (DistributedSampler).
    assert two["validation"]["accuracy"] >= 0.9
    assert abs(one["validation"]["accuracy"] - two["validation"]["accuracy"]) <= 0.05
    assert abs(one["validation"]["loss"] - two["validation"]["loss"]) <= 0.1
    assert abs(one["loss_curve"][0][1] - two["loss_curve"][0][1]) <= 0.05  # the loss is not scaled by the world size
    assert "cache hit" in ml_ci(tmp_path, "train").stdout


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("no-weights", 2, "'models/empty' has no weights (expected one of model.safetensors"),
        ("bad-params", 2, "best.json: train.learning_rat: unknown hyperparameter; did you mean 'learning_rate'?"),
        ("bad-value", 2, "best.json: train.warmup_ratio: 2 is greater than the maximum of 1"),
        ("bf16-on-cpu", 2, "bf16 was asked for, but this machine has no CUDA GPU"),
        ("missing-data", 1, "error: data/validation.csv: no such file"),  # a file that cannot be read: operational
        ("odd-batch", 2, "train.batch_size: 15 does not split evenly across 2 processes"),
        (
            "hub-not-cached",
            1,
            "error: model.base: cannot load 'acme/no-such-model' at revision abc123 from the Hugging Face "
            "Hub: the Hub cannot be reached (HF_HUB_OFFLINE is set) and the model is not in the local cache. "
            "Either download it once",
        ),
    ],
)
def test_bad_input_fails_with_its_exit_code_no_traceback_and_nothing_written(
    tmp_path: Path, case: str, code: int, message: str
) -> None:
    overrides: dict[str, Any] = {}
    args = ["train"]
    if case == "no-weights":
        (tmp_path / "models/empty").mkdir(parents=True)
        (tmp_path / "models/empty/config.json").write_text("{}")
        overrides["model"] = {"base": "models/empty"}
    elif case == "bf16-on-cpu":
        overrides["train"] = {"precision": "bf16"}
    elif case == "hub-not-cached":
        overrides["model"] = {"base": "acme/no-such-model", "revision": "abc123"}
    elif case == "odd-batch":
        overrides["train"] = {"batch_size": 15, "distributed": {"nproc_per_node": 2, "nodes": 1}}
    make_model_repo(tmp_path, overrides=overrides)
    if case in ("bad-params", "bad-value"):
        (tmp_path / "best.json").write_text(json.dumps({"learning_rat": 1e-4} if case == "bad-params" else {"warmup_ratio": 2}))
        args += ["--params", "best.json"]
    if case == "missing-data":
        (tmp_path / "data/validation.csv").unlink()
    done = ml_ci(tmp_path, *args, timeout=300)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / ".ml-ci/artifacts").exists()


def test_class_weights_change_the_loss_and_are_recorded(tmp_path: Path, tiny: Path) -> None:
    plain = tiny_repo(tmp_path / "plain", tiny, epochs=1)
    weighted = tiny_repo(tmp_path / "weighted", tiny, epochs=1, class_weights={"positive": 5})
    for root in (plain, weighted):
        done = ml_ci(root, "train")
        assert done.returncode == 0, done.stderr
    assert "class weights negative 1 positive 5" in done.stderr
    lineage = json.loads((weighted / ".ml-ci/artifacts/train/lineage.json").read_text())
    assert lineage["class_weights"] == {"setting": {"positive": 5}, "weights": {"negative": 1.0, "positive": 5.0}}
    curves = [json.loads((r / ".ml-ci/artifacts/train/metrics.json").read_text())["loss_curve"] for r in (plain, weighted)]
    assert curves[0][0][1] != curves[1][0][1]  # the same model and data: only the weights differ


class Pruned(Exception):
    pass


def test_an_exception_from_report_stops_fit_before_any_model_is_saved(tmp_path: Path, tiny: Path) -> None:
    """What Optuna's pruning relies on: fit calls report after each evaluation and lets its exception out."""
    from ml_ci.config import load_config
    from ml_ci.data.load import load_splits
    from ml_ci.train.fit import fit

    config = load_config(tiny_repo(tmp_path / "repo", tiny) / "ml.yaml").config
    seen: list[tuple[int, dict[str, float]]] = []

    def report(step: int, metrics: dict[str, float]) -> None:
        seen.append((step, metrics))
        raise Pruned

    with pytest.raises(Pruned):
        fit(config, load_splits(config), overrides={"epochs": 1}, output_dir=tmp_path / "out", report=report)
    assert [(step, sorted(m)) for step, m in seen] == [(5, ["accuracy", "f1_macro", "loss"])]
    assert not (tmp_path / "out" / "model").exists()
