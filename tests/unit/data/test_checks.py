"""Every data check on toy tables, with its exact message."""

from __future__ import annotations

import math

import pytest

from ml_ci.config.model import Drift, TextLength
from ml_ci.data import checks
from ml_ci.data.checks import Outcome
from ml_ci.tasks.text_classification import data as tc
from tests.unit.data.toy import balanced, data_config, run_checks, table


def only(outcomes: list[Outcome]) -> Outcome:
    assert len(outcomes) == 1
    return outcomes[0]


# --- columns ---


def test_columns_missing_names_the_columns_present_and_the_key_to_set() -> None:
    t = table("train", ["a"], ["negative"])
    t.columns["sentence"] = t.columns.pop("text")
    o = only(tc.check_columns({"train": t}, data_config()))
    assert not o.passed
    assert o.message == "train.csv: no column 'text' (columns: label, sentence); rename it in the data or set data.text_column"


def test_columns_missing_slice_column() -> None:
    o = only(tc.check_columns({"train": table("train", ["a"], ["negative"])}, data_config(slice_columns=("source",))))
    assert o.message == "train.csv: no column 'source' (columns: text, label); rename it in the data or set data.slice_columns"


def test_columns_wrong_types_name_rows_and_types() -> None:
    t = table("train", ["fine", 12, None], ["negative", True, [1]])
    o = only(tc.check_columns({"train": t}, data_config()))
    assert not o.passed
    assert o.message == (
        "train.csv: column 'text' must hold text; other values in 1 row: train.csv:3 (int); "
        "column 'label' must hold label names or indices; other values in 2 rows: "
        "train.csv:3 (bool), train.csv:4 (list)"
    )
    assert o.rows == ("train.csv:3", "train.csv:3", "train.csv:4")


def test_columns_pass() -> None:
    o = only(tc.check_columns({"train": table("train", ["a"], [1])}, data_config()))
    assert o.passed
    assert o.message == "train.csv: columns 'text', 'label' present"


def test_run_checks_leaves_a_split_without_its_columns_out_of_the_later_checks() -> None:
    broken = table("validation", ["a"], ["negative"])
    del broken.columns["label"]
    outcomes = run_checks({"train": balanced("train", 10), "validation": broken}, data_config())
    assert [(o.check, o.split) for o in outcomes if o.split == "validation"] == [("columns", "validation")]
    assert [o.check for o in outcomes if not o.passed] == ["columns"]


# --- min_rows ---


def test_min_rows() -> None:
    o = only(checks.check_min_rows({"train": balanced("train", 3)}, data_config(min_rows=5)))
    assert (o.passed, o.value, o.limit) == (False, 3, 5)
    assert o.message == "train.csv: 3 rows, fewer than min_rows 5"


def test_an_empty_split_fails_even_with_min_rows_0() -> None:
    o = only(checks.check_min_rows({"test": table("test", [], [])}, data_config(min_rows=0)))
    assert not o.passed
    assert o.message == "test.csv: the split has no rows"


# --- null and empty ---


def test_null_fraction_counts_a_missing_text_or_label() -> None:
    t = table("train", ["a", None, "c", "d"], ["negative", "positive", None, "positive"])
    o = only(tc.check_null_fraction({"train": t}, data_config(max_null_fraction=0.25)))
    assert (o.passed, o.value) == (False, 0.5)
    assert (
        o.message == "train.csv: 2 of 4 rows (50.0%) miss the text or the label, above max_null_fraction 0.25; "
        "first: train.csv:3, train.csv:4"
    )


def test_null_fraction_within_the_limit_passes() -> None:
    t = table("train", ["a", None, "c", "d"], ["negative"] * 4)
    assert only(tc.check_null_fraction({"train": t}, data_config(max_null_fraction=0.25))).passed


def test_null_fraction_treats_nan_as_missing() -> None:
    o = only(tc.check_null_fraction({"train": table("train", [float("nan")], ["negative"])}, data_config()))
    assert o.rows == ("train.csv:2",)


def test_empty_texts_are_whitespace_only() -> None:
    t = table("train", ["a", " \t", "", "b"], ["negative"] * 4)
    o = only(tc.check_empty_texts({"train": t}, data_config()))
    assert (
        o.message == "train.csv: 2 of 4 rows (50.0%) have an empty or whitespace-only text, above max_empty_fraction 0.0; "
        "first: train.csv:3, train.csv:4"
    )


# --- duplicates ---


def test_duplicates_exact_and_normalized() -> None:
    texts = ["Great movie!", "great   MOVIE", "Great movie!", "something else", "ｇｒｅａｔ movie."]
    o = only(tc.check_duplicates({"train": table("train", texts, ["positive"] * 5)}, data_config(max_duplicate_fraction=0.5)))
    assert (o.passed, o.value, o.details) == (False, 0.6, {"normalized": 3, "exact": 1})
    assert o.message == (
        "train.csv: 3 of 5 rows (60.0%) repeat an earlier text after normalization (1 exact), "
        "above max_duplicate_fraction 0.5; first: train.csv:3 repeats train.csv:2, "
        "train.csv:4 repeats train.csv:2, train.csv:6 repeats train.csv:2"
    )


