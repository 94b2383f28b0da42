"""text-classification's scores: metrics over integer labels and probability rows, with numpy only.

A metric that is undefined for the data (ROC AUC with a class missing among the true labels)
is None with a reason, never NaN: NaN would pass or fail gates silently. `metric_fn` computes one
metric as `score` does, for the resamples of the paired bootstrap (training's validation metrics use
`confusion_matrix` and `f1_macro_from_confusion` too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

ECE_BINS = 15


@dataclass(frozen=True)
class ClassMetrics:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Scores:
    """Quality metrics of one prediction set (latency and size are measured apart)."""

    metrics: dict[str, float | None]
    per_class: dict[str, ClassMetrics]
    confusion: list[list[int]]  # rows: true label, columns: predicted label
    undefined: dict[str, str] = field(default_factory=dict)  # metric -> why it has no value


def confusion_matrix(y_true: IntArray, y_pred: IntArray, n_classes: int) -> IntArray:
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    # sklearn's zero_division=0 convention: a class never predicted has precision 0, not NaN.
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def prf_from_confusion(cm: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-class precision, recall and F1."""
    tp = np.diag(cm).astype(np.float64)
    precision = _ratio(tp, cm.sum(axis=0).astype(np.float64))
    recall = _ratio(tp, cm.sum(axis=1).astype(np.float64))
    f1 = _ratio(2 * precision * recall, precision + recall)
    return precision, recall, f1


def f1_macro_from_confusion(cm: IntArray) -> float:
    """Macro F1 over the classes present in the labels or the predictions (as sklearn does)."""
    present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    _, _, f1 = prf_from_confusion(cm)
    return float(f1[present].mean()) if present.any() else 0.0


def roc_auc_binary(y_true: IntArray, score: FloatArray) -> float | None:
    """Area under the ROC curve for the positive class (label 1), by ranks with ties averaged."""
    positives = int(y_true.sum())
    negatives = len(y_true) - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    sorted_scores = score[order]
    ranks = np.empty(len(score), dtype=np.float64)
    # Average ranks over tied scores (Mann-Whitney U).
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[y_true == 1].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def roc_auc(y_true: IntArray, probs: FloatArray) -> float | None:
    """ROC AUC of probability rows: the positive class's for two labels; for more, one-vs-rest averaged over
    the classes (macro), as sklearn's roc_auc_score(multi_class="ovr"). None when a class is missing among the
    true labels (or, for two labels, when only one is present): its curve is not defined."""
    if probs.shape[1] == 2:
        return roc_auc_binary(y_true, probs[:, 1])
    aucs = [roc_auc_binary((y_true == c).astype(np.int64), probs[:, c]) for c in range(probs.shape[1])]
    if any(auc is None for auc in aucs):
        return None
    return float(np.mean([auc for auc in aucs if auc is not None]))


def expected_calibration_error(y_true: IntArray, probs: FloatArray, bins: int = ECE_BINS) -> float:
    """ECE with equal-width confidence bins: sum over bins of |accuracy - confidence| weighted by size."""
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y_true).astype(np.float64)
    # A confidence of exactly 1.0 belongs to the last bin.
    idx = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    conf_sum = np.bincount(idx, weights=confidence, minlength=bins)
    acc_sum = np.bincount(idx, weights=correct, minlength=bins)
    return float(np.abs(acc_sum - conf_sum).sum() / len(y_true))


def score(y_true: IntArray, probs: FloatArray, labels: tuple[str, ...]) -> Scores:
    """All quality metrics for one set of predictions; probs has one column per label."""
    n_classes = len(labels)
    if len(y_true) == 0:
        raise ValueError("no examples to score")
    y_pred = probs.argmax(axis=1).astype(np.int64)
    cm = confusion_matrix(y_true, y_pred, n_classes)
    precision, recall, f1 = prf_from_confusion(cm)
    present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    support = cm.sum(axis=1)
    accuracy = float(np.trace(cm) / cm.sum())
    metrics: dict[str, float | None] = {
        "accuracy": accuracy,
        "f1_macro": float(f1[present].mean()),
        # Single-label multi-class: micro precision = recall = F1 = accuracy.
        "f1_micro": accuracy,
        "precision_macro": float(precision[present].mean()),
        "recall_macro": float(recall[present].mean()),
        "ece": expected_calibration_error(y_true, probs),
    }
    undefined: dict[str, str] = {}
    metrics["roc_auc"] = roc_auc(y_true, probs)
    if metrics["roc_auc"] is None:
        undefined["roc_auc"] = (
            "ROC AUC needs both classes among the true labels"
            if n_classes == 2
            else "ROC AUC (one-vs-rest) needs every class among the true labels"
        )
    per_class = {
        label: ClassMetrics(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
        for i, label in enumerate(labels)
    }
    return Scores(metrics, per_class, cm.tolist(), undefined)


# Metrics computed from predictions, so a paired test applies; latency and size are not.
PAIRED_METRICS = frozenset({"accuracy", "f1_macro", "f1_micro", "precision_macro", "recall_macro", "roc_auc", "ece"})


def _present_mean(values: FloatArray, cm: IntArray) -> float:
    present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    return float(values[present].mean()) if present.any() else 0.0


def metric_fn(metric: str, n_classes: int) -> Callable[[IntArray, FloatArray], float]:
    """metric(y_true, probs) for one metric, as `score` computes it."""

    def from_cm(pick: Callable[[IntArray], float]) -> Callable[[IntArray, FloatArray], float]:
        return lambda y, p: pick(confusion_matrix(y, p.argmax(axis=1).astype(np.int64), n_classes))

    fns: dict[str, Callable[[IntArray, FloatArray], float]] = {
        "accuracy": lambda y, p: float((p.argmax(axis=1) == y).mean()),
        "f1_micro": lambda y, p: float((p.argmax(axis=1) == y).mean()),
        "f1_macro": from_cm(f1_macro_from_confusion),
        "precision_macro": from_cm(lambda cm: _present_mean(prf_from_confusion(cm)[0], cm)),
        "recall_macro": from_cm(lambda cm: _present_mean(prf_from_confusion(cm)[1], cm)),
        "ece": expected_calibration_error,
        # An undefined AUC on a resample (one class drawn) counts as no change.
        "roc_auc": lambda y, p: auc if (auc := roc_auc(y, p)) is not None else float("nan"),
    }
    return fns[metric]
