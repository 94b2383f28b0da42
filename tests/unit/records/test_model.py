"""model.json as a record: the bytes `ml-ci export` always wrote, the task's keys kept opaque and in place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_ci.records import model

# model.json of the bundled example, as `ml-ci export` wrote it before records (keys in this order).
WRITTEN = {
    "name": "sentiment",
    "task": "text-classification",
    "labels": ["negative", "positive"],
    "max_length": 128,
    "onnx": "model.onnx",
    "sha256": "ab" * 32,
    "quantize": "none",
    "opset": 17,
    "inputs": ["input_ids", "attention_mask"],
    "pad_id": 0,
    "source_sha256": "cd" * 32,
    "lineage": {"git_sha": "x"},
    "metrics": {"accuracy": 0.9, "verdict": "pass"},
    "ml_ci_version": "0.1.0",
    "versions": {"torch": "2"},
    "exported_at": None,
}


def test_read_then_write_gives_the_same_bytes(tmp_path: Path) -> None:
    source = tmp_path / "model.json"
    source.write_text(json.dumps(WRITTEN, indent=2) + "\n", encoding="utf-8")
    record = model.read(source)
    assert (record.task, record.payload, record.inputs, record.version) == (
        "text-classification",
        {"labels": ["negative", "positive"]},
        ("input_ids", "attention_mask"),
        1,
    )
    model.write(tmp_path / "again.json", record)
    assert (tmp_path / "again.json").read_bytes() == source.read_bytes()


def test_a_later_version_says_so_and_version_1_does_not() -> None:
    record = model.ModelRecord.from_data(WRITTEN)
    assert "version" not in record.data()
    assert model.ModelRecord.from_data({**WRITTEN, "version": 2}).data()["version"] == 2


def test_a_serving_copy_without_the_exports_own_keys_is_read() -> None:
    """evaluate's latency measurement writes only what the server reads."""
    bare = {k: WRITTEN[k] for k in ("name", "labels", "max_length", "onnx", "sha256", "inputs", "pad_id")}
    record = model.ModelRecord.from_data(bare)
    assert record.task is None and record.payload == {"labels": ["negative", "positive"]}


def test_a_missing_key_the_server_needs_is_an_error() -> None:
    with pytest.raises(KeyError, match="sha256"):
        model.ModelRecord.from_data({k: v for k, v in WRITTEN.items() if k != "sha256"})


def test_deploy_takes_the_digest_of_any_model_json_that_names_one() -> None:
    assert model.sha256_of(WRITTEN) == "ab" * 32
    assert model.sha256_of({"sha256": "cd" * 32}) == "cd" * 32, "a hand-made one"
    assert model.sha256_of({"sha256": 1}) is None
    assert model.sha256_of([]) is None
