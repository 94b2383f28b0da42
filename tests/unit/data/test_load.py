"""load_splits: Datasets with int labels and fingerprints; the light fingerprints(); the hub path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ml_ci.config import Config, load_config
from ml_ci.config.model import HubDataset
from ml_ci.data.fingerprint import combined, fingerprints
from ml_ci.data.load import load_splits, load_tables
from ml_ci.errors import ConfigError, DataCheckError, OperationalError
from tests.modelrepo import make_model_repo


def repo(tmp_path: Path, **data: object) -> Config:
    overrides = {"data": data} if data else None
    return load_config(make_model_repo(tmp_path, n_train=20, n_val=6, n_test=6, overrides=overrides)).config


def test_load_splits_gives_text_and_int_label(tmp_path: Path) -> None:
    config = repo(tmp_path)
    (tmp_path / "data/test.csv").write_text("text,label\nnice one,1\nbad one,negative\n", encoding="utf-8")
    splits = load_splits(config)
    assert splits.roles == ("train", "validation", "test")
    assert splits["test"].to_dict() == {"text": ["nice one", "bad one"], "label": [1, 0]}
    assert splits["test"].features["label"].names == ["negative", "positive"]
    assert len(splits["train"]) == 20
    assert splits["reference"] is splits["train"]
    assert splits.get("nothing") is None
    assert splits.fingerprints == fingerprints(config)
    assert splits.sources == {"train": "data/train.csv", "validation": "data/validation.csv", "test": "data/test.csv"}


def test_fingerprints_of_some_roles_read_only_those_files(tmp_path: Path) -> None:
    """A stage hashes the splits it reads: an unreadable test split does not stop tune's key."""
    config = repo(tmp_path)
    everything = fingerprints(config)
    (tmp_path / "data/test.csv").unlink()
    assert fingerprints(config, ("train", "validation")) == {k: everything[k] for k in ("train", "validation")}
    assert fingerprints(config, ["nothing"]) == {}


def test_a_reference_file_is_its_own_split(tmp_path: Path) -> None:
    config = repo(tmp_path, reference="data/validation.csv")
    splits = load_splits(config)
    assert splits.roles == ("train", "validation", "test", "reference")
    assert splits["reference"].to_dict() == splits["validation"].to_dict()
    assert fingerprints(config)["reference"] == fingerprints(config)["validation"]


def test_slice_columns_are_kept_as_text(tmp_path: Path) -> None:
    config = repo(tmp_path, slice_columns=["source"])
    for name in ("train", "validation", "test"):
        (tmp_path / f"data/{name}.csv").write_text("text,label,source\na,0,web\nb,1,\n", encoding="utf-8")
    assert load_splits(config)["train"].to_dict() == {"text": ["a", "b"], "label": [0, 1], "source": ["web", None]}


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            "a,neutral\n,positive\nc,positive\n",
            "data/train.csv: cannot use 2 rows: data/train.csv:2 (label 'neutral' is not one of ['negative', 'positive']); "
            "data/train.csv:3 (text is missing). Run `ml-ci data check` for the full report",
        ),
        # Issue 22: labels written `3.0` (a float column saved as text) failed every row without a hint.
        (
            "a,1.0\nb,0.0\n",
            "data/train.csv: cannot use 2 rows: data/train.csv:2 (label '1.0' is not one of ['negative', 'positive']); "
            "data/train.csv:3 (label '0.0' is not one of ['negative', 'positive']); labels such as '1.0' are read as text: "
            "write label indices as integers (1) or as names from data.labels. Run `ml-ci data check` for the full report",
        ),
    ],
    ids=["unknown-label-and-missing-text", "float-labels"],
)
def test_rows_that_cannot_be_trained_on_are_named(tmp_path: Path, rows: str, expected: str) -> None:
    config = repo(tmp_path)
    (tmp_path / "data/train.csv").write_text("text,label\n" + rows, encoding="utf-8")
    with pytest.raises(DataCheckError) as e:
        load_splits(config)
    assert str(e.value) == expected


def test_missing_column_and_empty_split(tmp_path: Path) -> None:
    config = repo(tmp_path)
    (tmp_path / "data/train.csv").write_text("sentence,label\na,0\n", encoding="utf-8")
    with pytest.raises(DataCheckError) as e:
        load_splits(config)
    assert str(e.value) == "data/train.csv: no column 'text' (columns: sentence, label); set data.text_column / data.label_column"
    (tmp_path / "data/train.csv").write_text("text,label\n", encoding="utf-8")
    with pytest.raises(DataCheckError, match=r"^data/train\.csv: the split has no rows$"):
        load_splits(config)


def test_unknown_extension_needs_data_format(tmp_path: Path) -> None:
    config = repo(tmp_path)
    (tmp_path / "data/train.txt").write_text("text,label\na,0\n", encoding="utf-8")
    config = repo(tmp_path, train="data/train.txt")
    with pytest.raises(ConfigError) as e:
        load_tables(config)
    assert str(e.value) == (
        f"{config.path}: data.train: cannot tell the format of 'data/train.txt' from its extension; "
        "set data.format (csv, tsv, json, parquet or conll)"
    )
    assert load_tables(repo(tmp_path, train="data/train.txt", format="csv"))["train"].columns["text"] == ["a"]


def test_combined_fingerprint_depends_on_roles_and_content() -> None:
    a = combined({"train": "sha256:1", "test": "sha256:2"})
    assert a == combined({"test": "sha256:2", "train": "sha256:1"})
    assert a != combined({"train": "sha256:2", "test": "sha256:1"})


