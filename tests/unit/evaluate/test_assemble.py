from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ml_ci.config import Config
from ml_ci.errors import OperationalError
from ml_ci.evaluate.assemble import Measured, Outcome, Predictions, assemble
from ml_ci.evaluate.baseline import Baseline
from ml_ci.records import evaluation as eval_record
from ml_ci.records.evaluation import KIND, text_hash
from tests.unit.evaluate.conftest import MakeConfig

MEASURED = Measured([5.0, 7.0, 9.0, 11.0], 4.5, "sha256:abc", "model")


def preds(wrong_first: int, n: int = 100) -> Predictions:
    """n examples, alternating labels; the first `wrong_first` predicted wrong, the rest right."""
    y = np.array([i % 2 for i in range(n)], dtype=np.int64)
    pred = np.concatenate([1 - y[:wrong_first], y[wrong_first:]])
    probs = np.full((n, 2), 0.1)
    probs[np.arange(n), pred] = 0.9
    return Predictions(tuple(text_hash(f"text {i}") for i in range(n)), y, probs)


def run(config: Config, p: Predictions, baselines: dict[str, Baseline | None] | None = None) -> Outcome:
    return assemble(
        config,
        role="test",
        fingerprint="sha256:data",
        texts_lengths=[10 + i for i in range(len(p.hashes))],
        columns={},
        preds=p,
        measured=MEASURED,
        baselines=baselines or {},
        created="2026-01-01T00:00:00+00:00",
        git={"sha": "abc123", "ref": "main", "repository": None},
    )


def test_record_carries_metrics_gates_slices_and_predictions(make_config: MakeConfig) -> None:
    config = make_config(
        evaluate={
            "gates": [{"metric": "accuracy", "min": 0.8}, {"metric": "latency_p95_ms", "max": 100}],
            "slices": [
                {"name": "short", "length": {"max": 15}, "min_rows": 3, "gates": [{"metric": "accuracy", "min": 0.5}]},
                {"name": "tiny", "length": {"max": 12}, "min_rows": 3, "gates": [{"metric": "accuracy", "min": 0.5}]},
            ],
        }
    )
    out = run(config, preds(wrong_first=4))
    r = out.record.to_json()
    assert (r["kind"], r["name"], r["labels"], r["split"], r["examples"]) == (
        KIND,
        "tiny-sentiment",
        ["negative", "positive"],
        "test",
        100,
    )
    assert r["metrics"]["accuracy"] == pytest.approx(0.96)
    assert r["metrics"]["latency_p50_ms"] == pytest.approx(8.0)
    assert r["metrics"]["size_mb"] == 4.5
    assert [g["name"] for g in r["gates"]] == ["accuracy >= 0.8", "latency_p95_ms <= 100"]
    short, tiny = r["slices"]
    assert (short["rows"], short["gated"], short["metrics"]["accuracy"]) == (5, True, pytest.approx(0.2))
    assert (tiny["rows"], tiny["gated"], tiny["gates"]) == (2, False, [])  # reported, not gated
    assert [f.name for f in out.failures] == ["[short] accuracy >= 0.5"]
    assert out.verdict == r["verdict"] == "fail"
    assert r["predictions"][0] == {
        "index": 0,
        "text_sha256": text_hash("text 0"),
        "label": "negative",
        "predicted": "positive",
        "probabilities": [0.1, 0.9],
    }


def test_relative_gate_pairs_with_the_baseline_predictions(make_config: MakeConfig) -> None:
    config = make_config(evaluate={"gates": [{"metric": "accuracy", "against": "main", "max_drop": 0.01, "significance": 0.05}]})
    base = Baseline("main", "main/eval.json", run(config, preds(wrong_first=2)).record)
    regression = run(config, preds(wrong_first=20), {"main": base})
    [gate] = regression.results
    assert (gate.status, gate.test, gate.paired_examples) == ("fail", "mcnemar", 100)
    assert gate.p_value is not None and gate.p_value < 0.001
    noise = run(config, preds(wrong_first=4), {"main": base})
    assert noise.results[0].status == "noise" and noise.results[0].passed
    assert noise.record.baselines["main"] is not None and noise.record.baselines["main"]["source"] == "main/eval.json"
    assert noise.record.history[-1]["git_sha"] == "abc123"


def test_the_record_round_trips_through_json_without_nan(make_config: MakeConfig, tmp_path: Path) -> None:
    config = make_config(evaluate={"metrics": ["accuracy", "roc_auc", "ece"], "gates": [{"metric": "roc_auc", "min": 0.5}]})
    p = preds(0, n=4)
    one_class = Predictions(p.hashes, np.zeros(4, dtype=np.int64), p.outputs)
    out = run(config, one_class)
    assert out.failures[0].message == (
        "roc_auc >= 0.5 failed: roc_auc has no value: ROC AUC needs both classes among the true labels"
    )
    out.record.metrics["ece"] = float("nan")
    out_dir = tmp_path / "out"
    eval_record.write(out_dir / "eval.json", out.record)
    text = (out_dir / "eval.json").read_text()
    assert "NaN" not in text
    back = eval_record.read(out_dir / "eval.json")
    assert back.metrics["roc_auc"] is None and back.metrics["ece"] is None
    assert [p.name for p in out_dir.iterdir()] == ["eval.json"]  # no temp file left behind


def test_reading_a_bad_record_says_which_file_and_why(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(OperationalError, match=r"bad.json is not valid JSON: Expecting property name"):
        eval_record.read(tmp_path / "bad.json")
    (tmp_path / "new.json").write_text(json.dumps({"kind": KIND, "format": 9, "metrics": {}, "labels": []}))
    with pytest.raises(OperationalError, match="has format 9, newer than this ml-ci reads"):
        eval_record.read(tmp_path / "new.json")
