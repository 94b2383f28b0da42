"""Cached stages run in process: a hit restores the same bytes and gives the same verdict (a cached
failure still fails), --no-cache recomputes, and tuning caches only a finished study."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ml_ci.data import check
from ml_ci.errors import DataCheckError
from ml_ci.evaluate.assemble import Measured, Predictions, assemble
from ml_ci.evaluate.stage import results_of, reusable
from ml_ci.export.stage import read_result
from ml_ci.pipeline.layout import Layout
from ml_ci.records import evaluation as eval_record
from ml_ci.records.evaluation import text_hash
from ml_ci.tasks.text_classification.export import compare
from ml_ci.tune import run as tune_run
from ml_ci.tune import study as tune_study
from tests.modelrepo import make_model_repo
from tests.unit.cache.scratch import config, scratch, set_yaml, tree


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def counting_loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from ml_ci.data.load import load_tables as real

    calls: list[int] = []

    def load(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(check, "load_tables", load)
    return calls


def test_data_check_hit_prints_and_restores_the_same_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config(make_model_repo(tmp_path).parent)
    loads = counting_loads(monkeypatch)
    first, second = io.StringIO(), io.StringIO()
    assert check.data_check(cfg, out=first, env={}) == 0
    folder = Layout(tmp_path).artifacts("data-check")
    written = tree(folder)
    env = {"GITHUB_OUTPUT": str(tmp_path / "out.txt")}
    assert check.data_check(cfg, out=second, env=env) == 0
    assert (len(loads), tree(folder), second.getvalue()) == (1, written, first.getvalue())
    got = outputs(tmp_path / "out.txt")
    assert got["cache-hit"] == "true" and got["fingerprint"] == json.loads(written["report.json"])["fingerprint"]
    check.data_check(cfg, out=io.StringIO(), env={}, no_cache=True)
    assert len(loads) == 2


def test_a_cached_failed_data_check_still_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config(make_model_repo(tmp_path, n_train=10).parent)  # below data.checks.min_rows (20)
    loads = counting_loads(monkeypatch)
    with pytest.raises(DataCheckError) as computed:
        check.data_check(cfg, out=io.StringIO(), env={})
    with pytest.raises(DataCheckError) as restored:
        check.data_check(cfg, out=io.StringIO(), env={})
    assert len(loads) == 1
    assert (restored.value.exit_code, str(restored.value)) == (3, str(computed.value))


def test_gate_results_read_back_from_the_record_are_the_judged_ones(tmp_path: Path) -> None:
    root = scratch(tmp_path / "repo")
    set_yaml(
        root, "evaluate.gates", [{"metric": "accuracy", "min": 0.99}, {"metric": "f1_macro", "against": "main", "max_drop": 0.01}]
    )
    set_yaml(
        root,
        "evaluate.slices",
        [{"name": "short", "length": {"max": 15}, "min_rows": 2, "gates": [{"metric": "accuracy", "min": 0.5}]}],
    )
    y = np.array([i % 2 for i in range(20)], dtype=np.int64)
    probs = np.where(np.arange(20)[:, None] < 6, [[0.3, 0.7]], [[0.8, 0.2]])
    preds = Predictions(tuple(text_hash(f"t{i}") for i in range(20)), y, probs)
    outcome = assemble(
        config(root),
        role="test",
        fingerprint="sha256:d",
        texts_lengths=[10 + i for i in range(20)],
        columns={},
        preds=preds,
        measured=Measured([1.0, 2.0], 1.5, "sha256:m", "model"),
        baselines={},
        created="2026-01-01T00:00:00+00:00",
        git={"sha": None, "ref": None, "repository": None},
    )
    eval_record.write(tmp_path / "eval.json", outcome.record)
    restored = results_of(eval_record.read(tmp_path / "eval.json"))
    assert restored == outcome.results
    assert [r.name for r in restored if not r.passed] == ["accuracy >= 0.99", "[short] accuracy >= 0.5"]


def test_export_result_is_read_back_from_the_folder(tmp_path: Path) -> None:
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.4, 0.6]], dtype=np.float32)
    parity = compare(logits, logits + 1e-3, [1, 0, 0], min_agreement=0.99, max_accuracy_drop=0.01)
    for name, data in (
        ("parity.json", {**parity.record(), "quantize": "none", "sha256": "ab"}),
        (
            "model.json",
            {"name": "m", "task": "t", "max_length": 8, "onnx": "model.onnx", "sha256": "ab", "inputs": [], "pad_id": 0},
        ),
        ("golden.json", {"examples": [{}, {}]}),
    ):
        (tmp_path / name).write_text(json.dumps(data))
    result = read_result(tmp_path, "text-classification", cache_hit=True)
    assert (result.parity, result.sha256, result.golden, result.cache_hit) == (parity, "ab", 2, True)


@pytest.fixture
def tune_env(tmp_path: Path) -> dict[str, str]:
    return {tune_run.FIT_HOOK_ENV: "tests.unit.cache.scratch:fake_fit"}


def test_a_finished_study_is_restored_without_opening_the_storage(
    tmp_path: Path, tune_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = scratch(tmp_path / "repo")
    set_yaml(root, "tune.trials", 2)
    cfg = config(root)
    first = tune_run.tune(cfg, tune_run.TuneOptions(), env=tune_env)
    assert (first.ran, first.cache_hit) == (2, False)
    written = tree(Layout(root).artifacts("tune"))

    def unreachable(*args: Any) -> Any:
        raise AssertionError("a cache hit must not open the storage")

    monkeypatch.setattr(tune_study, "open_storage", unreachable)
    out = tmp_path / "out.txt"
    second = tune_run.tune(cfg, tune_run.TuneOptions(), env={**tune_env, "GITHUB_OUTPUT": str(out)})
    assert (second.ran, second.cache_hit) == (0, True)
    assert second.summary is not None and first.summary is not None
    assert second.summary.to_json() == first.summary.to_json()
    assert tree(Layout(root).artifacts("tune")) == written
    assert outputs(out)["best-value"] == repr(first.summary.best.value if first.summary.best else None)


def test_an_unfinished_study_is_not_cached(tmp_path: Path, tune_env: dict[str, str]) -> None:
    root = scratch(tmp_path / "repo")
    set_yaml(root, "tune.trials", 3)
    cfg = config(root)
    two = tune_run.TuneOptions(trials=2)
    assert tune_run.tune(cfg, two, env=tune_env).ran == 2  # 2 of 3: other workers may still add trials
    again = tune_run.tune(cfg, two, env=tune_env)
    assert (again.ran, again.cache_hit) == (1, False)  # the study went on to its 3 trials: finished now
    assert tune_run.tune(cfg, two, env=tune_env).cache_hit


def test_a_failed_latency_gate_is_measured_again_not_restored(tmp_path: Path) -> None:
    root = scratch(tmp_path / "repo")
    set_yaml(root, "evaluate.metrics", ["accuracy", "latency_p95_ms"])
    y = np.array([0, 1] * 5, dtype=np.int64)
    preds = Predictions(tuple(text_hash(f"t{i}") for i in range(10)), y, np.eye(2)[y])

    def outcome(gates: list[dict[str, Any]]) -> Any:
        set_yaml(root, "evaluate.gates", gates)
        return assemble(
            config(root),
            role="test",
            fingerprint="sha256:d",
            texts_lengths=[10] * 10,
            columns={},
            preds=preds,
            measured=Measured([500.0, 600.0], 1.5, "sha256:m", "model"),
            baselines={},
            created="2026-01-01T00:00:00+00:00",
            git={},
        )

    assert reusable(outcome([{"metric": "accuracy", "min": 0.5}, {"metric": "latency_p95_ms", "max": 1000}]))
    # A failure of the inputs (these predictions are all right, so accuracy is 1.0): kept, and restored.
    assert reusable(outcome([{"metric": "accuracy", "max": 0.5}]))
    assert not reusable(outcome([{"metric": "latency_p95_ms", "max": 250}]))  # a busy machine's timing: measured anew
