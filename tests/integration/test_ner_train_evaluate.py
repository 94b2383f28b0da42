"""`ml-ci train` then `ml-ci evaluate` of a token-classification model, through the real CLI in subprocesses
as CI runs them (test_train's `ml_ci`), on a repository made from examples/ner/ml.yaml with a sample of its
data and a tiny random BERT as model.base (a few steps: the point is the mechanics, not the quality): the
validation metrics by entity type in metrics.json and the model card, eval.json's per-type scores and
predictions, the report's sections, a gate per entity type, and gates against a production baseline decided
by the paired bootstrap over sentences."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_ci.tasks.token_classification.config import tag_list
from tests.integration.test_ner_export import sentences
from tests.integration.test_train import ml_ci
from tests.modelrepo import tiny_ner_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples/ner"
TYPES = ("PER", "LOC", "ORG", "MISC")
EVALUATE: dict[str, Any] = {
    "split": "test",
    "metrics": ["f1_micro", "f1_macro", "token_accuracy", "f1.PER", "recall.LOC", "size_mb"],
    "allow_missing_baseline": True,
    "gates": [{"metric": "token_accuracy", "min": 0.3}, {"metric": "f1.PER", "min": 0.0}],
    "slices": [
        {"name": "short", "length": {"min": 0, "max": 60}, "min_rows": 5, "gates": [{"metric": "token_accuracy", "min": 0.3}]}
    ],
}


def write_config(root: Path, **sections: Any) -> Path:
    """examples/ner/ml.yaml with small-data checks, the tiny model, a short training and `sections` over it."""
    config = yaml.safe_load((EXAMPLE / "ml.yaml").read_text(encoding="utf-8"))
    # The example's own dependencies (ci.requirements) are for its workflows' locks, a file this copy does not carry.
    config["ci"].pop("requirements", None)
    config["data"]["checks"] = {
        "min_rows": 20,
        "min_entities_per_type": 1,
        "max_type_imbalance": 100.0,
        "max_truncated_fraction": 1.0,
        "max_duplicate_fraction": 0.5,
        "leakage": False,
    }
    config["model"] = {"base": "models/tiny", "max_length": 48}
    config["train"] = {"epochs": 2, "batch_size": 16, "learning_rate": 1.0e-3, "seed": 7, "precision": "fp32"}
    config["evaluate"] = EVALUATE
    config.update(sections)
    path = root / "ml.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ner")
    for split, count in (("train", 160), ("validation", 40), ("test", 60)):
        (root / "data").mkdir(exist_ok=True)
        (root / f"data/{split}.conll").write_text(sentences(EXAMPLE / f"data/{split}.conll", count), encoding="utf-8")
    tiny_ner_model(root / "models/tiny", tag_list(TYPES, "IOB2"))
    write_config(root)
    done = ml_ci(root, "train")
    assert done.returncode == 0, done.stderr
    return root


def artifacts(root: Path, stage: str) -> Path:
    return root / ".ml-ci/artifacts" / stage


def record(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((artifacts(root, "evaluate") / "eval.json").read_text())
    return data


def test_training_reports_the_tasks_metrics_and_f1_per_type(trained: Path) -> None:
    metrics = json.loads((artifacts(trained, "train") / "metrics.json").read_text())
    validation = metrics["validation"]
    assert {"f1_micro", "precision_micro", "recall_micro", "f1_macro", "token_accuracy", "loss"} <= set(validation)
    assert 0 <= validation["token_accuracy"] <= 1 and any(k.startswith("f1.") for k in validation)
    assert all("token_accuracy" in e for e in metrics["eval_curve"])
    lineage = json.loads((artifacts(trained, "train") / "lineage.json").read_text())
    assert (lineage["scheme"], lineage["entity_types"], lineage["tags"][:3]) == ("IOB2", list(TYPES), ["O", "B-PER", "I-PER"])
    card = (artifacts(trained, "train") / "README.md").read_text()
    assert "pipeline_tag: token-classification" in card and "| token_accuracy |" in card
    config = json.loads((artifacts(trained, "train") / "model/config.json").read_text())
    assert config["id2label"]["1"] == "B-PER" and len(config["id2label"]) == 9


def test_evaluate_scores_entities_per_type_and_reports_them(trained: Path) -> None:
    done = ml_ci(trained, "evaluate")
    assert done.returncode == 0, done.stderr
    r = record(trained)
    assert (r["task"], r["scheme"], r["entity_types"], r["examples"]) == ("token-classification", "IOB2", list(TYPES), 60)
    assert {"f1_micro", "token_accuracy", "f1.PER", "precision.ORG", "recall.MISC"} <= set(r["metrics"])
    assert set(r["per_type"]) == set(TYPES) and r["entity_confusion"]["types"] == [*TYPES, "(none)"]
    support = sum(t["support"] for t in r["per_type"].values())
    assert sum(map(sum, r["entity_confusion"]["matrix"][: len(TYPES)])) == support  # each true entity counted once
    words = [p["tags"] for p in r["predictions"]]
    assert all(len(p["predicted"]) == len(p["tags"]) for p in r["predictions"]) and len(words) == 60
    assert [g["metric"] for g in r["gates"]] == ["token_accuracy", "f1.PER"] and r["verdict"] == "pass"
    assert r["slices"][0]["name"] == "short" and r["slices"][0]["rows"] > 0
    out = artifacts(trained, "evaluate")
    report = (out / "report.md").read_text()
    assert "Per entity type" in report and "Entity type confusion" in report and "| f1.PER |" in report
    assert (out / "per_type.png").read_bytes()[:4] == b"\x89PNG"


def test_a_gate_per_entity_type_fails_naming_it(trained: Path) -> None:
    write_config(trained, evaluate={**EVALUATE, "gates": [{"metric": "f1.PER", "min": 0.99}]})
    try:
        done = ml_ci(trained, "evaluate")
        assert done.returncode == 4, done.stderr
        value = record(trained)["metrics"]["f1.PER"]
        assert f"f1.PER >= 0.99 failed: {value:.4f} < 0.99" in done.stderr
    finally:
        write_config(trained)


def test_gates_against_production_pair_sentences(trained: Path, tmp_path: Path) -> None:
    gates = [
        {"metric": "f1_micro", "against": "production", "max_drop": 0.0, "significance": 0.05},
        {"metric": "f1.PER", "against": "production", "max_drop": 0.0, "significance": 0.05},
    ]
    write_config(trained, evaluate={**EVALUATE, "gates": gates, "allow_missing_baseline": False})
    try:
        assert ml_ci(trained, "evaluate", "--no-cache").returncode == 4  # no baseline, and it is required
        same = tmp_path / "same.json"
        shutil.copyfile(artifacts(trained, "evaluate") / "eval.json", same)
        done = ml_ci(trained, "evaluate", "--no-cache", "--baseline", str(same))
        assert done.returncode == 0, done.stderr  # the same predictions: no drop
        # A production model that tagged every word right: this one is really worse, sentence by sentence.
        perfect = json.loads(same.read_text())
        for p in perfect["predictions"]:
            p["predicted"] = p["tags"]
        perfect["metrics"].update({"f1_micro": 1.0, "f1.PER": 1.0})
        better = tmp_path / "perfect.json"
        better.write_text(json.dumps(perfect))
        done = ml_ci(trained, "evaluate", "--no-cache", "--baseline", str(better))
        assert done.returncode == 4, done.stderr
        assert "f1.PER vs production (max drop 0) failed:" in done.stderr, done.stderr
        assert "(paired-bootstrap on 60 paired examples) < 0.05: a real regression" in done.stderr
        tested = {g["metric"]: g for g in record(trained)["gates"]}
        assert tested["f1_micro"]["test"] == "paired-bootstrap" and tested["f1_micro"]["paired_examples"] == 60
        assert "F1 Δ production" in (artifacts(trained, "evaluate") / "report.md").read_text()
        other = json.loads(same.read_text())
        other["entity_types"] = ["PER", "LOC"]
        refused = tmp_path / "other.json"
        refused.write_text(json.dumps(other))
        done = ml_ci(trained, "evaluate", "--no-cache", "--baseline", str(refused))
        assert done.returncode == 1 and "a model of other entity types is not a baseline" in done.stderr
    finally:
        write_config(trained)


def small_repo(root: Path) -> Path:
    for split, count in (("train", 64), ("validation", 24), ("test", 24)):
        (root / "data").mkdir(exist_ok=True)
        (root / f"data/{split}.conll").write_text(sentences(EXAMPLE / f"data/{split}.conll", count), encoding="utf-8")
    tiny_ner_model(root / "models/tiny", tag_list(TYPES, "IOB2"))
    return root


def test_tuning_works_unchanged_over_the_tasks_metrics(tmp_path: Path) -> None:
    """`ml-ci tune` chooses on f1_micro (the task's first tuning metric) and train restores its best trial."""
    root = small_repo(tmp_path)
    write_config(
        root,
        tune={
            "enabled": True,
            "trials": 2,
            "metric": "f1_micro",
            "search_space": {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}},
        },
    )
    tuned = ml_ci(root, "tune")
    assert tuned.returncode == 0, tuned.stderr
    report = json.loads((artifacts(root, "tune") / "report.json").read_text())
    assert len(report["trials"]) == 2 and report["metric"] == "f1_micro"
    values = [t["value"] for t in report["trials"] if t["state"] == "COMPLETE"]
    assert report["best"]["value"] == max(values)
    trained = ml_ci(root, "train", "--params", str(artifacts(root, "tune") / "best_params.json"))
    assert trained.returncode == 0, trained.stderr
    assert "train: cache hit: restored" in trained.stdout


def test_two_gloo_processes_train_a_tagger_with_the_same_global_batch(tmp_path: Path) -> None:
    """DDP under torchrun as text-classification has it: the tagger's labels are padded per batch on each
    process, the global batch is split, and the parent alone reports."""
    root = small_repo(tmp_path)
    train = {"epochs": 1, "batch_size": 16, "learning_rate": 1.0e-3, "seed": 7, "precision": "fp32"}
    write_config(root, train={**train, "distributed": {"nproc_per_node": 2, "nodes": 1}})
    done = ml_ci(root, "train")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(" rows: 2 process(es)") == 1, done.stderr
    metrics = json.loads((artifacts(root, "train") / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["steps"] == 64 // 16
    assert 0 <= metrics["validation"]["token_accuracy"] <= 1
