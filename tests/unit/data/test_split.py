"""The validation split held out of train (data.validation: {split_from: train}): pure, on toy rows."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import replace

from ml_ci.config.model import Data, SplitFrom
from ml_ci.data import split
from ml_ci.data.split import default_holdout, held_out, holdout
from ml_ci.data.table import Table
from ml_ci.resources import schema
from ml_ci.tasks.text_classification import data as tc
from tests.unit.data.toy import data_config, table


def derived_fingerprint(file_fingerprint: str, data: Data, spec: SplitFrom, role: str) -> str:
    return split.derived_fingerprint(file_fingerprint, spec, role, tc.split_keys(data))


def split_table(train: Table, data: Data, spec: SplitFrom) -> tuple[Table, Table]:
    """As load_tables splits it for text-classification: stratified by label."""
    return split.split_table(train, spec, texts=tc.texts(train, data), strata=tc.strata(train, data), keys=tc.split_keys(data))


def rows(counts: dict[int, int]) -> tuple[list[object], list[int | None]]:
    """Distinct texts, `counts[label]` of each label, labels interleaved as a real file would have them."""
    texts: list[object] = []
    labels: list[int | None] = []
    left = dict(counts)
    i = 0
    while any(left.values()):
        for label in sorted(left):
            if left[label]:
                texts.append(f"review {i} of class {label}")
                labels.append(label)
                left[label] -= 1
                i += 1
    return texts, labels


def test_each_label_gives_its_fraction_and_a_rare_one_is_in_both_splits() -> None:
    texts, labels = rows({0: 100, 1: 50, 2: 3})
    held = held_out(texts, labels, 0.1, seed=0)
    assert Counter(labels[i] for i in held) == {0: 10, 1: 5, 2: 1}
    assert held == sorted(held)
    # A label with a single row stays in train: the model must see it once.
    texts, labels = rows({0: 20, 1: 1})
    assert Counter(labels[i] for i in held_out(texts, labels, 0.5, seed=0)) == {0: 10}


def test_the_same_rows_and_seed_give_the_same_split_and_another_seed_another() -> None:
    texts, labels = rows({0: 60, 1: 60})
    first = held_out(texts, labels, 0.2, seed=0)
    assert held_out(list(texts), list(labels), 0.2, seed=0) == first
    assert held_out(texts, labels, 0.2, seed=1) != first


def test_appending_rows_keeps_most_held_out_rows_where_they_were() -> None:
    """Rows are ordered by a hash of their text, not by position: new rows at the end move few old ones."""
    texts, labels = rows({0: 200, 1: 200})
    before = {texts[i] for i in held_out(texts, labels, 0.1, seed=0)}
    more_texts, more_labels = rows({0: 220, 1: 220})
    after = {more_texts[i] for i in held_out(more_texts, more_labels, 0.1, seed=0)}
    assert len(before & after) >= 0.8 * len(before)


def test_near_duplicate_texts_land_on_the_same_side() -> None:
    """The split never puts a text in validation and its normalized twin in train (no leakage from the split)."""
    texts: list[object] = [f"Text number {i}!" for i in range(40)]
    texts += [f"text  number {i}" for i in range(40)]
    labels: list[int | None] = [i % 2 for i in range(40)]
    labels += labels
    held = set(held_out(texts, labels, 0.25, seed=0))
    assert held
    for i in range(40):
        assert (i in held) == (i + 40 in held)


def test_rows_without_text_or_known_label_stay_in_train() -> None:
    texts: list[object] = ["a", None, "  ", "b", "c", "d", 5]
    labels: list[int | None] = [0, 0, 0, None, 0, 0, 0]
    held = held_out(texts, labels, 0.5, seed=0)
    assert set(held) <= {0, 4, 5}


def test_split_table_keeps_each_rows_line_in_the_training_file() -> None:
    data = data_config()
    train = table("train", [f"text {i}" for i in range(20)], ["negative", "positive"] * 10, source="data/train.csv")
    spec = SplitFrom(split_from="train", fraction=0.2, seed=0)
    kept, validation = split_table(train, data, spec)
    assert (len(kept), len(validation)) == (16, 4)
    assert sorted(kept.locations + validation.locations, key=lambda s: int(s.split(":")[1])) == train.locations
    assert not set(kept.column("text")) & set(validation.column("text"))
    assert validation.source == "data/train.csv (20% held out, seed 0)"
    assert kept.source == "data/train.csv"
    assert validation.role == "validation"
    assert validation.fingerprint == derived_fingerprint(train.fingerprint, data, spec, "validation")
    assert kept.fingerprint == derived_fingerprint(train.fingerprint, data, spec, "train")


def test_the_fingerprint_changes_with_everything_that_chooses_the_rows() -> None:
    data = data_config()
    spec = SplitFrom(split_from="train", fraction=0.1, seed=0)
    base = derived_fingerprint("sha256:aa", data, spec, "validation")
    assert base.startswith("sha256:")
    others = [
        derived_fingerprint("sha256:ab", data, spec, "validation"),
        derived_fingerprint("sha256:aa", data, spec, "train"),
        derived_fingerprint("sha256:aa", data, replace(spec, fraction=0.2), "validation"),
        derived_fingerprint("sha256:aa", data, replace(spec, seed=1), "validation"),
        derived_fingerprint("sha256:aa", data_config(labels=("positive", "negative")), spec, "validation"),
    ]
    assert len({base, *others}) == 6


def test_the_fingerprint_is_the_one_made_before_tasks_held_the_label_settings() -> None:
    # Cache keys and lineage of every trained model name it: moving the label settings into the task
    # must not change one byte of it.
    data = data_config()
    spec = SplitFrom(split_from="train", fraction=0.1, seed=0)
    parts = ["holdout-v1", "sha256:aa", "validation", "0.1", "0", "text", "label", "negative", "positive"]
    assert derived_fingerprint("sha256:aa", data, spec, "validation") == (
        "sha256:" + hashlib.sha256("\0".join(parts).encode()).hexdigest()
    )


def test_no_validation_means_the_schemas_default_hold_out() -> None:
    props = schema()["properties"]["data"]["properties"]["validation"]["properties"]
    assert default_holdout() == SplitFrom(
        split_from="train", fraction=props["fraction"]["default"], seed=props["seed"]["default"]
    )
    assert holdout(replace(data_config(), validation=None)) == default_holdout()
    assert holdout(data_config()) is None  # a file
    spec = SplitFrom(split_from="train", fraction=0.3, seed=2)
    assert holdout(replace(data_config(), validation=spec)) == spec
