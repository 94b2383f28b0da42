"""`ml-ci export` for real: torch -> ONNX on a tiny model, parity, int8, a failing parity check."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ml_ci.cli.main import main
from ml_ci.digest import file_sha256
from tests.modelrepo import make_model_repo, tiny_model

pytestmark = pytest.mark.integration
FILES = ["golden.json", "model.json", "model.onnx", "parity.json", "tokenizer.json"]


def repo(root: Path, **overrides: Any) -> Path:
    path = make_model_repo(root, overrides=overrides)
    tiny_model(root / ".ml-ci/artifacts/train/model")
    return path


def test_export_writes_a_model_that_matches_pytorch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import onnx

    path = repo(tmp_path)
    assert main(["export", "-c", str(path)]) == 0
    out = tmp_path / ".ml-ci/artifacts/export"
    assert sorted(p.name for p in out.iterdir()) == FILES
    parity = json.loads((out / "parity.json").read_text())
    assert parity["passed"] and parity["agreement"] == 1.0 and parity["examples"] == 40
    assert parity["max_abs_logit_diff"] < 1e-4
    manifest = json.loads((out / "model.json").read_text())
    assert manifest["sha256"] == file_sha256(out / "model.onnx") == parity["sha256"]
    assert manifest["labels"] == ["negative", "positive"] and manifest["max_length"] == 32
    golden = json.loads((out / "golden.json").read_text())
    assert len(golden["examples"]) == 32
    assert all(e["expected"]["label"] == e["pytorch"]["label"] or e["near_tie"] for e in golden["examples"])
    graph = onnx.load(str(out / "model.onnx")).graph
    dims = {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert dims == {name: ["batch", "sequence"] for name in ("input_ids", "attention_mask", "token_type_ids")}
    assert "agreement 100.00%" in capsys.readouterr().out


def test_int8_quantization_shrinks_the_model_and_records_parity(tmp_path: Path) -> None:
    # A random tiny model's classes are near ties, so int8 may flip some: the thresholds are opened here;
    # the point is that quantization runs and its parity is measured and recorded.
    path = repo(tmp_path / "q", package={"quantize": "int8", "min_agreement": 0.0, "max_accuracy_drop": 1.0})
    assert main(["export", "-c", str(path)]) == 0
    fp32 = repo(tmp_path / "f")
    assert main(["export", "-c", str(fp32)]) == 0
    q_out, f_out = tmp_path / "q/.ml-ci/artifacts/export", tmp_path / "f/.ml-ci/artifacts/export"
    assert (q_out / "model.onnx").stat().st_size < 0.6 * (f_out / "model.onnx").stat().st_size
    parity = json.loads((q_out / "parity.json").read_text())
    assert parity["quantize"] == "int8" and parity["max_abs_logit_diff"] > 0
    golden = json.loads((q_out / "golden.json").read_text())
    assert golden["tolerance"] == 0.02, "int8 answers depend on the batch: the checks allow for it"
    assert sorted(p.name for p in q_out.iterdir()) == FILES, "the float model is not left behind"
    # The settings measured on the example (benchmarks/README.md): attention output projections float,
    # the other MatMuls quantized with a scale per output channel.
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(q_out / "model.onnx")).graph
    kept = [n.name for n in graph.node if n.op_type == "MatMul" and "/attention/output/dense/" in n.name]
    assert len(kept) == 2, "one per layer of the tiny model"
    assert sum(n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for n in graph.node) >= 8
    scales = [numpy_helper.to_array(i) for i in graph.initializer if i.name.endswith("_scale") and "MatMul" in i.name]
    assert scales and all(s.ndim == 1 and s.size > 1 for s in scales), "per-channel weight scales"


def test_a_failed_parity_check_exits_4_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ml_ci.tasks.text_classification.serving import Classifier

    real = Classifier.logits

    def flipped(self: Classifier, texts: list[str]) -> Any:
        return np.ascontiguousarray(real(self, texts)[:, ::-1])  # a broken export: classes swapped

    monkeypatch.setattr(Classifier, "logits", flipped)
    path = repo(tmp_path)
    assert main(["export", "-c", str(path)]) == 4
    err = capsys.readouterr().err
    assert "error: the exported model does not match PyTorch:" in err
    assert "package.min_agreement is 99.50%" in err
    assert not (tmp_path / ".ml-ci/artifacts/export").exists()
    assert [p.name for p in (tmp_path / ".ml-ci/artifacts").iterdir()] == ["train"], "no temporary folder is left behind"


def test_without_a_trained_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_model_repo(tmp_path)
    assert main(["export", "-c", str(path)]) == 1
    assert "no trained model; run `ml-ci train` first" in capsys.readouterr().err


def test_two_exports_of_the_same_inputs_give_the_same_files_and_build_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CI job without export's cache exports again (issue 20 item 2): the same inputs must write the same
    bytes, so that the image is the same; evaluate's latency, measured anew each run, changes neither."""
    from ml_ci.atomic import write_json
    from ml_ci.build.context import write_context
    from ml_ci.build.stage import plan_build
    from ml_ci.config import load_config
    from ml_ci.pipeline.layout import Layout

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    path = repo(tmp_path, image={"repository": "acme/tiny"})
    config = load_config(path).config
    layout = Layout(config.root)
    runs = []
    for p50 in (3.1, 4.7):
        write_json(
            layout.eval_record,
            {"metrics": {"accuracy": 0.5, "latency_p50_ms": p50, "latency_p95_ms": 2 * p50}, "verdict": "pass"},
        )
        assert main(["export", "-c", str(path), "--no-cache"]) == 0
        plan = plan_build(config, os.environ)
        context = tmp_path / f"context-{p50}"
        write_context(plan, layout.export_dir, context)
        files = {
            p.relative_to(context).as_posix(): (p.read_bytes() if p.is_file() else None, p.stat().st_mtime)
            for p in sorted(context.rglob("*"))
        }
        exported = {name: (layout.export_dir / name).read_bytes() for name in ("model.json", "golden.json", "model.onnx")}
        runs.append((exported, files, plan.labels))
    assert runs[0][0] == runs[1][0], "model.json, golden.json and model.onnx are byte for byte the same"
    assert runs[0][1] == runs[1][1], "the build context is the same, file times included"
    assert runs[0][2] == runs[1][2], "so are the image's labels"
    manifest = json.loads((layout.export_dir / "model.json").read_text())
    assert manifest["exported_at"] == "2026-01-01T00:00:00+00:00", "SOURCE_DATE_EPOCH, not the clock"
    assert manifest["metrics"] == {"accuracy": 0.5, "verdict": "pass"}, "measured latency stays in eval.json"


def test_the_export_time_is_the_commit_time_unless_source_date_epoch(tmp_path: Path) -> None:
    import subprocess

    from ml_ci.export.stage import export_epoch

    assert export_epoch(tmp_path, {}) is None, "outside a repository, without SOURCE_DATE_EPOCH: no time at all"
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_COMMITTER_DATE": "1700000000 +0000",
    }
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=env)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-q", "--allow-empty", "-m", "x"], check=True, env=env)
    assert export_epoch(tmp_path, {}) == 1700000000
    assert export_epoch(tmp_path, {"SOURCE_DATE_EPOCH": "1767225600"}) == 1767225600
