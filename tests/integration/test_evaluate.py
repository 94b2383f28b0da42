"""`ml-ci evaluate` end to end on scratch model repositories with a tiny random BERT (fast, and bad:
about chance accuracy, which is what the gate tests need), through the real CLI entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ml_ci.cli.main import main
from ml_ci.pipeline.layout import Layout
from tests.modelrepo import make_model_repo, tiny_model

pytestmark = pytest.mark.integration

EVALUATE: dict[str, Any] = {
    "metrics": ["accuracy", "f1_macro", "ece", "roc_auc", "latency_p95_ms", "size_mb"],
    "latency_samples": 5,
    "gates": [{"metric": "accuracy", "min": 0.0}, {"metric": "size_mb", "max": 50}],
}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def repo(root: Path, model: Path, evaluate: dict[str, Any] | None = None, **overrides: Any) -> Path:
    path = make_model_repo(root, n_train=20, n_val=20, n_test=60, overrides={"evaluate": evaluate or EVALUATE, **overrides})
    shutil.copytree(model, Layout(root).model_dir)
    return path


def evaluate(config: Path, *args: str) -> int:
    return main(["evaluate", "-c", str(config), *args])


def record(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Layout(root).eval_record.read_text())
    return data


def test_writes_the_record_report_and_plots(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = repo(tmp_path, model)
    outputs, summary = tmp_path / "out.txt", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    curves = {"loss_curve": [[1, 0.69], [2, 0.6]], "eval_curve": [{"step": 2, "accuracy": 0.6, "f1_macro": 0.55}]}
    (Layout(tmp_path).artifacts("train") / "metrics.json").write_text(json.dumps(curves))  # as `ml-ci train` writes it
    assert evaluate(config) == 0
    out_dir = Layout(tmp_path).eval_record.parent
    assert sorted(p.name for p in out_dir.iterdir()) == ["confusion.png", "eval.json", "history.png", "report.md", "training.png"]
    assert "![training.png](training.png)" in (out_dir / "report.md").read_text()
    r = record(tmp_path)
    assert (r["split"], r["examples"], r["labels"]) == ("test", 60, ["negative", "positive"])
    assert set(r["metrics"]) >= set(EVALUATE["metrics"])
    assert 0 < r["metrics"]["size_mb"] < 50
    assert r["latency"]["samples"] == 5
    assert len(r["predictions"]) == 60
    assert sum(sum(row) for row in r["confusion_matrix"]) == 60
    assert [line for line in outputs.read_text().splitlines() if not line.startswith("cache-key=")] == [
        "verdict=pass",
        "cache-hit=false",
    ]
    assert "#### Gates" in summary.read_text()
    assert "verdict: pass" in capsys.readouterr().out


def test_a_failed_gate_exits_4_naming_gate_value_and_threshold(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = repo(tmp_path, model, {**EVALUATE, "gates": [{"metric": "accuracy", "min": 0.99}]})
    assert evaluate(config) == 4
    accuracy = record(tmp_path)["metrics"]["accuracy"]
    err = capsys.readouterr().err
    assert f"error: 1 quality gate(s) failed:\n  accuracy >= 0.99 failed: {accuracy:.4f} < 0.99\n" == err
    assert record(tmp_path)["verdict"] == "fail"  # the record is written for the report even so


def test_significance_against_a_baseline_tells_regression_from_noise(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = {"metric": "accuracy", "against": "main", "max_drop": 0.01, "significance": 0.05}
    config = repo(tmp_path, model, {**EVALUATE, "gates": [gate], "allow_missing_baseline": False})
    assert evaluate(config) == 4  # no baseline, and it is required
    assert "failed: no baseline for `against: main`, and evaluate.allow_missing_baseline is false" in capsys.readouterr().err

    assert evaluate(config, "--baseline", str(tmp_path / "nothing.json")) == 1
    assert "baseline for `against: main` " in capsys.readouterr().err

    # A baseline that was right on every example: this model is really worse.
    base = record(tmp_path)
    perfect = json.loads(json.dumps(base))
    for p in perfect["predictions"]:
        right = perfect["labels"].index(p["label"])
        p["predicted"], p["probabilities"] = p["label"], [0.9 if i == right else 0.1 for i in range(2)]
    perfect["metrics"]["accuracy"] = 1.0
    main_dir = tmp_path / "main-eval"
    main_dir.mkdir()
    (main_dir / "eval.json").write_text(json.dumps(perfect))
    assert evaluate(config, "--main-baseline", str(main_dir)) == 4
    err = capsys.readouterr().err
    assert "accuracy vs main (max drop 0.01) failed:" in err
    assert "(mcnemar on 60 paired examples) < 0.05: a real regression" in err

    # A baseline that differs from this model on two examples only: a drop, but within noise.
    near = json.loads(json.dumps(base))
    flipped = 0
    for p in near["predictions"]:
        if p["predicted"] != p["label"] and flipped < 2:
            right = near["labels"].index(p["label"])
            p["predicted"], p["probabilities"] = p["label"], [0.9 if i == right else 0.1 for i in range(2)]
            flipped += 1
    near["metrics"]["accuracy"] = base["metrics"]["accuracy"] + flipped / 60
    (main_dir / "eval.json").write_text(json.dumps(near))
    assert flipped == 2
    assert evaluate(config, "--main-baseline", str(main_dir / "eval.json")) == 0
    [g] = record(tmp_path)["gates"]
    assert (g["status"], g["test"], g["paired_examples"]) == ("noise", "mcnemar", 60)
    assert g["p_value"] == pytest.approx(0.25)  # 2 discordant pairs, both against: P(X >= 2 | n=2) = 1/4
    assert record(tmp_path)["history"][-1]["metrics"]["accuracy"] == pytest.approx(near["metrics"]["accuracy"])


def test_production_baseline_from_a_gitops_checkout(tmp_path: Path, model: Path) -> None:
    gate = {"metric": "f1_macro", "against": "production", "max_drop": 0.0}
    deploy = {
        "strategy": "gitops",
        "gitops": {"repo": "acme/deploy", "path": "apps/tiny"},
        "environments": [{"name": "production", "kind": "local", "port": 18099}],
    }
    config = repo(tmp_path / "m", model, {**EVALUATE, "gates": [gate]}, deploy=deploy, image={"repository": "acme/tiny"})
    gitops = tmp_path / "gitops"
    gitops.mkdir()
    assert evaluate(config, "--gitops-dir", str(gitops)) == 0  # nothing deployed yet: no baseline, allowed
    assert record(tmp_path / "m")["gates"][0]["status"] == "no-baseline"
    live = record(tmp_path / "m")
    live["metrics"]["f1_macro"] = 0.0
    overlay = gitops / "apps/tiny/overlays/production"
    overlay.mkdir(parents=True)
    (overlay / "eval.json").write_text(json.dumps(live))
    assert evaluate(config, "--gitops-dir", str(gitops)) == 0
    r = record(tmp_path / "m")
    assert r["baselines"]["production"]["source"] == str(overlay / "eval.json")
    assert r["gates"][0]["baseline"] == 0.0 and r["gates"][0]["status"] == "pass"


def test_bad_inputs_fail_clearly_and_leave_nothing_half_written(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = repo(tmp_path / "a", model)
    assert evaluate(config, "--model", str(tmp_path / "missing")) == 1
    assert capsys.readouterr().err == (
        f"error: model folder {tmp_path / 'missing'} does not exist: run `ml-ci train` first, or pass --model DIR\n"
    )
    other = tiny_model(tmp_path / "three", labels=("neg", "neutral", "pos"))
    assert evaluate(config, "--model", str(other)) == 1
    assert capsys.readouterr().err == (
        f"error: the model in {other} predicts labels ['neg', 'neutral', 'pos'], but "
        "ml.yaml data.labels is ['negative', 'positive']: retrain the model for this "
        "label set (`ml-ci train`)\n"
    )
    foreign = tmp_path / "foreign.json"
    foreign.write_text(
        json.dumps(
            {
                "kind": "ml-ci/eval",
                "format": 1,
                "name": "spam",
                "task": "text-classification",
                "labels": ["ham", "spam"],
                "metrics": {},
            }
        )
    )
    gated = repo(tmp_path / "b", model, {**EVALUATE, "gates": [{"metric": "accuracy", "against": "main", "max_drop": 0}]})
    assert evaluate(gated, "--baseline", str(foreign)) == 1
    assert "is the evaluation of 'spam' (text-classification), not of 'tiny-sentiment'" in capsys.readouterr().err
    for root in (tmp_path / "a", tmp_path / "b"):
        assert not Layout(root).eval_record.parent.exists()
    assert "Traceback" not in capsys.readouterr().err


def test_a_model_that_outputs_nan_is_refused(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    broken = tmp_path / "broken"
    shutil.copytree(model, broken)
    m = AutoModelForSequenceClassification.from_pretrained(broken)
    with torch.no_grad():
        m.classifier.bias.fill_(float("nan"))
    m.save_pretrained(broken)
    config = repo(tmp_path / "r", model)
    assert evaluate(config, "--model", str(broken)) == 1
    assert capsys.readouterr().err == (
        "error: the model produced NaN or infinite probabilities for 60 of 60 examples (the "
        "first at index 0): its weights are broken, e.g. trained with a diverging loss; "
        "retrain it (`ml-ci train`)\n"
    )
    assert not Layout(tmp_path / "r").eval_record.parent.exists()


def test_slices_by_a_metadata_column_come_through_the_data_loader(tmp_path: Path, model: Path) -> None:
    slices = [{"name": "source", "column": "source", "min_rows": 25, "gates": [{"metric": "accuracy", "min": 0.0}]}]
    config = repo(tmp_path, model, {**EVALUATE, "slices": slices}, data={"slice_columns": ["source"]})
    for split in ("train", "validation", "test"):  # the loader wants slice columns in every split
        path = tmp_path / f"data/{split}.csv"
        lines = path.read_text(encoding="utf-8").splitlines()
        sources = ["web" if i % 3 else "app" for i in range(len(lines) - 1)]  # test: 40 web, 20 app
        rows = [f"{line},{source}" for line, source in zip(lines[1:], sources, strict=True)]
        path.write_text("\n".join([lines[0] + ",source", *rows]) + "\n", encoding="utf-8")
    assert evaluate(config) == 0
    got = {s["name"]: (s["rows"], s["gated"], len(s["gates"])) for s in record(tmp_path)["slices"]}
    assert got == {"source:app": (20, False, 0), "source:web": (40, True, 1)}
    assert "| source:app | source = 'app' | 20 |" in (Layout(tmp_path).eval_record.parent / "report.md").read_text()


def test_a_model_of_other_training_data_exits_1_unless_allowed_and_then_says_stale(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13: the training data changed after training (labels flipped); the lineage names the old data."""
    from ml_ci.config import load_config
    from ml_ci.data.fingerprint import fingerprints

    config = repo(tmp_path, model)
    loaded = load_config(config).config
    (Layout(tmp_path).artifacts("train") / "lineage.json").write_text(
        json.dumps(  # as `ml-ci train` writes it
            {"data": {role: {"source": f"data/{role}.csv", "fingerprint": fp} for role, fp in fingerprints(loaded).items()}}
        )
    )
    train = tmp_path / "data/train.csv"
    train.write_text(
        train.read_text()
        .replace(",positive\n", ",NEGATIVE\n")
        .replace(",negative\n", ",positive\n")
        .replace(",NEGATIVE\n", ",negative\n")
    )
    assert evaluate(config) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the model .ml-ci/artifacts/train/model was trained on other data than ml.yaml names now")
    assert "  train (data/train.csv): trained on sha256:" in err
    assert not Layout(tmp_path).eval_record.parent.exists()
    assert evaluate(config, "--allow-stale-model") == 0
    assert "warning: evaluating a stale model (--allow-stale-model)" in capsys.readouterr().err
    assert record(tmp_path)["model"]["lineage"]["status"] == "stale"
    assert [c["role"] for c in record(tmp_path)["model"]["lineage"]["changed"]] == ["train"]


