"""text-classification's data half: its list of checks, its label checks on toy tables (with their exact
messages) and how a label value is read."""

from __future__ import annotations

import pytest

from ml_ci.data.checks import Outcome
from ml_ci.tasks.text_classification import data as tc
from ml_ci.tasks.text_classification.data import label_index
from tests.unit.data.toy import LABELS, balanced, data_config, table


def only(outcomes: list[Outcome]) -> Outcome:
    assert len(outcomes) == 1
    return outcomes[0]


def test_registry_lists_each_check_once_in_run_order() -> None:
    names = [c.name for c in tc.CHECKS]
    assert names == [
        "columns",
        "min_rows",
        "null_fraction",
        "empty_texts",
        "labels",
        "duplicates",
        "text_length",
        "min_rows_per_class",
        "class_balance",
        "leakage",
        "drift",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("negative", 0),
        ("positive", 1),
        (0, 0),
        (1, 1),
        ("1", 1),
        (" 0 ", 0),
        (1.0, 1),
        (2, None),
        ("2", None),
        (-1, None),
        ("neutral", None),
        (True, None),
        (None, None),
        (0.5, None),
        ("", None),
    ],
)
def test_label_index(value: object, expected: int | None) -> None:
    assert label_index(value, LABELS) == expected


def test_a_label_name_wins_over_an_index() -> None:
    assert label_index("1", ("1", "0")) == 0


# --- labels ---


def test_labels_outside_the_set_are_named_with_their_values() -> None:
    t = table("train", ["a", "b", "c", "d"], ["negative", "neutral", 2, "1"])
    o = only(tc.check_labels({"train": t}, data_config()))
    assert (o.passed, o.value) == (False, 2)
    assert (
        o.message == "train.csv: 2 rows with a label outside ['negative', 'positive'] (or its indices 0-1): "
        "train.csv:3 ('neutral'), train.csv:4 (2)"
    )


def test_labels_written_as_decimals_get_the_hint_that_integers_are_expected() -> None:
    """Issue 22: `3.0` (a float column saved as text) failed every row without saying why."""
    t = table("train", ["a", "b", "c"], ["1.0", "0.0", "1.5"])
    o = only(tc.check_labels({"train": t}, data_config()))
    assert o.message == (
        "train.csv: 3 rows with a label outside ['negative', 'positive'] (or its indices 0-1): "
        "train.csv:2 ('1.0'), train.csv:3 ('0.0'), train.csv:4 ('1.5'); labels such as '1.0' are read as "
        "text: write label indices as integers (1) or as names from data.labels"
    )
    assert "labels such as" not in only(tc.check_labels({"train": table("train", ["a"], ["1.5"])}, data_config())).message


def test_labels_given_as_indices_pass() -> None:
    o = only(tc.check_labels({"train": table("train", ["a", "b", "c"], [0, "1", 1.0])}, data_config()))
    assert o.passed
    assert o.message == "train.csv: every label is in ['negative', 'positive']"


def test_labels_list_at_most_five_rows() -> None:
    t = table("train", ["t"] * 7, ["x"] * 7)
    o = only(tc.check_labels({"train": t}, data_config()))
    assert o.message.endswith("train.csv:6 ('x'), and 2 more")
    assert len(o.rows) == 5


# --- per class, balance (training split only) ---


def test_min_rows_per_class_names_each_short_label() -> None:
    t = table("train", list("abcdefg"), ["positive"] * 6 + ["negative"])
    o = only(tc.check_min_rows_per_class({"train": t, "test": t}, data_config(min_rows_per_class=2)))
    assert (o.split, o.passed, o.value, o.details) == ("train", False, 1, {"negative": 1, "positive": 6})
    assert o.message == "train.csv: label 'negative' has 1 row, fewer than min_rows_per_class 2"


def test_class_balance_ratio() -> None:
    t = table("train", list("abcdefgh"), ["positive"] * 6 + ["negative"] * 2)
    o = only(tc.check_class_balance({"train": t}, data_config(max_class_imbalance=2.5)))
    assert (o.passed, o.value) == (False, 3.0)
    assert (
        o.message == "train.csv: most frequent label 'positive' has 6 rows, least frequent 'negative' 2: ratio 3.00, "
        "above max_class_imbalance 2.5"
    )


def test_class_balance_with_an_absent_label() -> None:
    t = table("train", list("abc"), ["positive"] * 3)
    o = only(tc.check_class_balance({"train": t}, data_config(labels=("negative", "neutral", "positive"))))
    assert (o.passed, o.value) == (False, None)
    assert o.message == "train.csv: label 'negative', 'neutral' has no rows; the model cannot learn it (max_class_imbalance 10.0)"


def test_class_balance_pass() -> None:
    o = only(tc.check_class_balance({"train": balanced("train", 4)}, data_config()))
    assert o.passed
    assert o.message == "train.csv: every label has 2 rows: ratio 1.00 (max_class_imbalance 10.0)"
