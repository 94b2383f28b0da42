from __future__ import annotations

import numpy as np
import pytest

from ml_ci.evaluate.significance import mcnemar, paired_bootstrap, regression_test
from ml_ci.tasks.protocols.evaluation import Paired
from ml_ci.tasks.text_classification import evaluation as tc


def onehot(pred: np.ndarray, n: int = 2) -> np.ndarray:
    out = np.full((len(pred), n), 0.2 / (n - 1))
    out[np.arange(len(pred)), pred] = 0.8
    return out


def pair(metric: str, y: np.ndarray, current: np.ndarray, baseline: np.ndarray) -> Paired:
    """As text-classification pairs a metric: the same examples, in order."""
    rows = np.arange(len(y))
    found = tc.paired(metric, y, current, baseline, rows, rows)
    assert found is not None
    return found


def paired(worse: int, better: int, same: int = 100, metric: str = "accuracy") -> Paired:
    """`worse` examples only the baseline gets right, `better` only the current model, `same` both."""
    y = np.zeros(worse + better + same, dtype=np.int64)
    cur = np.concatenate([np.ones(worse), np.zeros(better), np.zeros(same)]).astype(np.int64)
    base = np.concatenate([np.zeros(worse), np.ones(better), np.zeros(same)]).astype(np.int64)
    return pair(metric, y, onehot(cur), onehot(base))


def test_mcnemar_is_the_one_sided_binomial_on_discordant_pairs() -> None:
    from scipy.stats import binomtest

    r = mcnemar(paired(worse=15, better=3))
    assert r.test == "mcnemar"
    assert r.n == 118
    assert r.p_value == pytest.approx(binomtest(15, 18, 0.5, alternative="greater").pvalue)
    assert r.p_value < 0.01
    assert mcnemar(paired(worse=3, better=15)).p_value > 0.99
    assert mcnemar(paired(worse=0, better=0)).p_value == 1.0


def test_bootstrap_tells_a_real_regression_from_noise() -> None:
    real = paired_bootstrap(paired(worse=30, better=2, metric="f1_macro"))
    noise = paired_bootstrap(paired(worse=3, better=2, metric="f1_macro"))
    assert real.test == "paired-bootstrap"
    assert real.p_value < 0.01
    assert noise.p_value > 0.2


def test_bootstrap_is_seeded() -> None:
    data = paired(worse=6, better=3, metric="recall_macro")
    assert paired_bootstrap(data).p_value == paired_bootstrap(data).p_value


def test_lower_is_better_metrics_are_read_the_other_way_round() -> None:
    y = np.zeros(200, dtype=np.int64)
    calibrated = np.tile([0.8, 0.2], (200, 1))
    calibrated[:40] = [0.2, 0.8]  # 80% right at confidence 0.8: ECE 0
    overconfident = np.tile([0.99, 0.01], (200, 1))
    overconfident[:40] = [0.01, 0.99]
    assert regression_test(pair("ece", y, overconfident, calibrated), "ece").p_value < 0.01  # type: ignore[union-attr]
    assert regression_test(pair("ece", y, calibrated, overconfident), "ece").p_value > 0.99  # type: ignore[union-attr]


def test_no_paired_test_for_latency_or_without_pairs() -> None:
    rows = np.arange(3)
    assert tc.paired("latency_p95_ms", np.zeros(3, np.int64), onehot(rows % 2), onehot(rows % 2), rows, rows) is None
    assert regression_test(None, "latency_p95_ms") is None
    empty = np.zeros(0, np.int64)
    assert regression_test(tc.paired("accuracy", empty, np.zeros((0, 2)), np.zeros((0, 2)), empty, empty), "accuracy") is None
    assert regression_test(paired(5, 1), "accuracy").test == "mcnemar"  # type: ignore[union-attr]
    assert regression_test(paired(5, 1, metric="f1_micro"), "f1_micro").test == "paired-bootstrap"  # type: ignore[union-attr]
