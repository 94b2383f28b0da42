"""token-classification's rows (words and tag indices, as training and evaluation read them), spans made into tags,
and what the data half tells the generic data stage (texts, strata, split keys, describe)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ml_ci.config import load_config
from ml_ci.config.model import Config
from ml_ci.errors import DataCheckError
from ml_ci.tasks.token_classification import data as ner
from ml_ci.tasks.token_classification.data_sentences import sentences
from tests.unit.tasks.token_classification.test_data_checks import GOOD, S, conll, jsonl, ner_data, write_tokenizer


def test_rows_are_words_and_tag_indices() -> None:
    """Tags as names or indices (HF datasets' ner_tags); the tag list is O, B-PER, I-PER, B-LOC, I-LOC."""
    table = jsonl(
        "train",
        [
            {"tokens": ["Peter", "Blackburn", "lives"], "tags": ["B-PER", "I-PER", "O"], "genre": "news"},
            {"tokens": ["Paris"], "tags": [3], "genre": None},
            {"tokens": [], "tags": []},  # nothing to tag: left out
        ],
    )
    assert ner.rows(table, ner_data(slice_columns=("genre",))) == {
        "tokens": [["Peter", "Blackburn", "lives"], ["Paris"]],
        "tags": [[1, 2, 0], [3]],
        "genre": ["news", None],
    }


def test_texts_are_the_words_joined_by_single_spaces() -> None:
    table = jsonl("train", [{"tokens": ["EU", "rejects", "."], "tags": ["O"] * 3}, {"tokens": None, "tags": []}])
    assert ner.texts(table, ner_data()) == ["EU rejects .", None]
    assert [t.split(" ") for t in ner.texts(table, ner_data()) if t] == [["EU", "rejects", "."]]


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ({"tokens": ["a", "b c"], "tags": ["O", "O"]}, "train.jsonl:1 ('b c' contains whitespace)"),
        ({"tokens": ["a", ""], "tags": ["O", "O"]}, "train.jsonl:1 (an empty word)"),
        ({"tokens": ["a", "b"], "tags": ["O"]}, "train.jsonl:1 (2 words, 1 tag)"),
        ({"tokens": ["a"], "tags": ["B-ORG"]}, "train.jsonl:1 (a tag outside O, B-PER, I-PER, B-LOC, I-LOC)"),
        ({"tokens": ["a"], "tags": None}, "train.jsonl:1 (no list of tags)"),
        ({"tokens": "a", "tags": ["O"]}, "train.jsonl:1 (no list of words)"),
    ],
)
def test_rows_refuse_what_training_cannot_use(row: dict[str, object], why: str) -> None:
    with pytest.raises(DataCheckError) as e:
        ner.rows(jsonl("train", [row]), ner_data())
    assert str(e.value) == f"train.jsonl: cannot use 1 row: {why}. Run `ml-ci data check` for the full report"


def test_rows_of_a_split_without_sentences_or_columns() -> None:
    with pytest.raises(DataCheckError, match=r"^train.jsonl: the split has no sentences$"):
        ner.rows(jsonl("train", [{"tokens": [], "tags": []}]), ner_data())
    with pytest.raises(DataCheckError, match=r"^train.jsonl: no column 'tags' \(columns: tokens\); set data.tokens_column"):
        ner.rows(jsonl("train", [{"tokens": ["a"]}]), ner_data())


def test_a_slice_column_may_not_take_a_name_ml_ci_gives() -> None:
    with pytest.raises(DataCheckError, match="slice column 'tags' clashes"):
        ner.rows(conll("train", GOOD), ner_data(slice_columns=("tags",)))


def test_illegal_transitions_are_still_rows() -> None:
    """The transitions check can warn: such rows train as written."""
    assert ner.rows(conll("train", [S("a/O b/I-PER")]), ner_data())["tags"] == [[0, 2]]


@pytest.mark.parametrize(
    ("scheme", "tags"),
    [
        ("IOB2", ["B-PER", "O", "O", "B-LOC", "I-LOC", "I-LOC", "O"]),
        ("BIOES", ["S-PER", "O", "O", "B-LOC", "I-LOC", "E-LOC", "O"]),
    ],
)
def test_spans_become_words_and_tags(scheme: str, tags: list[str]) -> None:
    text = "Peter lives in New York City."
    spans = [{"start": 15, "end": 28, "type": "LOC"}, {"start": 0, "end": 5, "type": "PER"}]
    data = ner_data(scheme=scheme, spans_column="entities")
    table = jsonl("train", [{"text": text, "entities": spans}])
    (sentence,) = sentences(table, data)
    assert sentence.tokens == ["Peter", "lives", "in", "New", "York", "City", "."]
    assert sentence.tags == tags
    names = ["O", *(f"{p}-{t}" for t in ("PER", "LOC") for p in (("B", "I") if scheme == "IOB2" else ("B", "I", "E", "S")))]
    assert ner.rows(table, data)["tags"] == [[names.index(t) for t in tags]]
    assert ner.columns(data) == ("text", "entities")


