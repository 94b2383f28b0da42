"""text-classification's golden examples, as the export half writes them: near-ties are marked, the count is kept."""

from __future__ import annotations

from typing import Any

import numpy as np

from ml_ci.records.golden import GoldenRecord
from ml_ci.tasks.text_classification.export import golden_record

LABELS = ("neg", "pos")
PROBS = np.array([[0.9, 0.1], [0.5004, 0.4996], [0.2, 0.8], [0.3, 0.7]], dtype=np.float32)


def record(count: int = 10) -> dict[str, Any]:
    return golden_record(["a", "tie", "c", "d"], [0, 0, 1, 0], LABELS, PROBS, PROBS, count, tolerance=1e-3)


def test_near_ties_are_marked_and_count_is_respected() -> None:
    g = record()
    assert [(e["text"], e["near_tie"]) for e in g["examples"]] == [("a", False), ("tie", True), ("c", False), ("d", False)]
    prediction = {"label": "neg", "probabilities": {"neg": 0.9, "pos": 0.1}}
    assert g["examples"][0] == {"text": "a", "label": "neg", "expected": prediction, "pytorch": prediction, "near_tie": False}
    assert [e["text"] for e in record(count=2)["examples"]] == ["a", "tie"]


def test_the_record_writes_golden_json_as_export_always_did() -> None:
    """golden.json's bytes: labels, tolerance, examples, in that order (the task's labels are the record's payload)."""
    g = record()
    as_record = GoldenRecord(examples=tuple(g["examples"]), tolerance=g["tolerance"], payload={"labels": g["labels"]})
    assert list(as_record.data()) == ["labels", "tolerance", "examples"]
    assert as_record.data() == g
    assert GoldenRecord.from_data(g, "golden.json") == as_record
