"""Normalization, missing values and the drift measures."""

from __future__ import annotations

import hashlib
import math

import pytest

from ml_ci.data import drift
from ml_ci.data.normalize import normalize, text_hash
from ml_ci.data.table import is_missing


def test_is_missing() -> None:
    assert is_missing(None) and is_missing(float("nan"))
    assert not is_missing("") and not is_missing(0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Great  movie!", "great movie"),
        ("  GREAT\tmovie \n", "great movie"),
        ("ｇｒｅａｔ movie", "great movie"),  # fullwidth letters: NFKC
        ("Straße", "strasse"),  # casefold, not lower
        ("don't ... stop", "dont stop"),
        ("¿Qué?", "qué"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_text_hash_is_sha256_of_the_normalized_text() -> None:
    assert text_hash("Great movie!") == text_hash("great movie")
    assert text_hash("Great movie!") == hashlib.sha256(b"great movie").hexdigest()


def test_psi() -> None:
    assert drift.psi([50, 50], [50, 50]) == 0.0
    assert drift.psi([50, 50], [90, 10]) == pytest.approx(0.4 * math.log(0.9 / 0.5) + 0.4 * math.log(0.5 / 0.1))
    # an empty bin on one side is floored, not infinite
    assert math.isfinite(drift.psi([100, 0], [50, 50]))
    assert drift.psi([], []) == 0.0
    assert drift.psi([10, 0], [0, 0]) == 0.0


def test_chi2_pvalue() -> None:
    assert drift.chi2_pvalue([50, 50], [50, 50]) == pytest.approx(1.0)
    assert drift.chi2_pvalue([50, 50], [90, 10]) < 1e-6
    assert drift.chi2_pvalue([10, 0], [5, 0]) == 1.0  # one populated bin: nothing to compare


def test_quantile_edges_and_histogram() -> None:
    lengths = list(range(1, 11))
    edges = drift.quantile_edges(lengths, 5)
    assert edges == [3, 5, 7, 9]
    assert drift.histogram(lengths, edges) == [2, 2, 2, 2, 2]
    assert drift.quantile_edges([4] * 10, 5) == [4]  # ties merge
    assert drift.quantile_edges([], 5) == []


@pytest.mark.parametrize(("n_ref", "n_split", "bins"), [(800, 200, 10), (160, 40, 2), (10, 10, 2), (100, 1000, 5)])
def test_bin_count_keeps_about_20_rows_a_bin(n_ref: int, n_split: int, bins: int) -> None:
    assert drift.bin_count(n_ref, n_split) == bins