def test_a_row_whose_span_is_off_the_words_is_refused() -> None:
    table = jsonl("train", [{"text": "Peter lives", "entities": [{"start": 1, "end": 5, "type": "PER"}]}])
    with pytest.raises(DataCheckError, match=r"^train.jsonl: cannot use 1 row: train.jsonl:1 \(\[1, 5\) 'eter' does not fall"):
        ner.rows(table, ner_data(spans_column="entities"))


def test_strata_are_the_first_entitys_type() -> None:
    table = jsonl(
        "train",
        [
            {"tokens": ["a"], "tags": ["O"]},
            {"tokens": ["a", "b"], "tags": ["B-LOC", "B-PER"]},
            {"tokens": ["a"], "tags": ["B-PER"]},
            {"tokens": ["a"], "tags": ["X"]},
        ],
    )
    assert ner.strata(table, ner_data()) == [0, 2, 1, None]


def test_split_keys_name_what_decides_texts_and_strata() -> None:
    assert ner.split_keys(ner_data()) == ("tokens", "tags", "text", "", "IOB2", "PER", "LOC")
    assert ner.split_keys(ner_data(scheme="BIOES", spans_column="entities"))[3:5] == ("entities", "BIOES")


def test_describe_counts_words_and_entities() -> None:
    assert ner.describe(conll("train", GOOD), ner_data()) == {"words": 8, "entities": {"PER": 2, "LOC": 2}}


def test_to_dataset_has_the_tag_list_as_class_labels() -> None:
    dataset = ner.to_dataset(conll("train", GOOD), ner_data())
    assert dataset.features["tags"].feature.names == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    assert dataset[1] == {"tokens": ["Anna", "saw", "Rome"], "tags": [1, 0, 3]}


def _config(root: Path, base: str, max_length: int) -> Config:
    root.mkdir(parents=True, exist_ok=True)
    (root / "ml.yaml").write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "tiny-ner",
                "task": "token-classification",
                "data": {"train": "data/train.conll", "validation": "data/validation.conll", "entity_types": ["PER"]},
                "model": {"base": base, "max_length": max_length},
            }
        ),
        encoding="utf-8",
    )
    return load_config(root / "ml.yaml").config


def test_the_check_inputs_follow_the_tokenizer_and_max_length(tmp_path: Path) -> None:
    """The truncation check's result depends on them: the data check's cache key must change with each."""
    write_tokenizer(tmp_path / "repo" / "model")
    first = ner.check_inputs(_config(tmp_path / "repo", "./model", 16))
    assert first["model"] == {"base": "./model", "revision": None, "max_length": 16}
    assert str(first["tokenizer"]).startswith("sha256:")
    assert ner.check_inputs(_config(tmp_path / "repo", "./model", 32))["model"]["max_length"] == 32
    (tmp_path / "repo" / "model" / "tokenizer.json").write_text("{}", encoding="utf-8")
    assert ner.check_inputs(_config(tmp_path / "repo", "./model", 16))["tokenizer"] != first["tokenizer"]
    assert ner.check_inputs(_config(tmp_path / "repo", "org/hub-model", 16))["tokenizer"] is None


def test_a_hub_dataset_with_integer_tags_is_checked_and_loaded(tmp_path: Path) -> None:
    """As Hugging Face's conll2003 gives it: `ner_tags` as indices into O, B-PER, I-PER, B-ORG, ... (entity_types
    in that order), extra columns beside; a row is named `org/ner[train]: row N` and its word by index."""
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    from ml_ci.data.checks import run_checks
    from ml_ci.data.load import load_splits, load_tables

    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]
    features = Features(
        {"id": Value("string"), "tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=names))}
    )

    def fake(hub: object, split: str) -> Dataset:
        rows = {"id": ["0", "1"], "tokens": [["Peter", "Blackburn"], ["Acme", "Corp", "hires"]], "ner_tags": [[1, 2], [3, 4, 0]]}
        if split == "validation":
            rows = {"id": ["0"], "tokens": [["Acme", "fires", "Peter"]], "ner_tags": [[3, 0, 2]]}
        return Dataset.from_dict(rows, features=features)

    root = tmp_path / "repo"
    root.mkdir()
    doc = {
        "version": 1,
        "name": "hub-ner",
        "task": "token-classification",
        "data": {
            "hub": {"id": "org/ner", "splits": {"train": "train", "validation": "validation"}, "revision": "abc"},
            "tags_column": "ner_tags",
            "entity_types": ["PER", "ORG"],
            "checks": {"min_rows": 1, "drift": {"method": "psi", "threshold": 10.0}},
        },
        "model": {"base": "org/not-cached", "max_length": 16},
    }
    (root / "ml.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    config = load_config(root / "ml.yaml").config
    tables = load_tables(config, hub_loader=fake)  # type: ignore[arg-type]
    outcomes = run_checks(tables, config.data, ner.checks(), ner.columns(config.data))
    failed = [o for o in outcomes if not o.passed]
    assert [(o.check, o.split) for o in failed] == [("transitions", "validation")]
    assert failed[0].message.endswith(": org/ner[validation]: row 1 ner_tags[2] (I-PER after O: an entity begins with B-PER)")
    splits = load_splits(config, hub_loader=fake)  # type: ignore[arg-type]
    assert splits["train"]["tags"] == [[1, 2], [3, 4, 0]]
    assert splits["train"].features["tags"].feature.names == names
