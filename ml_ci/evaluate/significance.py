"""Paired tests: is the current model really worse than the baseline on the same examples?

Both tests are one-sided (H1: the current model is worse) on examples matched by text hash:
McNemar's exact test when the metric is a share of examples right (a binomial test on the discordant
pairs, scipy), and a paired bootstrap (Koehn 2004) for the other per-example metrics. Which metric is
which, and how it is computed on a resample, is the task's (`EvaluationHalf.paired`); latency and
size are not per-example. The bootstrap is seeded, so the same inputs always give the same p-value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml_ci.config.model import LOWER_IS_BETTER
from ml_ci.tasks.protocols.evaluation import Paired

BOOTSTRAP_SAMPLES = 1000
SEED = 20240531


@dataclass(frozen=True)
class PairedTest:
    test: str  # "mcnemar" or "paired-bootstrap"
    p_value: float
    n: int  # matched examples


def mcnemar(paired: Paired) -> PairedTest:
    """Exact one-sided McNemar: among pairs where exactly one model is right, does the baseline win more?"""
    from scipy.stats import binomtest

    assert paired.correct is not None
    cur_ok, base_ok = paired.correct
    worse = int((base_ok & ~cur_ok).sum())
    better = int((~base_ok & cur_ok).sum())
    if worse + better == 0:
        return PairedTest("mcnemar", 1.0, len(paired))
    p = float(binomtest(worse, worse + better, 0.5, alternative="greater").pvalue)
    return PairedTest("mcnemar", p, len(paired))


def paired_bootstrap(
    paired: Paired, *, lower_is_better: bool = False, samples: int = BOOTSTRAP_SAMPLES, seed: int = SEED
) -> PairedTest:
    """One-sided paired bootstrap: the share of resamples in which the current model is not worse.

    Small when the current model is worse on nearly every resample of the test set: a real
    regression. (+1 smoothing so that the p-value is never exactly 0.)
    """
    n = len(paired)
    sign = -1.0 if lower_is_better else 1.0
    rng = np.random.default_rng(seed)
    not_worse = 0
    for _ in range(samples):
        current, baseline = paired.statistic(rng.integers(0, n, n))
        delta = sign * (current - baseline)
        if not delta < 0:  # NaN (undefined on this resample) counts as not worse
            not_worse += 1
    return PairedTest("paired-bootstrap", (not_worse + 1) / (samples + 1), n)


def regression_test(paired: Paired | None, metric: str, lower_is_better: frozenset[str] = LOWER_IS_BETTER) -> PairedTest | None:
    """The paired test for a metric the task paired, or None when it did not (the metric is not
    per-example: latency, size) or when no example is paired."""
    if paired is None or len(paired) == 0:
        return None
    if paired.correct is not None:
        return mcnemar(paired)
    return paired_bootstrap(paired, lower_is_better=metric in lower_is_better)