def hub_config(tmp_path: Path, revision: str | None = "abc123") -> Config:
    path = make_model_repo(tmp_path, n_train=4, n_val=2, n_test=2)
    doc = yaml.safe_load(path.read_text())
    hub: dict[str, object] = {"id": "org/reviews", "splits": {"train": "train", "validation": "dev"}}
    if revision:
        hub["revision"] = revision
    doc["data"] = {"hub": hub, "labels": ["negative", "positive"], "text_column": "sentence"}
    path.write_text(yaml.safe_dump(doc))
    return load_config(path).config


def test_hub_splits_load_through_the_loader_with_revision(tmp_path: Path) -> None:
    from datasets import Dataset

    calls: list[tuple[str, str | None, str]] = []

    def fake(hub: HubDataset, split: str) -> Dataset:
        calls.append((hub.id, hub.revision, split))
        return Dataset.from_dict({"sentence": [f"{split} text", "more"], "label": [1, 0]})

    config = hub_config(tmp_path)
    splits = load_splits(config, hub_loader=fake)
    assert calls == [("org/reviews", "abc123", "train"), ("org/reviews", "abc123", "dev")]
    assert splits["validation"].to_dict() == {"text": ["dev text", "more"], "label": [1, 0]}
    assert splits.sources == {"train": "org/reviews[train]", "validation": "org/reviews[dev]"}
    assert splits.fingerprints["train"].startswith("hub:org/reviews/default[train]@abc123#")
    assert fingerprints(config) == {
        "train": "hub:org/reviews/default[train]@abc123",
        "validation": "hub:org/reviews/default[dev]@abc123",
    }
    assert fingerprints(hub_config(tmp_path / "unpinned", revision=None))["train"] == "hub:org/reviews/default[train]@unpinned"
    assert fingerprints(config, ["validation"]) == {"validation": "hub:org/reviews/default[dev]@abc123"}


def tsv_repo(tmp_path: Path, n: int = 120, **data: object) -> Config:
    """A six-label TSV data set with integer labels and no validation file (issue 22's first hour)."""
    path = make_model_repo(tmp_path, n_train=4, n_val=2, n_test=2)
    lines = ["sentence\tcategory"] + [f"question {i} about topic {i % 6}\t{i % 6}" for i in range(n)]
    (tmp_path / "data/train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    doc = yaml.safe_load(path.read_text())
    doc["data"] = {
        "train": "data/train.tsv",
        "text_column": "sentence",
        "label_column": "category",
        "labels": ["abbr", "desc", "enty", "hum", "loc", "num"],
        **data,
    }
    path.write_text(yaml.safe_dump(doc))
    return load_config(path).config


def test_a_tsv_with_no_validation_file_loads_a_held_out_validation_split(tmp_path: Path) -> None:
    """Issue 22: no validation file; 10% of each label of train is held out, and left out of training."""
    config = tsv_repo(tmp_path)
    assert config.data.validation is None
    splits = load_splits(config)
    assert splits.roles == ("train", "validation")
    assert (len(splits["train"]), len(splits["validation"])) == (108, 12)
    assert sorted(splits["validation"]["label"]) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert not set(splits["train"]["text"]) & set(splits["validation"]["text"])
    assert splits.sources == {"train": "data/train.tsv", "validation": "data/train.tsv (10% held out, seed 0)"}
    # Fingerprinted like a file, without reading a row: what the stages' cache keys use.
    assert splits.fingerprints == fingerprints(config)
    assert fingerprints(config, ["validation"]) == {"validation": splits.fingerprints["validation"]}
    # The same data gives the same split.
    again = load_splits(tsv_repo(tmp_path / "again"))
    assert again["validation"].to_dict() == splits["validation"].to_dict()
    assert again.fingerprints == splits.fingerprints


def test_split_from_train_takes_its_fraction_and_seed(tmp_path: Path) -> None:
    config = tsv_repo(tmp_path, validation={"split_from": "train", "fraction": 0.25, "seed": 3})
    tables = load_tables(config)
    assert (len(tables["train"]), len(tables["validation"])) == (90, 30)
    assert tables["validation"].locations[0].startswith("data/train.tsv:")
    default = tsv_repo(tmp_path / "default")
    assert fingerprints(config)["validation"] != fingerprints(default)["validation"]
    assert fingerprints(config)["train"] != fingerprints(default)["train"]
    reseeded = tsv_repo(tmp_path / "reseeded", validation={"split_from": "train", "fraction": 0.25, "seed": 4})
    assert load_tables(reseeded)["validation"].columns != tables["validation"].columns


def test_a_missing_validation_file_names_data_validation(tmp_path: Path) -> None:
    """Issue 22: `data/valid.csv: no such file` did not say which key names it."""
    config = repo(tmp_path, validation="data/valid.csv")
    expected = "data/valid.csv: no such file (named by data.validation in ml.yaml: fix the path there or add the file)"
    with pytest.raises(OperationalError) as e:
        fingerprints(config)
    assert str(e.value) == expected
    with pytest.raises(OperationalError) as e:
        load_tables(config)
    assert str(e.value) == expected


def test_data_delimiter_reaches_the_reader(tmp_path: Path) -> None:
    config = repo(tmp_path, train="data/train.txt", format="csv", delimiter="|")
    (tmp_path / "data/train.txt").write_text("text|label\nsemi; colon, comma|1\n", encoding="utf-8")
    with pytest.raises(DataCheckError) as e:  # one delimiter for every split: the others say so
        load_tables(config)
    assert str(e.value) == (
        "data/validation.csv:1: the header 'text,label' holds a comma but is read as one column, "
        "split on '|' characters; set data.delimiter: ','"
    )
    for name in ("validation", "test"):
        path = tmp_path / f"data/{name}.csv"
        path.write_text(path.read_text(encoding="utf-8").replace(",", "|"), encoding="utf-8")
    assert load_tables(config)["train"].columns == {"text": ["semi; colon, comma"], "label": ["1"]}
