"""Paired tests: is the current model really worse than the baseline on the same examples?

Both tests are one-sided (H1: the current model is worse) on examples matched by text hash:
McNemar's exact test for accuracy (a binomial test on the discordant pairs, scipy), and a paired
bootstrap (Koehn 2004) for the other per-example metrics. The bootstrap is seeded, so the same
inputs always give the same p-value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ml_ci.config.model import LOWER_IS_BETTER
from ml_ci.evaluate.metrics import (
    FloatArray,
    IntArray,
    confusion_matrix,
    expected_calibration_error,
    f1_macro_from_confusion,
    prf_from_confusion,
    roc_auc,
)

BOOTSTRAP_SAMPLES = 1000
SEED = 20240531

# Metrics computed from predictions, so a paired test applies; latency and size are not.
PAIRED_METRICS = frozenset({"accuracy", "f1_macro", "f1_micro", "precision_macro", "recall_macro", "roc_auc", "ece"})


@dataclass(frozen=True)
class Paired:
    """The examples both models predicted, aligned: true labels and each model's probabilities."""

    y_true: IntArray
    current: FloatArray
    baseline: FloatArray

    def __len__(self) -> int:
        return len(self.y_true)


@dataclass(frozen=True)
class PairedTest:
    test: str  # "mcnemar" or "paired-bootstrap"
    p_value: float
    n: int  # matched examples


def _present_mean(values: FloatArray, cm: IntArray) -> float:
    present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    return float(values[present].mean()) if present.any() else 0.0


def metric_fn(metric: str, n_classes: int) -> Callable[[IntArray, FloatArray], float]:
    """metric(y_true, probs) for one metric, as `metrics.score` computes it."""

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


def mcnemar(paired: Paired) -> PairedTest:
    """Exact one-sided McNemar: among pairs where exactly one model is right, does the baseline win more?"""
    from scipy.stats import binomtest

    cur_ok = paired.current.argmax(axis=1) == paired.y_true
    base_ok = paired.baseline.argmax(axis=1) == paired.y_true
    worse = int((base_ok & ~cur_ok).sum())
    better = int((~base_ok & cur_ok).sum())
    if worse + better == 0:
        return PairedTest("mcnemar", 1.0, len(paired))
    p = float(binomtest(worse, worse + better, 0.5, alternative="greater").pvalue)
    return PairedTest("mcnemar", p, len(paired))


def paired_bootstrap(paired: Paired, metric: str, *, samples: int = BOOTSTRAP_SAMPLES, seed: int = SEED) -> PairedTest:
    """One-sided paired bootstrap: the share of resamples in which the current model is not worse.

    Small when the current model is worse on nearly every resample of the test set: a real
    regression. (+1 smoothing so that the p-value is never exactly 0.)
    """
    n = len(paired)
    fn = metric_fn(metric, paired.current.shape[1])
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    rng = np.random.default_rng(seed)
    not_worse = 0
    for _ in range(samples):
        idx = rng.integers(0, n, n)
        y = paired.y_true[idx]
        delta = sign * (fn(y, paired.current[idx]) - fn(y, paired.baseline[idx]))
        if not delta < 0:  # NaN (undefined on this resample) counts as not worse
            not_worse += 1
    return PairedTest("paired-bootstrap", (not_worse + 1) / (samples + 1), n)


def regression_test(paired: Paired, metric: str) -> PairedTest | None:
    """The paired test for a metric, or None when the metric is not per-example (latency, size)."""
    if metric not in PAIRED_METRICS or len(paired) == 0:
        return None
    if metric == "accuracy":
        return mcnemar(paired)
    return paired_bootstrap(paired, metric)