def test_duplicates_within_the_limit_pass() -> None:
    t = table("train", ["a", "a", "b", "c"], [0] * 4)
    o = only(tc.check_duplicates({"train": t}, data_config(max_duplicate_fraction=0.25)))
    assert o.passed
    assert o.message == "train.csv: 1 of 4 rows (25.0%) repeat an earlier text after normalization (1 exact)"


def test_duplicate_rows_ignore_missing_and_empty_texts() -> None:
    assert checks.duplicate_rows([None, None, " ", " ", "a", "A"]) == [(5, 4, False)]


# --- text length ---


def test_text_length_bounds() -> None:
    t = table("train", ["ok text", "a", "x" * 30, None], [0] * 4)
    o = only(tc.check_text_length({"train": t}, data_config(text_length=TextLength(min=2, max=20))))
    assert (o.passed, o.value) == (False, 2)
    assert o.message == "train.csv: 2 texts outside 2..20 characters: train.csv:3 (1 character), train.csv:4 (30 characters)"


def test_text_length_pass_reports_the_range() -> None:
    o = only(tc.check_text_length({"train": table("train", ["abc", "abcdef"], [0, 1])}, data_config()))
    assert o.message == "train.csv: text lengths 3-6 characters, within 1..10000"


# --- leakage ---


def test_leakage_by_normalized_text_across_each_pair_of_splits() -> None:
    tables = {
        "train": table("train", ["The plot was dull.", "great fun"], [0, 1]),
        "validation": table("validation", ["something new", "the plot  was DULL"], [1, 0]),
        "test": table("test", ["Great fun!", "something new"], [1, 1]),
    }
    by_pair = {o.split: o for o in tc.check_leakage(tables, data_config())}
    assert list(by_pair) == ["train+validation", "train+test", "validation+test"]
    assert (
        by_pair["train+validation"].message
        == "validation.csv: 1 text also in train.csv (after normalization): validation.csv:3 = train.csv:2"
    )
    assert by_pair["train+test"].message == "test.csv: 1 text also in train.csv (after normalization): test.csv:2 = train.csv:3"
    assert by_pair["validation+test"].rows == ("test.csv:3",)
    assert not any(o.passed for o in by_pair.values())


def test_leakage_pass_and_disabled() -> None:
    tables = {"train": balanced("train", 4), "validation": balanced("validation", 4, prefix="other")}
    o = only(tc.check_leakage(tables, data_config()))
    assert o.passed
    assert o.message == "validation.csv: no text also in train.csv"
    clash = {"train": balanced("train", 4), "validation": balanced("validation", 4)}
    assert all(o.check != "leakage" for o in run_checks(clash, data_config(leakage=False)))
    assert any(o.check == "leakage" and not o.passed for o in run_checks(clash, data_config()))


# --- drift ---


def test_drift_psi_flags_a_shifted_label_distribution() -> None:
    train = table("train", [f"t{i}" for i in range(100)], ["negative"] * 50 + ["positive"] * 50)
    test = table("test", [f"t{i}" for i in range(100)], ["negative"] * 90 + ["positive"] * 10)
    o = only(tc.check_drift({"train": train, "test": test}, data_config()))
    assert not o.passed
    assert o.details["label"] == pytest.approx((0.9 - 0.5) * math.log(0.9 / 0.5) + (0.1 - 0.5) * math.log(0.1 / 0.5))
    assert o.message == (
        "test.csv: the label distribution drifted from train.csv: label PSI 0.879, length PSI 0.000 (2 bins), above threshold 0.2"
    )


def test_drift_against_a_separate_reference_covers_train_too() -> None:
    ref = balanced("reference", 40)
    tables = {"train": balanced("train", 40), "validation": balanced("validation", 40), "reference": ref}
    outcomes = tc.check_drift(tables, data_config())
    assert [(o.split, o.passed) for o in outcomes] == [("train", True), ("validation", True)]
    assert outcomes[0].message == ("train.csv: against reference.csv: label PSI 0.000, length PSI 0.000 (2 bins) (threshold 0.2)")


def test_drift_length_by_chi2() -> None:
    train = table("train", ["x" * (5 + i % 10) for i in range(200)], [i % 2 for i in range(200)])
    longer = table("test", ["x" * (50 + i % 10) for i in range(200)], [i % 2 for i in range(200)])
    o = only(tc.check_drift({"train": train, "test": longer}, data_config(drift=Drift(method="chi2", threshold=0.05))))
    assert not o.passed
    assert o.details["label"] == 1.0
    assert o.details["length"] < 1e-6
    assert o.message.startswith(
        "test.csv: the length distribution drifted from train.csv: label chi2 p-value 1.000, "
        "length chi2 p-value 0.000 (10 bins), below threshold 0.05"
    )
