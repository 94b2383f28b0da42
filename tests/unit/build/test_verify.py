"""Comparing a server's answers with `ml-ci evaluate`'s per-example predictions."""

from __future__ import annotations

import copy
from typing import Any

from ml_ci.build.verify import eval_mismatches, text_hash

GOLDEN: dict[str, Any] = {
    "labels": ["neg", "pos"],
    "tolerance": 1e-3,
    "examples": [
        {"text": "good", "expected": {"label": "pos", "probabilities": {"neg": 0.1, "pos": 0.9}}},
        {"text": "bad", "expected": {"label": "neg", "probabilities": {"neg": 0.8, "pos": 0.2}}},
        {"text": "not evaluated", "expected": {"label": "neg", "probabilities": {"neg": 0.6, "pos": 0.4}}},
    ],
}
EVAL = {
    "labels": ["neg", "pos"],
    "predictions": [
        {"index": 0, "text_sha256": text_hash("good"), "label": "pos", "predicted": "pos", "probabilities": [0.1, 0.9]},
        {"index": 1, "text_sha256": text_hash("bad"), "label": "neg", "predicted": "neg", "probabilities": [0.8, 0.2]},
    ],
}


def answers() -> list[dict[str, Any]]:
    return [copy.deepcopy(e["expected"]) for e in GOLDEN["examples"]]


def test_matching_answers() -> None:
    assert eval_mismatches(GOLDEN, answers(), EVAL) == ([], 2)


def test_differences_from_evaluate() -> None:
    got = answers()
    got[0]["label"] = "neg"
    got[1]["probabilities"]["neg"] = 0.7
    problems, compared = eval_mismatches(GOLDEN, got, EVAL)
    assert compared == 2
    assert problems == ["'good': label 'neg', evaluated 'pos'", "'bad': probabilities differ from the evaluated ones by 1.00e-01"]


def test_no_or_foreign_eval_record_compares_nothing() -> None:
    assert eval_mismatches(GOLDEN, answers(), None) == ([], 0)
    assert eval_mismatches(GOLDEN, answers(), {**EVAL, "labels": ["a", "b"]}) == ([], 0)


def test_the_hash_is_evaluates() -> None:
    from ml_ci.evaluate.record import text_hash as evaluate_hash

    assert text_hash("héllo") == evaluate_hash("héllo")
