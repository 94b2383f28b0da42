"""text-classification's scores against scikit-learn, the reference implementation.

ml-ci computes metrics from a confusion matrix with numpy because the paired bootstrap and
training's per-evaluation metrics call them thousands of times, where sklearn's per-call input
validation dominates; this test keeps the two in agreement.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from ml_ci.tasks.text_classification.scores import score


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_sklearn(n_classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, 300).astype(np.int64)
    logits = rng.normal(size=(300, n_classes)) + 1.5 * np.eye(n_classes)[y_true] * rng.random((300, 1))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y_pred = probs.argmax(axis=1)
    labels = tuple(f"c{i}" for i in range(n_classes))

    got = score(y_true, probs, labels)

    assert got.metrics["accuracy"] == pytest.approx(sk.accuracy_score(y_true, y_pred))
    assert got.metrics["f1_macro"] == pytest.approx(sk.f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert got.metrics["f1_micro"] == pytest.approx(sk.f1_score(y_true, y_pred, average="micro", zero_division=0))
    assert got.metrics["precision_macro"] == pytest.approx(sk.precision_score(y_true, y_pred, average="macro", zero_division=0))
    assert got.metrics["recall_macro"] == pytest.approx(sk.recall_score(y_true, y_pred, average="macro", zero_division=0))
    assert got.confusion == sk.confusion_matrix(y_true, y_pred, labels=list(range(n_classes))).tolist()
    precision, recall, f1, support = sk.precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(n_classes)), zero_division=0
    )
    for i, label in enumerate(labels):
        assert got.per_class[label].precision == pytest.approx(precision[i])
        assert got.per_class[label].recall == pytest.approx(recall[i])
        assert got.per_class[label].f1 == pytest.approx(f1[i])
        assert got.per_class[label].support == support[i]
    if n_classes == 2:
        assert got.metrics["roc_auc"] == pytest.approx(sk.roc_auc_score(y_true, probs[:, 1]))
