"""The pure parts of the export stage: how many golden examples, model.json, atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_ci.atomic import staged_dir, write_json
from ml_ci.config import load_config
from ml_ci.export.stage import MIN_GOLDEN, golden_count, manifest
from ml_ci.jsonfile import read_optional
from tests.modelrepo import make_model_repo


def test_golden_count_covers_the_largest_smoke_test(tmp_path: Path) -> None:
    plain = load_config(make_model_repo(tmp_path / "a")).config
    assert golden_count(plain) == MIN_GOLDEN
    deploy = {
        "strategy": "apply",
        "environments": [{"name": "staging", "kind": "local", "port": 18000, "smoke_test": {"golden_examples": 50}}],
    }
    big = load_config(make_model_repo(tmp_path / "b", overrides={"deploy": deploy, "image": {"repository": "acme/m"}})).config
    assert golden_count(big) == 50


def test_manifest_names_what_the_server_reads(tmp_path: Path) -> None:
    config = load_config(make_model_repo(tmp_path)).config
    record = manifest(
        config,
        sha256="ab" * 32,
        source_sha256="cd" * 32,
        inputs=("input_ids", "attention_mask"),
        pad_id=0,
        lineage={"git_sha": "x"},
        metrics={"accuracy": 0.9},
        versions={"torch": "2"},
        epoch=1767225600,
    )
    m = record.data()
    assert list(m)[:4] == ["name", "task", "labels", "max_length"], "the task's labels where model.json always had them"
    assert {k: m[k] for k in ("name", "labels", "max_length", "onnx", "sha256", "inputs", "pad_id", "lineage", "metrics")} == {
        "name": "tiny-sentiment",
        "labels": ["negative", "positive"],
        "max_length": 32,
        "onnx": "model.onnx",
        "sha256": "ab" * 32,
        "inputs": ["input_ids", "attention_mask"],
        "pad_id": 0,
        "lineage": {"git_sha": "x"},
        "metrics": {"accuracy": 0.9},
    }
    assert m["exported_at"] == "2026-01-01T00:00:00+00:00", "the epoch given, never the clock"


def test_staged_dir_replaces_whole_or_leaves_the_old(tmp_path: Path) -> None:
    final = tmp_path / "export"
    with staged_dir(final) as out:
        write_json(out / "a.json", {"v": 1})
    assert read_optional(final / "a.json") == {"v": 1}
    with pytest.raises(RuntimeError), staged_dir(final) as out:
        write_json(out / "a.json", {"v": 2})
        raise RuntimeError("export failed")
    assert read_optional(final / "a.json") == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"], "no temporary folder is left behind"
