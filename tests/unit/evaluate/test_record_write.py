"""eval.json is written fast (each prediction one compact line) and reads back as the record it was."""

from __future__ import annotations

import json
import math

from ml_ci.evaluate.record import clean, dumps


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
