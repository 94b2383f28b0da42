"""eval.json is written fast (each prediction one compact line) and reads back as the record it was."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ml_ci.errors import OperationalError
from ml_ci.records import evaluation
from ml_ci.records.evaluation import clean, dumps


def test_the_written_record_reads_back_equal_with_nan_as_null_and_one_line_per_prediction() -> None:
    rows = [
        {"index": i, "text_sha256": f"{i:016x}", "label": "a", "predicted": "b", "probabilities": [0.25, 0.75]} for i in range(3)
    ]
    rows[1]["probabilities"] = [math.nan, math.inf]
    record = {
        "kind": "ml-ci/eval",
        "format": 2,
        "metrics": {"ece": math.nan, "accuracy": 0.5},
        "labels": ["a", "b"],
        "predictions": rows,
    }
    text = dumps(record)
    assert json.loads(text) == clean(record)
    lines = text.splitlines()
    start = lines.index(' "predictions": [')
    assert [json.loads(line.rstrip(",")) for line in lines[start + 1 : start + 4]] == clean(rows)
    assert lines[start + 4 :] == [" ]", "}"]


def test_a_record_without_predictions_is_plain_indented_json() -> None:
    record = {"kind": "ml-ci/eval", "metrics": {"accuracy": 1.0}, "predictions": []}
    assert dumps(record) == json.dumps(record, indent=1) + "\n"
    assert dumps({"kind": "x"}) == json.dumps({"kind": "x"}, indent=1) + "\n"


FULL = {
    "kind": "ml-ci/eval",
    "format": 2,
    "name": "m",
    "task": "text-classification",
    "labels": ["a", "b"],
    "split": "test",
    "data_fingerprint": "sha256:d",
    "examples": 1,
    "created": "2026-01-01T00:00:00+00:00",
    "git": {"sha": "abc", "ref": "main", "repository": None},
    "model": {"path": "model", "digest": "sha256:m", "size_mb": 1.5, "lineage": None},
    "metrics": {"accuracy": 1.0, "roc_auc": None},
    "reported_metrics": ["accuracy"],
    "undefined": {"roc_auc": "why"},
    "per_class": {"a": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}},
    "confusion_matrix": [[1, 0], [0, 0]],
    "latency": {"samples": 0, "p50_ms": None, "p95_ms": None, "method": None},
    "slices": [
        {
            "name": "s",
            "selection": "all rows",
            "rows": 1,
            "min_rows": 1,
            "gated": True,
            "metrics": {"accuracy": 0.0},
            "gates": [evaluation.GateResult("s", "accuracy", "min", 0.5, 0.0, "fail", False, "failed").to_json()],
        }
    ],
    "gates": [evaluation.GateResult("overall", "accuracy", "min", 0.5, 1.0, "pass", True, "passed").to_json()],
    "verdict": "fail",
    "baselines": {"main": None},
    "history": [{"created": None, "git_sha": "x", "ref": None, "metrics": {}}],
    "predictions": [{"index": 0, "text_sha256": "0123456789abcdef", "label": "a", "predicted": "a", "probabilities": [1.0, 0.0]}],
}


def test_a_record_round_trips_byte_for_byte_and_the_task_keys_stay_where_they_were(tmp_path: Path) -> None:
    path = tmp_path / "eval.json"
    path.write_text(dumps(FULL))
    record = evaluation.read(path, head=("labels",))
    assert (record.format, record.task_head, list(record.task_scores)) == (
        evaluation.VERSION,
        {"labels": ["a", "b"]},
        ["per_class", "confusion_matrix"],
    )
    assert [g.name for g in record.all_gates] == ["accuracy >= 0.5", "[s] accuracy >= 0.5"]
    assert record.hashes == ["0123456789abcdef"]
    again = tmp_path / "again.json"
    evaluation.write(again, record)
    assert again.read_bytes() == path.read_bytes()
    assert oct(again.stat().st_mode & 0o777) == "0o644"  # shipped: readable by the image's user
    assert "predictions" not in record.summary() and list(record.summary())[-1] == "history"


def test_a_format_1_record_reads_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "eval.json"
    path.write_text(json.dumps({**FULL, "format": 1}))
    assert evaluation.read(path).format == 1
    path.write_text(json.dumps({**FULL, "format": evaluation.VERSION + 1}))
    with pytest.raises(OperationalError) as e:
        evaluation.read(path, "baseline for `against: main`")
    assert str(e.value) == (
        f"baseline for `against: main` {path} has format 3, newer than this ml-ci reads (2): pip install -U ml-ci"
    )


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "is not valid JSON: Expecting property name enclosed in double quotes at line 1"),
        ("[]", "is not a JSON object"),
        (json.dumps({"accuracy": 1}), "is not an ml-ci evaluation record (eval.json written by `ml-ci evaluate`)"),
        (json.dumps({**FULL, "metrics": [1]}), "is not an ml-ci evaluation record (eval.json written by `ml-ci evaluate`)"),
        (json.dumps({**FULL, "labels": None}), "is not an ml-ci evaluation record (eval.json written by `ml-ci evaluate`)"),
        (
            json.dumps({**FULL, "gates": [{"name": "x"}]}),
            "is not an ml-ci evaluation record (eval.json written by `ml-ci evaluate`)",
        ),
        (json.dumps({**FULL, "slices": ["s"]}), "is not an ml-ci evaluation record (eval.json written by `ml-ci evaluate`)"),
    ],
)
def test_a_bad_file_is_named_with_why(tmp_path: Path, content: str, why: str) -> None:
    path = tmp_path / "eval.json"
    path.write_text(content)
    with pytest.raises(OperationalError) as e:
        evaluation.read(path, head=("labels",))
    assert str(e.value) == f"evaluation record {path} {why}"
    with pytest.raises(OperationalError, match=r"evaluation record .*/absent.json does not exist"):
        evaluation.read(tmp_path / "absent.json")


def test_the_verdict_deploy_reads_from_a_record_of_any_shape() -> None:
    assert evaluation.verdict_of({"verdict": "pass"}) == "pass"
    assert evaluation.verdict_of({"verdict": "FAIL"}) == "fail"
    assert evaluation.verdict_of({"verdict": {"status": "Pass"}}) == "pass"
    assert evaluation.verdict_of({"passed": False}) == "fail"
    assert evaluation.verdict_of({"passed": True}) == "pass"
    assert evaluation.verdict_of({}) == "unknown"
    assert evaluation.verdict_of([]) == "unknown"


def test_without_predictions_keeps_the_rest_and_other_shapes() -> None:
    assert evaluation.without_predictions({"verdict": "pass", "predictions": [1]}) == {"verdict": "pass"}
    assert evaluation.without_predictions([1]) == [1]


@pytest.mark.parametrize(
    ("record", "summary"),
    [
        (None, {}),
        (
            {"metrics": {"accuracy": 0.91, "f1_macro": 0.9, "undefined": None, "flag": True}, "verdict": "pass"},
            {"accuracy": 0.91, "f1_macro": 0.9, "verdict": "pass"},
        ),
        # Measured figures differ between two evaluations of the same model: they stay out of the image.
        (
            {"metrics": {"accuracy": 0.91, "latency_p50_ms": 3.2, "latency_p95_ms": 4.0, "size_mb": 17.5}, "verdict": "pass"},
            {"accuracy": 0.91, "size_mb": 17.5, "verdict": "pass"},
        ),
        ({"metrics": "nonsense"}, {}),
    ],
)
def test_the_headline_export_and_build_record(record: object, summary: dict[str, object]) -> None:
    assert evaluation.headline(record) == summary
