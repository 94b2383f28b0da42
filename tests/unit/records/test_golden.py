"""golden.json as a record: the envelope (tolerance, examples) typed, the task's keys and rows opaque."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_ci.errors import OperationalError
from ml_ci.records import golden
from ml_ci.records.golden import DEFAULT_TOLERANCE, GoldenRecord, tolerance_for

ROW = {"text": "t", "label": "a", "expected": {"label": "a", "probabilities": {"a": 1.0}}, "near_tie": False}


def test_read_then_write_gives_the_same_bytes(tmp_path: Path) -> None:
    source = tmp_path / "golden.json"
    source.write_text(json.dumps({"labels": ["a"], "tolerance": 0.02, "examples": [ROW]}, indent=2) + "\n", encoding="utf-8")
    record = golden.read(source)
    assert (record.tolerance, record.payload, record.examples, record.version) == (0.02, {"labels": ["a"]}, (ROW,), 1)
    golden.write(tmp_path / "again.json", record)
    assert (tmp_path / "again.json").read_bytes() == source.read_bytes()


def test_without_a_recorded_tolerance_the_default_applies() -> None:
    record = GoldenRecord.from_data({"examples": [ROW]}, "golden.json")
    assert record.tolerance is None and record.allowed == DEFAULT_TOLERANCE
    assert GoldenRecord.from_data([ROW], "golden.json").examples == (ROW,), "a bare list of examples"
    assert record.first(0).examples == ()


def test_int8_gets_the_wider_tolerance() -> None:
    assert (tolerance_for("none"), tolerance_for("int8")) == (1e-3, 2e-2)


@pytest.mark.parametrize("data", [{}, {"examples": []}, {"examples": "x"}, None])
def test_no_examples_is_named(data: object) -> None:
    with pytest.raises(
        OperationalError, match=r'^deploy/golden.json: no golden examples in it \(expected "examples": \[\{text, expected\}\]\)$'
    ):
        GoldenRecord.from_data(data, "deploy/golden.json")


def test_an_absent_or_broken_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(OperationalError, match=r"golden.json: golden examples are missing; run `ml-ci export`$"):
        golden.read(tmp_path / "golden.json")
    (tmp_path / "golden.json").write_text("{", encoding="utf-8")
    with pytest.raises(OperationalError, match=r"golden.json: cannot read golden examples: "):
        golden.read(tmp_path / "golden.json")
