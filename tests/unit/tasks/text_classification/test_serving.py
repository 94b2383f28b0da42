"""text-classification's serving half, client side: reading golden examples and server answers, and the one
comparison of answers with golden examples in the wording of each caller (the build's image check,
deploy's smoke test), and with evaluate's predictions."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from ml_ci.errors import OperationalError
from ml_ci.records.golden import GoldenRecord
from ml_ci.records.texts import text_hash
from ml_ci.tasks.text_classification.export import golden_record
from ml_ci.tasks.text_classification.serving import (
    Golden,
    Prediction,
    answers,
    eval_mismatches,
    golden_examples,
    mismatches,
)

G = [
    Golden("good film", "positive", {"negative": 0.1, "positive": 0.9}),
    Golden("bad film", "negative", {"negative": 0.8, "positive": 0.2}),
]
LABELS = ("neg", "pos")
PROBS = np.array([[0.9, 0.1], [0.5004, 0.4996], [0.2, 0.8], [0.3, 0.7]], dtype=np.float32)


def record(count: int = 10) -> GoldenRecord:
    data = golden_record(["a", "tie", "c", "d"], [0, 0, 1, 0], LABELS, PROBS, PROBS, count, tolerance=1e-3)
    return GoldenRecord.from_data(data, "golden.json")


def as_answers(golden: GoldenRecord) -> list[Prediction]:
    return [Prediction(g.label, dict(g.probabilities)) for g in golden_examples(golden, "golden.json")]


def build(golden: GoldenRecord, got: list[Prediction]) -> list[str]:
    return mismatches(golden_examples(golden, "golden.json"), got, golden.allowed, caller="build")


# --- the smoke test's wording ---------------------------------------------------------------


def test_smoke_match_within_tolerance() -> None:
    got = [
        Prediction("positive", {"negative": 0.1004, "positive": 0.8996}),
        Prediction("negative", {"negative": 0.8, "positive": 0.2}),
    ]
    assert mismatches(G, got, 0.001, caller="smoke") == []


def test_smoke_label_and_probability_mismatches_are_named() -> None:
    got = [Prediction("negative", {"negative": 0.6, "positive": 0.4}), Prediction("negative", {"negative": 0.7, "positive": 0.3})]
    assert mismatches(G, got, 0.001, caller="smoke") == [
        "example 0 ('good film'): label 'negative', recorded 'positive'",
        "example 1 ('bad film'): p(negative)=0.7000, recorded 0.8000 (tolerance 0.001)",
    ]


def test_smoke_near_tie_compares_probabilities_only() -> None:
    tie = [Golden("so-so film", "positive", {"negative": 0.4995, "positive": 0.5005}, near_tie=True)]
    flipped = [Prediction("negative", {"negative": 0.5001, "positive": 0.4999})]
    assert mismatches(tie, flipped, 0.02, caller="smoke") == []
    far = [Prediction("negative", {"negative": 0.9, "positive": 0.1})]
    assert mismatches(tie, far, 0.02, caller="smoke") == [
        "example 0 ('so-so film'): p(negative)=0.9000, recorded 0.4995 (tolerance 0.02)"
    ]
    row = {"text": "t", "near_tie": True, "expected": {"label": "a", "probabilities": {"a": 0.5}}}
    assert golden_examples(GoldenRecord.from_data({"examples": [row]}, "golden.json"), "golden.json")[0].near_tie


def test_smoke_count_mismatch_and_missing_probability() -> None:
    assert mismatches(G, [], 0.001, caller="smoke") == ["sent 2 texts, got 0 predictions"]
    got = [Prediction("positive", {"positive": 0.9}), Prediction("negative", {"negative": 0.8, "positive": 0.2})]
    assert mismatches(G, got, 0.001, caller="smoke") == ["example 0: no probability for 'negative'"]


def test_smoke_shortens_long_texts_to_40_characters() -> None:
    long = [Golden("x" * 50, "a", {"a": 1.0})]
    assert mismatches(long, [Prediction("b", {"a": 1.0})], 0.001, caller="smoke") == [
        f"example 0 ('{'x' * 37}...'): label 'b', recorded 'a'"
    ]


# --- the build's wording --------------------------------------------------------------------


def test_build_a_near_tie_may_flip_its_label_but_not_its_probabilities() -> None:
    g = record()
    got = as_answers(g)
    got[1] = Prediction("pos", got[1].probabilities)
    assert build(g, got) == []
    got[1].probabilities["pos"] = 0.6
    assert build(g, got) == ["example 1 ('tie'): probabilities differ by 1.00e-01 (tolerance 0.001)"]


def test_build_the_same_answers_match() -> None:
    g = record()
    assert build(g, as_answers(g)) == []


def test_build_differences_are_named() -> None:
    g = record()
    got = as_answers(g)
    got[0] = Prediction("pos", got[0].probabilities)
    got[2].probabilities["pos"] += 0.01
    del got[3].probabilities["neg"]
    assert build(g, got) == [
        "example 0 ('a'): label 'pos', expected 'neg'",
        "example 2 ('c'): probabilities differ by 1.00e-02 (tolerance 0.001)",
        "example 3 ('d'): probabilities differ by nan (tolerance 0.001)",
    ]


def test_build_a_missing_label_is_a_difference_wherever_it_is() -> None:
    """The build's old comparison took max() over the differences, which skips a NaN after the first label:
    an answer without the last label's probability passed. One comparison now: a missing label fails both."""
    g = record()
    got = as_answers(g)
    del got[0].probabilities["pos"]
    assert build(g, got) == ["example 0 ('a'): probabilities differ by nan (tolerance 0.001)"]


