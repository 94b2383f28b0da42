from __future__ import annotations

import pytest

from ml_ci.deploy.records import Golden, golden_examples
from ml_ci.deploy.smoke import Prediction, compare, parse_predictions
from tests.unit.deploy.helpers import golden_record

G = [
    Golden("good film", "positive", {"negative": 0.1, "positive": 0.9}),
    Golden("bad film", "negative", {"negative": 0.8, "positive": 0.2}),
]


def test_match_within_tolerance() -> None:
    got = [
        Prediction("positive", {"negative": 0.1004, "positive": 0.8996}),
        Prediction("negative", {"negative": 0.8, "positive": 0.2}),
    ]
    report = compare(G, got, 0.001)
    assert report.passed
    assert report.summary() == "smoke test passed: /readyz ready, 2 golden examples match"


def test_label_and_probability_mismatches_are_named() -> None:
    got = [Prediction("negative", {"negative": 0.6, "positive": 0.4}), Prediction("negative", {"negative": 0.7, "positive": 0.3})]
    report = compare(G, got, 0.001)
    assert not report.passed
    assert report.problems == (
        "example 0 ('good film'): label 'negative', recorded 'positive'",
        "example 1 ('bad film'): p(negative)=0.7000, recorded 0.8000 (tolerance 0.001)",
    )


def test_near_tie_compares_probabilities_only() -> None:
    tie = [Golden("so-so film", "positive", {"negative": 0.4995, "positive": 0.5005}, near_tie=True)]
    flipped = [Prediction("negative", {"negative": 0.5001, "positive": 0.4999})]
    assert compare(tie, flipped, 0.02).passed
    far = [Prediction("negative", {"negative": 0.9, "positive": 0.1})]
    assert compare(tie, far, 0.02).problems == ("example 0 ('so-so film'): p(negative)=0.9000, recorded 0.4995 (tolerance 0.02)",)
    row = {"text": "t", "near_tie": True, "expected": {"label": "a", "probabilities": {"a": 0.5}}}
    assert golden_examples({"examples": [row]}, "golden.json").examples[0].near_tie


def test_count_mismatch() -> None:
    assert compare(G, [], 0.001).problems[0] == "sent 2 texts, got 0 predictions"


def test_parse_server_answer() -> None:
    body = {"predictions": [{"label": "positive", "probabilities": {"negative": 0.1, "positive": 0.9}}], "model_sha256": "x"}
    assert parse_predictions(body) == [Prediction("positive", {"negative": 0.1, "positive": 0.9})]
    with pytest.raises(ValueError, match="unrecognized"):
        parse_predictions({"oops": 1})


def test_golden_json_from_export() -> None:
    golden = golden_examples(golden_record(2), "golden.json")
    assert golden.tolerance == 0.001
    assert golden.examples[0] == Golden("text number 0", "positive", {"negative": 0.1, "positive": 0.9})
