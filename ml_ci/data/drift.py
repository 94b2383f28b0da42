"""Distribution shift between a split and the reference: PSI or a chi-square test, over the task's
counts and over text-length bins taken from the reference. Pure Python except scipy for chi2."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from ml_ci.errors import OperationalError

# A bin empty on one side would make PSI infinite; the usual practice is a small floor.
_EPSILON = 1e-4
# Rows wanted per length bin: with two samples of the same distribution, PSI's expected value is
# about (bins - 1) * (1/n + 1/m), so few rows per bin would read noise as drift.
ROWS_PER_BIN = 20
MAX_BINS = 10


def psi(expected: Sequence[int], actual: Sequence[int]) -> float:
    """Population stability index of two histograms over the same bins."""
    n_e, n_a = sum(expected), sum(actual)
    if n_e == 0 or n_a == 0:
        return 0.0
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        pe, pa = max(e / n_e, _EPSILON), max(a / n_a, _EPSILON)
        total += (pa - pe) * math.log(pa / pe)
    return total


def chi2_pvalue(expected: Sequence[int], actual: Sequence[int]) -> float:
    """p-value of the chi-square test that both histograms come from one distribution."""
    try:
        from scipy.stats import chi2_contingency
    except ImportError:
        raise OperationalError("the chi2 drift test needs scipy: pip install 'ml-ci[train]' (or use drift.method: psi)") from None

    kept = [(e, a) for e, a in zip(expected, actual, strict=True) if e or a]
    if len(kept) < 2 or not sum(e for e, _ in kept) or not sum(a for _, a in kept):
        return 1.0
    result = chi2_contingency([[e for e, _ in kept], [a for _, a in kept]])
    return float(result.pvalue)


def bin_count(n_reference: int, n_split: int) -> int:
    return max(2, min(MAX_BINS, min(n_reference, n_split) // ROWS_PER_BIN))


def quantile_edges(reference: Sequence[int], bins: int) -> list[int]:
    """Inner bin edges at the reference's quantiles (ties merged), so each bin holds about as many
    reference rows."""
    ordered = sorted(reference)
    if not ordered:
        return []
    edges = {ordered[min(len(ordered) - 1, len(ordered) * i // bins)] for i in range(1, bins)}
    return sorted(edges)


def histogram(values: Sequence[int], edges: Sequence[int]) -> list[int]:
    """Counts per bin; bin i holds edges[i-1] <= v < edges[i]."""
    counts = [0] * (len(edges) + 1)
    for v in values:
        counts[bisect.bisect_right(edges, v)] += 1
    return counts