def test_build_a_missing_answer_is_a_mismatch() -> None:
    g = record()
    assert build(g, as_answers(g)[:-1]) == ["3 answers for 4 golden examples"]


@pytest.mark.parametrize("caller", ["build", "smoke"])
def test_both_wordings_flag_the_same_examples(caller: Any) -> None:
    g = record()
    examples = golden_examples(g, "golden.json")
    got = as_answers(g)
    got[0] = Prediction("pos", got[0].probabilities)
    got[2].probabilities["pos"] += 0.01
    flagged = [m.split(" ", 2)[1].rstrip(":") for m in mismatches(examples, got, g.allowed, caller=caller)]
    assert flagged == ["0", "2"]


# --- golden.json and answers, read ----------------------------------------------------------


def test_golden_json_from_export() -> None:
    g = record(2)
    assert g.tolerance == 0.001
    assert golden_examples(g, "golden.json")[0] == Golden("a", "neg", {"neg": 0.9, "pos": 0.1})


def test_a_malformed_golden_example_is_named() -> None:
    bad = GoldenRecord.from_data({"examples": [{"text": "t"}]}, "golden.json")
    with pytest.raises(OperationalError, match=r"^golden.json: golden example 0 is malformed \(KeyError\('probabilities'\)\)$"):
        golden_examples(bad, "golden.json")


def test_parse_server_answer() -> None:
    body = {"predictions": [{"label": "positive", "probabilities": {"negative": 0.1, "positive": 0.9}}], "model_sha256": "x"}
    assert answers(body) == [Prediction("positive", {"negative": 0.1, "positive": 0.9})]
    with pytest.raises(ValueError, match="unrecognized"):
        answers({"oops": 1})


# --- evaluate's predictions -----------------------------------------------------------------

GOLDEN = GoldenRecord.from_data(
    {
        "labels": ["neg", "pos"],
        "tolerance": 1e-3,
        "examples": [
            {"text": "good", "expected": {"label": "pos", "probabilities": {"neg": 0.1, "pos": 0.9}}},
            {"text": "bad", "expected": {"label": "neg", "probabilities": {"neg": 0.8, "pos": 0.2}}},
            {"text": "not evaluated", "expected": {"label": "neg", "probabilities": {"neg": 0.6, "pos": 0.4}}},
        ],
    },
    "golden.json",
)
EVAL = {
    "labels": ["neg", "pos"],
    "predictions": [
        {"index": 0, "text_sha256": text_hash("good"), "label": "pos", "predicted": "pos", "probabilities": [0.1, 0.9]},
        {"index": 1, "text_sha256": text_hash("bad"), "label": "neg", "predicted": "neg", "probabilities": [0.8, 0.2]},
    ],
}


def eval_answers() -> list[Prediction]:
    return [Prediction(e["expected"]["label"], copy.deepcopy(e["expected"]["probabilities"])) for e in GOLDEN.examples]


def test_matching_answers() -> None:
    assert eval_mismatches(GOLDEN, eval_answers(), EVAL) == ([], 2)


def test_differences_from_evaluate() -> None:
    got = eval_answers()
    got[0] = Prediction("neg", got[0].probabilities)
    got[1].probabilities["neg"] = 0.7
    problems, compared = eval_mismatches(GOLDEN, got, EVAL)
    assert compared == 2
    assert problems == ["'good': label 'neg', evaluated 'pos'", "'bad': probabilities differ from the evaluated ones by 1.00e-01"]


def test_no_or_foreign_eval_record_compares_nothing() -> None:
    assert eval_mismatches(GOLDEN, eval_answers(), None) == ([], 0)
    assert eval_mismatches(GOLDEN, eval_answers(), {**EVAL, "labels": ["a", "b"]}) == ([], 0)


def test_the_hash_is_evaluates() -> None:
    from ml_ci.records.evaluation import text_hash as evaluate_hash

    assert text_hash("héllo") == evaluate_hash("héllo")
