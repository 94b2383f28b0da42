from __future__ import annotations

import numpy as np
import pytest

from ml_ci.tasks.text_classification.scores import expected_calibration_error, roc_auc_binary, score


def probs_for(pred: list[int], n: int = 2, confidence: float = 0.9) -> np.ndarray:
    out = np.full((len(pred), n), (1 - confidence) / (n - 1))
    out[np.arange(len(pred)), pred] = confidence
    return out


def test_binary_scores_match_hand_computed_values() -> None:
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    pred = [0, 0, 1, 1, 1, 1, 0, 0]
    s = score(y, probs_for(pred), ("neg", "pos"))
    # confusion: neg -> [2, 1], pos -> [2, 3]
    assert s.confusion == [[2, 1], [2, 3]]
    assert s.metrics["accuracy"] == pytest.approx(5 / 8)
    p_neg, r_neg = 2 / 4, 2 / 3
    p_pos, r_pos = 3 / 4, 3 / 5
    f1_neg = 2 * p_neg * r_neg / (p_neg + r_neg)
    f1_pos = 2 * p_pos * r_pos / (p_pos + r_pos)
    assert s.metrics["precision_macro"] == pytest.approx((p_neg + p_pos) / 2)
    assert s.metrics["recall_macro"] == pytest.approx((r_neg + r_pos) / 2)
    assert s.metrics["f1_macro"] == pytest.approx((f1_neg + f1_pos) / 2)
    assert s.metrics["f1_micro"] == pytest.approx(5 / 8)
    assert s.per_class["pos"].support == 5
    assert s.per_class["neg"].recall == pytest.approx(r_neg)


def test_roc_auc_counts_ties_as_half() -> None:
    y = np.array([0, 0, 1, 1])
    assert roc_auc_binary(y, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert roc_auc_binary(y, np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.5)
    assert roc_auc_binary(np.array([1, 1]), np.array([0.2, 0.3])) is None


def test_undefined_metrics_are_none_with_a_reason_not_nan() -> None:
    y = np.array([1, 1, 1])
    s = score(y, probs_for([1, 0, 1]), ("neg", "pos"))
    assert s.metrics["roc_auc"] is None
    assert s.undefined["roc_auc"] == "ROC AUC needs both classes among the true labels"
    three = score(np.array([0, 1, 1]), probs_for([0, 1, 2], n=3), ("a", "b", "c"))  # no true "c": no curve for it
    assert three.metrics["roc_auc"] is None
    assert three.undefined["roc_auc"] == "ROC AUC (one-vs-rest) needs every class among the true labels"
    assert all(v is None or np.isfinite(v) for v in s.metrics.values())


def test_a_class_never_predicted_has_precision_zero() -> None:
    s = score(np.array([0, 1, 1]), probs_for([1, 1, 1]), ("neg", "pos"))
    assert s.per_class["neg"].precision == 0.0
    assert s.metrics["f1_macro"] == pytest.approx((0.0 + 0.8) / 2)


def test_ece_is_the_gap_between_confidence_and_accuracy() -> None:
    y = np.array([0, 0, 0, 0])
    # all predicted with confidence 0.9, half right: |0.5 - 0.9| = 0.4
    assert expected_calibration_error(y, probs_for([0, 0, 1, 1])) == pytest.approx(0.4)
    # perfectly calibrated at confidence 1.0: the top bin includes 1.0
    assert expected_calibration_error(y, probs_for([0, 0, 0, 0], confidence=1.0)) == pytest.approx(0.0)