def test_latency_is_the_exported_models_through_the_serving_runtime(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20 item 9: not PyTorch per example, but what the serving image runs, and the record says how."""
    from ml_ci.evaluate import latency
    from ml_ci.records.evaluation import EvalRecord
    from ml_ci.report.markdown import latency_note
    from ml_ci.tasks.text_classification import evaluation as tc
    from ml_ci.tasks.text_classification.serving import Classifier

    served: list[list[str]] = []
    probabilities = Classifier.probabilities

    def spy(self: Classifier, texts: list[str]) -> Any:
        served.append(texts)
        return probabilities(self, texts)

    monkeypatch.setattr(Classifier, "probabilities", spy)
    config = repo(tmp_path, model, package={"quantize": "int8"})
    assert evaluate(config) == 0
    r = record(tmp_path)
    assert r["format"] == 2
    assert len(served) == latency.WARMUP + 5 * latency.REPEATS and all(len(t) == 1 for t in served)
    method = r["latency"]["method"]
    assert (method["runtime"], method["quantize"], method["repeats"]) == (tc.LATENCY_RUNTIME, "int8", latency.REPEATS)
    assert method["seconds"]["export"] > 0 and method["seconds"]["timing"] > 0
    assert r["latency"]["p95_ms"] == r["metrics"]["latency_p95_ms"] > 0
    assert latency_note(EvalRecord.from_json(r)) in (Layout(tmp_path).eval_record.parent / "report.md").read_text()
    assert not list(tmp_path.glob("**/*.onnx"))  # the serving copy is temporary
