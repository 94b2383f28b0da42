"""token-classification's data checks on toy tables: each failure with its place (a CoNLL word's own line, or the
row and the word's index), the list of checks and which can warn (the task's schema branch)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ml_ci.config.by_task import effective
from ml_ci.config.model import Data, Drift
from ml_ci.data import checks as generic
from ml_ci.data.checks import Outcome
from ml_ci.data.table import Table
from ml_ci.resources import schema
from ml_ci.tasks.token_classification import data as ner
from ml_ci.tasks.token_classification import data_tokenizer
from ml_ci.tasks.token_classification.config import TokenClassificationSpec
from tests.unit.data.toy import data_config

TYPES = ("PER", "LOC")


def ner_data(
    *,
    scheme: str = "IOB2",
    spans_column: str | None = None,
    base: str = "no-such-model",
    max_length: int = 128,
    fmt: str | None = None,
    slice_columns: tuple[str, ...] = (),
    **checks: Any,
) -> Data:
    """A data section with the schema's defaults (text-classification's toy one, given this task's view); the task's
    thresholds (min_entities_per_type, max_type_imbalance, max_truncated_fraction) go into its view."""
    spec: dict[str, Any] = {"min_entities_per_type": 1, "max_type_imbalance": 20.0, "max_truncated_fraction": 0.0}
    spec.update({k: checks.pop(k) for k in list(checks) if k in spec})
    return replace(
        data_config(slice_columns=slice_columns, **checks),
        train="train.conll",
        validation=None,
        format=fmt,  # type: ignore[arg-type]
        spec=TokenClassificationSpec(
            entity_types=TYPES,
            scheme=scheme,  # type: ignore[arg-type]
            tokens_column="tokens",
            tags_column="tags",
            text_column="text",
            spans_column=spans_column,
            base=base,
            max_length=max_length,
            **spec,
        ),
    )


def conll(role: str, sentences: Sequence[Sequence[tuple[str, object]]], *, source: str | None = None) -> Table:
    """A table as read from a CoNLL file: sentence k starts on the line after the previous one and its blank line."""
    source = source or f"{role}.conll"
    locations, line = [], 1
    for s in sentences:
        locations.append(f"{source}:{line}")
        line += len(s) + 1
    return Table(
        role=role,
        source=source,
        columns={"tokens": [[w for w, _ in s] for s in sentences], "tags": [[t for _, t in s] for s in sentences]},
        locations=locations,
        fingerprint=f"sha256:{role}",
    )


def jsonl(role: str, rows: Sequence[Mapping[str, Any]]) -> Table:
    """A table as read from JSON Lines: row i on line i + 1."""
    source = f"{role}.jsonl"
    names = dict.fromkeys(k for r in rows for k in r)
    return Table(
        role=role,
        source=source,
        columns={k: [r.get(k) for r in rows] for k in names},
        locations=[f"{source}:{i + 1}" for i in range(len(rows))],
        fingerprint=f"sha256:{role}",
    )


def S(text: str) -> list[tuple[str, object]]:
    """'Peter/B-PER lives/O' as a sentence."""
    return [(w.rsplit("/", 1)[0], w.rsplit("/", 1)[1]) for w in text.split()]


GOOD = [S("Peter/B-PER Blackburn/I-PER lives/O in/O Paris/B-LOC"), S("Anna/B-PER saw/O Rome/B-LOC")]


def run(name: str, tables: dict[str, Table], data: Data) -> list[Outcome]:
    check = next(c for c in ner.CHECKS if c.name == name)
    return check.run(tables, data)


def only(outcomes: list[Outcome]) -> Outcome:
    assert len(outcomes) == 1
    return outcomes[0]


def test_the_checks_in_run_order() -> None:
    assert [c.name for c in ner.CHECKS] == [
        "columns",
        "min_rows",
        "null_fraction",
        "empty_sentences",
        "words",
        "spans",
        "tag_count",
        "tags",
        "transitions",
        "duplicates",
        "truncation",
        "min_entities_per_type",
        "type_balance",
        "leakage",
        "drift",
    ]


def test_the_schema_offers_exactly_the_checks_that_can_warn() -> None:
    checks = effective(schema(), "token-classification")["properties"]["data"]["properties"]["checks"]
    severity = checks["properties"]["severity"]
    assert severity["propertyNames"]["enum"] == [c.name for c in ner.CHECKS if c.can_warn]
    assert severity["description"].endswith(
        "columns, null_fraction, spans, tag_count, tags and words are always errors: training cannot use such rows."
    )


def test_a_good_split_passes_every_check() -> None:
    data = ner_data(drift=Drift(method="psi", threshold=10.0))  # two toy splits of other lengths
    tables = {"train": conll("train", GOOD), "validation": conll("validation", [S("Bob/B-PER went/O to/O Oslo/B-LOC")])}
    outcomes = generic.run_checks(tables, data, ner.checks(), ner.columns(data))
    assert [(o.check, o.split) for o in outcomes if not o.passed] == []


def test_columns_must_hold_lists_of_words_and_of_tags() -> None:
    table = jsonl(
        "train", [{"tokens": ["a"], "tags": ["O"]}, {"tokens": "a b", "tags": ["O"]}, {"tokens": ["a", 1], "tags": "O"}]
    )
    outcome = only(run("columns", {"train": table}, ner_data()))
    assert not outcome.passed
    assert outcome.message == (
        "train.jsonl: column 'tokens' must hold lists of words (strings); other values in 2 rows: train.jsonl:2 (str), "
        "train.jsonl:3 (list); column 'tags' must hold lists of tags (names or indices); other values in 1 row: "
        "train.jsonl:3 (str)"
    )


def test_a_missing_column_names_the_setting() -> None:
    outcome = only(run("columns", {"train": jsonl("train", [{"words": ["a"], "tags": ["O"]}])}, ner_data()))
    assert (
        outcome.message
        == "train.jsonl: no column 'tokens' (columns: words, tags); rename it in the data or set data.tokens_column"
    )


def test_null_fraction_counts_rows_without_words_or_tags() -> None:
    table = jsonl("train", [{"tokens": ["a"], "tags": ["O"]}, {"tokens": None, "tags": ["O"]}, {"tokens": ["b"]}])
    outcome = only(run("null_fraction", {"train": table}, ner_data()))
    assert (outcome.passed, outcome.rows) == (False, ("train.jsonl:2", "train.jsonl:3"))
    assert outcome.message.startswith("train.jsonl: 2 of 3 rows (66.7%) miss the words or the tags, above max_null_fraction 0.0")


def test_empty_sentences() -> None:
    """A row without words (null_fraction's) is not an empty sentence."""
    table = jsonl("train", [{"tokens": ["a"], "tags": ["O"]}, {"tokens": [], "tags": []}, {"tokens": None, "tags": []}])
    outcome = only(run("empty_sentences", {"train": table}, ner_data()))
    assert (outcome.passed, outcome.value, outcome.rows) == (False, 1 / 3, ("train.jsonl:2",))
    assert outcome.message == (
        "train.jsonl: 1 of 3 sentences (33.3%) have no word, above max_empty_fraction 0.0; first: train.jsonl:2"
    )
    assert only(run("empty_sentences", {"train": table}, ner_data(max_empty_fraction=0.5))).passed


def test_a_bad_word_in_a_conll_file_is_named_at_its_own_line() -> None:
    """The sentence starts on line 7 (after 5 words and a blank line): its third word is on line 9."""
    table = conll("train", [GOOD[0], [("a", "O"), ("b", "O"), ("New York", "B-LOC")], [("", "O")]])
    outcome = only(run("words", {"train": table}, ner_data()))
    assert not outcome.passed
    assert outcome.rows == ("train.conll:9", "train.conll:11")
    assert outcome.message == (
        "train.conll: 2 words empty or holding whitespace (ml-ci joins a sentence's words with single spaces and splits "
        "them back: split such a word in two, or drop it): train.conll:9 ('New York' contains whitespace), "
        "train.conll:11 (an empty word)"
    )


def test_a_bad_word_in_json_lines_is_named_by_its_line_and_index() -> None:
    table = jsonl("train", [{"tokens": ["a", "b\tc"], "tags": ["O", "O"]}])
    outcome = only(run("words", {"train": table}, ner_data()))
    assert outcome.message.endswith(": train.jsonl:1 tokens[1] ('b\\tc' contains whitespace)")
    assert outcome.rows == ("train.jsonl:1",)


def test_data_format_conll_counts_lines_for_any_extension() -> None:
    table = conll("train", [[("a", "O"), (" ", "O")]], source="train.txt")
    assert only(run("words", {"train": table}, ner_data(fmt="conll"))).rows == ("train.txt:2",)
    assert only(run("words", {"train": table}, ner_data())).rows == ("train.txt:1",)


def test_tags_and_words_of_different_lengths() -> None:
    table = jsonl("train", [{"tokens": ["a", "b"], "tags": ["O"]}, {"tokens": ["a"], "tags": ["O"]}])
    outcome = only(run("tag_count", {"train": table}, ner_data()))
    assert (outcome.passed, outcome.rows) == (False, ("train.jsonl:1",))
    assert outcome.message == "train.jsonl: 1 sentence whose 'tags' and 'tokens' differ in length: train.jsonl:1 (2 words, 1 tag)"


def test_unknown_tags_name_the_word_and_say_why() -> None:
    table = conll("train", [[("a", "S-PER"), ("b", "B-DATE"), ("c", "PER"), ("d", 9), ("e", "I-LOC"), ("f", 3), ("g", "U-PER")]])
    outcome = only(run("tags", {"train": table}, ner_data()))
    assert not outcome.passed
    assert outcome.message == (
        "train.conll: 5 tags outside data.scheme IOB2's tags of data.entity_types (O, B-PER, I-PER, B-LOC, I-LOC, or "
        "their indices 0-4): train.conll:1 ('S-PER': S- is a BIOES prefix; data.scheme is IOB2), train.conll:2 "
        "('B-DATE': type 'DATE' is not one of data.entity_types (PER, LOC)), train.conll:3 ('PER': a type without its "
        "prefix: IOB2 tags are B-PER, I-PER or O), train.conll:4 (9: indices are 0-4), train.conll:7 ('U-PER': U- is "
        "BILOU's (U- is BIOES's S-, L- its E-); data.scheme is IOB2)"
    )
    assert outcome.rows == ("train.conll:1", "train.conll:2", "train.conll:3", "train.conll:4", "train.conll:7")


def test_bioes_tags_are_known_under_bioes() -> None:
    table = conll("train", [[("a", "S-PER"), ("b", "B-LOC"), ("c", "E-LOC")]])
    assert only(run("tags", {"train": table}, ner_data(scheme="BIOES"))).passed
    assert not only(run("tags", {"train": table}, ner_data())).passed


@pytest.mark.parametrize(
    ("tags", "found"),
    [
        ("O B-PER I-PER O B-LOC I-LOC I-LOC", []),
        ("I-PER O", ["train.conll:1 (I-PER after the sentence's start: an entity begins with B-PER)"]),
        ("O I-PER I-PER", ["train.conll:2 (I-PER after O: an entity begins with B-PER)"]),
        ("B-LOC I-PER", ["train.conll:2 (I-PER after B-LOC: an entity begins with B-PER)"]),
        ("B-PER I-PER I-LOC", ["train.conll:3 (I-LOC after I-PER: an entity begins with B-LOC)"]),
    ],
)
def test_iob2_transitions(tags: str, found: list[str]) -> None:
    table = conll("train", [[(f"w{i}", t) for i, t in enumerate(tags.split())]])
    outcome = only(run("transitions", {"train": table}, ner_data()))
    assert outcome.passed is (not found)
    assert (
        outcome.message.endswith(", ".join(found))
        if found
        else outcome.message == "train.conll: every tag follows the IOB2 scheme"
    )


@pytest.mark.parametrize(
    ("tags", "found"),
    [
        ("S-PER O B-LOC I-LOC E-LOC B-PER E-PER", []),
        ("B-PER O", ["train.conll:2 (O after B-PER: a PER entity goes on with I-PER or ends with E-PER)"]),
        ("O E-PER", ["train.conll:2 (E-PER after O: an entity begins with B-PER (a one-word one is S-PER))"]),
        ("B-PER E-LOC", ["train.conll:2 (E-LOC after B-PER: a PER entity goes on with I-PER or ends with E-PER)"]),
        ("O B-LOC I-LOC", ["train.conll:3 (I-LOC ends the sentence: a LOC entity ends with E-LOC (a one-word one is S-LOC))"]),
    ],
)
def test_bioes_transitions(tags: str, found: list[str]) -> None:
    table = conll("train", [[(f"w{i}", t) for i, t in enumerate(tags.split())]])
    outcome = only(run("transitions", {"train": table}, ner_data(scheme="BIOES")))
    assert outcome.passed is (not found)
    assert outcome.message.endswith(", ".join(found)) if found else outcome.message.endswith("follows the BIOES scheme")


def test_transitions_read_tag_indices_and_skip_sentences_with_unknown_tags() -> None:
    """Index 2 is I-PER: after O (0) it begins no entity. A sentence with an unknown tag is the tags check's."""
    table = jsonl("train", [{"tokens": ["a", "b"], "tags": [0, 2]}, {"tokens": ["a", "b"], "tags": ["O", "I-XX"]}])
    outcome = only(run("transitions", {"train": table}, ner_data()))
    assert outcome.message.endswith("train.jsonl:1 tags[1] (I-PER after O: an entity begins with B-PER)")
    assert outcome.value == 1


def test_duplicates_compare_the_sentences_texts() -> None:
    table = conll("train", [GOOD[0], GOOD[1], GOOD[0]])
    outcome = only(run("duplicates", {"train": table}, ner_data()))
    assert (outcome.passed, outcome.rows) == (False, ("train.conll:11",))
    assert "train.conll:11 repeats train.conll:1" in outcome.message


def test_leakage_between_splits() -> None:
    tables = {"train": conll("train", GOOD), "test": conll("test", [GOOD[1]])}
    outcome = only(run("leakage", tables, ner_data()))
    assert (outcome.passed, outcome.split) == (False, "train+test")
    assert outcome.message == "test.conll: 1 text also in train.conll (after normalization): test.conll:1 = train.conll:7"


def test_min_entities_per_type_counts_training_entities() -> None:
    tables = {"train": conll("train", [S("Peter/B-PER Blackburn/I-PER"), S("Anna/B-PER and/O Bob/B-PER")])}
    outcome = only(run("min_entities_per_type", tables, ner_data(min_entities_per_type=2)))
    assert (outcome.passed, outcome.value, outcome.details) == (False, 0, {"PER": 3, "LOC": 0})
    assert outcome.message == "train.conll: type 'LOC' has 0 entities, fewer than min_entities_per_type 2"
    tables = {"train": conll("train", [S("Peter/B-PER Paris/B-LOC Oslo/B-LOC Anna/B-PER")])}
    assert only(run("min_entities_per_type", tables, ner_data(min_entities_per_type=2))).passed


def test_type_balance() -> None:
    tables = {"train": conll("train", [S("A/B-PER B/B-PER C/B-PER Paris/B-LOC")])}
    outcome = only(run("type_balance", tables, ner_data(max_type_imbalance=2.0)))
    assert (outcome.passed, outcome.value) == (False, 3.0)
    assert outcome.message == (
        "train.conll: most frequent type 'PER' has 3 entities, least frequent 'LOC' 1: ratio 3.00, above max_type_imbalance 2.0"
    )
    assert only(run("type_balance", tables, ner_data(max_type_imbalance=3.0))).passed
    absent = only(run("type_balance", {"train": conll("train", [S("A/B-PER")])}, ner_data()))
    assert (absent.passed, absent.message) == (
        False,
        "train.conll: type 'LOC' has no entity; the model cannot learn it (max_type_imbalance 20.0)",
    )


def test_bioes_entities_are_counted_once_each() -> None:
    tables = {"train": conll("train", [S("A/S-PER B/B-LOC C/I-LOC D/E-LOC E/B-PER F/E-PER")])}
    assert only(run("min_entities_per_type", tables, ner_data(scheme="BIOES"))).details == {"PER": 2, "LOC": 1}


def test_drift_measures_the_entity_types() -> None:
    train = conll("train", [S(f"w{i}/B-PER x/O") for i in range(30)] + [S(f"v{i}/B-LOC x/O") for i in range(30)])
    test = conll("test", [S(f"u{i}/B-LOC x/O") for i in range(60)])
    outcome = only(run("drift", {"train": train, "test": test}, ner_data()))
    assert not outcome.passed
    assert outcome.message.startswith("test.conll: the entity type distribution drifted from train.conll: entity type PSI ")
    assert outcome.details["entity type"] > 0.2


def write_tokenizer(folder: Path) -> Path:
    """A WordPiece tokenizer.json where `ab` is two subwords (a ##b) and every sentence gets [CLS] and [SEP]."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3, "##b": 4, "c": 5}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder


def test_truncation_counts_sentences_and_the_words_cut(tmp_path: Path) -> None:
    """max_length 6 leaves 4 subwords after [CLS] and [SEP]: `ab c ab` (5 subwords) is longer but keeps the first
    subword of each word (no word cut: a word's tag is on its first), `ab ab ab` (6) loses its last word (whose first
    subword would be the 5th), `c c c c` (4) fits."""
    write_tokenizer(tmp_path / "model")
    sentences = [[("ab", "O"), ("c", "O"), ("ab", "B-PER")], [("ab", "O"), ("ab", "O"), ("ab", "O")], [("c", "O")] * 4]
    table = replace(conll("train", sentences), root=tmp_path)
    data = ner_data(base="model", max_length=6)
    outcome = only(run("truncation", {"train": table}, data))
    assert (outcome.passed, outcome.rows) == (False, ("train.conll:1", "train.conll:5"))
    assert outcome.details == {"measured": True, "sentences": 2, "words_cut": 1, "longest": 8}
    assert outcome.message == (
        "train.conll: 2 of 3 sentences (66.7%) longer than model.max_length 6 subwords (longest 8); 1 word would be cut, "
        "above max_truncated_fraction 0.0: raise model.max_length or split them; first: train.conll:1 (7 subwords, 0 cut), "
        "train.conll:5 (8 subwords, 1 cut)"
    )
    assert only(run("truncation", {"train": table}, ner_data(base="model", max_length=8))).passed
    assert only(run("truncation", {"train": table}, ner_data(base="model", max_length=6, max_truncated_fraction=0.7))).passed


def test_truncation_cuts_whole_words_beyond_the_limit(tmp_path: Path) -> None:
    """`ab ab ab ab` at max_length 4: two subwords fit, the first word; the other three are cut."""
    write_tokenizer(tmp_path / "model")
    table = replace(conll("train", [[("ab", "O")] * 4]), root=tmp_path)
    assert only(run("truncation", {"train": table}, ner_data(base="model", max_length=4))).details["words_cut"] == 3


def test_truncation_without_a_tokenizer_says_it_was_not_measured(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    table = replace(conll("train", GOOD), root=tmp_path)
    outcome = only(run("truncation", {"train": table}, ner_data(base="./model")))
    assert (outcome.passed, outcome.details) == (True, {"measured": False})
    assert outcome.message == "train.conll: not measured: './model' has no tokenizer.json (a fast tokenizer's file)"
    data_tokenizer.load.cache_clear()
    offline = only(run("truncation", {"train": table}, ner_data(base="org/not-cached-model")))
    assert offline.passed and offline.message.startswith(
        "train.conll: not measured: cannot read the tokenizer of 'org/not-cached-model': "
    )


def test_spans_that_cannot_become_tags_are_named() -> None:
    rows = [
        {
            "text": "Peter lives in New York.",
            "entities": [{"start": 0, "end": 5, "type": "PER"}, {"start": 15, "end": 23, "type": "LOC"}],
        },
        {"text": "Peter lives in New York.", "entities": [{"start": 0, "end": 4, "type": "PER"}]},
        {"text": "Peter lives.", "entities": [{"start": 0, "end": 5, "type": "ORG"}]},
        {"text": "New York City", "entities": [{"start": 0, "end": 8, "type": "LOC"}, {"start": 4, "end": 13, "type": "LOC"}]},
        {"text": "Oslo", "entities": [{"start": 0, "end": 9, "type": "LOC"}, {"start": "0", "end": 4, "type": "LOC"}]},
    ]
    data = ner_data(spans_column="entities")
    outcome = only(run("spans", {"train": jsonl("train", rows)}, data))
    assert not outcome.passed
    assert outcome.rows == ("train.jsonl:2", "train.jsonl:3", "train.jsonl:4", "train.jsonl:5", "train.jsonl:5")
    assert outcome.message == (
        "train.jsonl: 5 spans that cannot become tags: train.jsonl:2 entities[0] ([0, 4) 'Pete' does not fall on word "
        "boundaries (the words there: 'Peter' 0-5; docs/tasks/token-classification.md: how a text is split)), "
        "train.jsonl:3 entities[0] (type 'ORG' is not one of data.entity_types (PER, LOC)), train.jsonl:4 entities[1] "
        "([4, 13) 'York City' overlaps entities[0]), train.jsonl:5 entities[0] ([0, 9) is not a span of the text's 4 "
        "characters), train.jsonl:5 entities[1] (a span needs integer start and end (character offsets, end exclusive))"
    )
    assert [c.name for c in ner.CHECKS if c.enabled(data)] == [c.name for c in ner.CHECKS]
    assert "spans" not in [c.name for c in ner.CHECKS if c.enabled(ner_data())]


def test_spans_rows_pass_the_other_checks() -> None:
    rows = [
        {
            "text": "Peter lives in New York.",
            "entities": [{"start": 15, "end": 23, "type": "LOC"}, {"start": 0, "end": 5, "type": "PER"}],
        }
    ]
    data = ner_data(spans_column="entities")
    tables = {"train": jsonl("train", rows)}
    outcomes = generic.run_checks(tables, data, ner.checks(), ner.columns(data))
    assert [o.check for o in outcomes if not o.passed] == []
    assert only(run("min_entities_per_type", tables, data)).details == {"PER": 1, "LOC": 1}


def test_json_lines_rows_round_trip_through_the_reader(tmp_path: Path) -> None:
    """JSON Lines as read: tag indices (as Hugging Face datasets write them) and names both work."""
    from ml_ci.data.read import read_table

    path = tmp_path / "train.jsonl"
    path.write_text(
        "\n".join(json.dumps(r) for r in ({"tokens": ["EU", "rejects"], "tags": [3, 0]}, {"tokens": ["Bob"], "tags": ["I-PER"]}))
    )
    table = read_table(path, role="train", source="data/train.jsonl", fmt="json")
    outcome = only(run("transitions", {"train": table}, ner_data()))
    assert outcome.message.endswith(
        ": data/train.jsonl:2 tags[0] (I-PER after the sentence's start: an entity begins with B-PER)"
    )
