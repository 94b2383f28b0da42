"""Golden examples: near-ties are marked; a server's answers match or every difference is named."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ml_ci.export.golden import golden_record, mismatches

LABELS = ("neg", "pos")
PROBS = np.array([[0.9, 0.1], [0.5004, 0.4996], [0.2, 0.8], [0.3, 0.7]], dtype=np.float32)


def record(count: int = 10) -> dict[str, Any]:
    return golden_record(["a", "tie", "c", "d"], [0, 0, 1, 0], LABELS, PROBS, PROBS, count, tolerance=1e-3)


def answers(golden: dict[str, Any]) -> list[dict[str, Any]]:
    return [copy.deepcopy(e["expected"]) for e in golden["examples"]]


def test_near_ties_are_marked_and_count_is_respected() -> None:
    g = record()
    assert [(e["text"], e["near_tie"]) for e in g["examples"]] == [("a", False), ("tie", True), ("c", False), ("d", False)]
    prediction = {"label": "neg", "probabilities": {"neg": 0.9, "pos": 0.1}}
    assert g["examples"][0] == {"text": "a", "label": "neg", "expected": prediction, "pytorch": prediction, "near_tie": False}
    assert [e["text"] for e in record(count=2)["examples"]] == ["a", "tie"]


def test_a_near_tie_may_flip_its_label_but_not_its_probabilities() -> None:
    g = record()
    got = answers(g)
    got[1]["label"] = "pos"
    assert mismatches(g, got) == []
    got[1]["probabilities"]["pos"] = 0.6
    assert mismatches(g, got) == ["example 1 ('tie'): probabilities differ by 1.00e-01 (tolerance 0.001)"]


def test_the_same_answers_match() -> None:
    g = record()
    assert mismatches(g, answers(g)) == []


def test_differences_are_named() -> None:
    g = record()
    got = answers(g)
    got[0]["label"] = "pos"
    got[2]["probabilities"]["pos"] += 0.01
    del got[3]["probabilities"]["neg"]
    assert mismatches(g, got) == [
        "example 0 ('a'): label 'pos', expected 'neg'",
        "example 2 ('c'): probabilities differ by 1.00e-02 (tolerance 0.001)",
        "example 3 ('d'): probabilities differ by nan (tolerance 0.001)",
    ]


def test_a_missing_answer_is_a_mismatch() -> None:
    g = record()
    assert mismatches(g, answers(g)[:-1]) == ["3 answers for 4 golden examples"]
