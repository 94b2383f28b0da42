"""roc_auc against scikit-learn: binary, and one-vs-rest macro for three or more labels
(roc_auc_score(multi_class="ovr")), so that the default metrics fit a multi-class task."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from ml_ci.tasks.text_classification.scores import metric_fn, roc_auc, score


def _probs(rng: np.random.Generator, y_true: np.ndarray, n_classes: int) -> np.ndarray:
    logits = rng.normal(size=(len(y_true), n_classes)) + 1.5 * np.eye(n_classes)[y_true] * rng.random((len(y_true), 1))
    # Rounded so that ties occur: both sides must average tied ranks the same way.
    probs = np.round(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 2)
    normalised: np.ndarray = probs / probs.sum(axis=1, keepdims=True)
    return normalised


@pytest.mark.parametrize("n_classes", [2, 3, 6])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_sklearn_one_vs_rest(n_classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, 300).astype(np.int64)
    probs = _probs(rng, y_true, n_classes)
    reference = (
        sk.roc_auc_score(y_true, probs[:, 1])
        if n_classes == 2
        else sk.roc_auc_score(y_true, probs, multi_class="ovr", average="macro")
    )
    assert roc_auc(y_true, probs) == pytest.approx(reference)
    assert score(y_true, probs, tuple(f"c{i}" for i in range(n_classes))).metrics["roc_auc"] == pytest.approx(reference)
    # The paired significance test resamples the same metric.
    assert metric_fn("roc_auc", n_classes)(y_true, probs) == pytest.approx(reference)


def test_a_class_missing_among_the_true_labels_has_no_value() -> None:
    y_true = np.array([0, 1, 0, 1], dtype=np.int64)
    probs = np.full((4, 3), 1 / 3)
    assert roc_auc(y_true, probs) is None
    with pytest.raises(ValueError):  # sklearn refuses it too
        sk.roc_auc_score(y_true, probs, multi_class="ovr")
