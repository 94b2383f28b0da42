"""text-classification's evaluation half, its pure parts (no torch here): the model's outputs mapped to
data.labels, the split's checks, the record's rows and their reading back, the pairing, the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml_ci.errors import DataCheckError, OperationalError
from ml_ci.records.evaluation import EvalRecord
from ml_ci.tasks.text_classification import evaluation as tc
from tests.unit.evaluate.conftest import MakeConfig, make_config

__all__ = ["make_config"]  # the fixture, shared with tests/unit/evaluate


def test_model_outputs_are_reordered_to_the_config_labels() -> None:
    assert tc.label_columns(["positive", "negative"], ("negative", "positive"), Path("m")) == [1, 0]
    with pytest.raises(OperationalError, match=r"predicts labels \['LABEL_0', 'LABEL_1'\], but ml.yaml data.labels"):
        tc.label_columns(["LABEL_0", "LABEL_1"], ("negative", "positive"), Path("m"))


def test_nan_probabilities_are_refused_with_where() -> None:
    probs = np.array([[0.5, 0.5], [np.nan, np.nan], [0.1, 0.9], [np.inf, 0.0]])
    with pytest.raises(OperationalError, match=r"for 2 of 4 examples \(the first at index 1\)"):
        tc.check_finite(probs)
    tc.check_finite(probs[[0, 2]])


def test_the_split_needs_its_columns_and_known_label_indices(make_config: MakeConfig) -> None:
    config = make_config()
    found = tc.examples(config, "test", {"text": ["a", None], "label": [1, 0], "lang": ["en", "de"]}, "sha256:f")
    assert (found.texts, found.truth.tolist(), found.fingerprint) == (["a", ""], [1, 0], "sha256:f")
    with pytest.raises(DataCheckError, match="the test split has no column 'label'"):
        tc.examples(config, "test", {"text": ["a"]}, None)
    with pytest.raises(DataCheckError, match=r"has label index 2, outside data.labels \['negative', 'positive'\]"):
        tc.examples(config, "test", {"text": ["a"], "label": [2]}, None)


def test_prediction_rows_read_back_and_pair(make_config: MakeConfig) -> None:
    config = make_config()
    truth = np.array([0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    rows = tc.prediction_rows(config, truth, probs)
    assert rows[2] == {"label": "positive", "predicted": "negative", "probabilities": [0.7, 0.3]}
    back_truth, back_probs = tc.read_predictions(config, rows)
    assert back_truth.tolist() == [0, 1, 1] and np.array_equal(back_probs, probs)
    with pytest.raises(KeyError):
        tc.read_predictions(config, [{"broken": 1}])
    with pytest.raises(KeyError):
        tc.read_predictions(config, [{"label": "neutral", "probabilities": [1.0, 0.0]}])
    # current's rows 0 and 2 against the baseline's 2 and 1: accuracy pairs right/wrong for McNemar
    found = tc.paired("accuracy", truth, probs, probs[::-1], np.array([0, 2]), np.array([2, 1]))
    assert found is not None and found.correct is not None and len(found) == 2
    assert [c.tolist() for c in found.correct] == [[True, False], [True, True]]
    assert found.statistic(np.array([0, 1])) == (0.5, 1.0)
    assert found.statistic(np.array([1, 1])) == (0.0, 1.0)  # a resample repeats rows
    assert tc.paired("size_mb", truth, probs, probs, np.arange(3), np.arange(3)) is None


def test_the_report_adds_per_class_and_confusion_and_prints_per_class_from_three_labels(make_config: MakeConfig) -> None:
    config = make_config()
    scores = tc.score(config, np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]))
    record = EvalRecord(
        name="m", task=config.task, metrics=scores.metrics, task_head=tc.record_head(config), task_scores=scores.record
    )
    parts = tc.report(record)
    assert [title for title, _ in parts.sections] == ["Per class", "Confusion matrix"]
    assert "| **positive** | 1 | 1 |" in parts.sections[1][1]
    assert parts.text == ()  # two labels: the metrics say it all
    three = EvalRecord(name="m", task=config.task, metrics={}, task_head={"labels": ["a", "b", "c"]}, task_scores=scores.record)
    assert tc.report(three).text[0].startswith("per class:\nlabel")
    with pytest.raises(OperationalError, match=r"baseline b.json has labels \['a', 'b', 'c'\], but ml.yaml data.labels"):
        tc.check_baseline(three, config, "b.json")
