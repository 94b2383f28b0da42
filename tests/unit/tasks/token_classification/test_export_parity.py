"""token-classification's export half without a model: the parity check on toy word logits, model.json's
payload and the image's labels, and a split's sentences and gold tags."""

from __future__ import annotations

import numpy as np
import pytest

from ml_ci.records.model import ModelRecord
from ml_ci.tasks.token_classification.export import compare, examples, image_labels, read_parity

TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
NAN = float("nan")


def words(*tags: int) -> np.ndarray:
    out = np.zeros((len(tags), len(TAGS)), dtype=np.float32)
    for i, t in enumerate(tags):
        out[i, t] = 4.0
    return out


REF = [words(1, 2, 0, 3), words(0, 0)]
GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-LOC"]]


def test_identical_logits_pass() -> None:
    p = compare(REF, [r.copy() for r in REF], GOLD, TAGS, "IOB2", min_agreement=0.995, max_accuracy_drop=0.01)
    assert (p.words, p.tag_agreement, p.entity_f1, p.max_abs_logit_diff, p.entities_pytorch) == (6, 1.0, 1.0, 0.0, 2)
    assert p.f1_pytorch == pytest.approx(0.8) and p.f1_drop == 0.0  # 2 of 2 found, 2 of 3 gold
    assert p.passed and p.record()["passed"] is True
    assert read_parity({**p.record(), "quantize": "none", "sha256": "x"}) == p


def test_one_word_flipped_fails_tags_entities_and_f1() -> None:
    exported = [words(1, 0, 0, 3), words(0, 0)]  # "I-PER" -> "O": the PER entity is one word shorter
    p = compare(REF, exported, GOLD, TAGS, "IOB2", min_agreement=0.995, max_accuracy_drop=0.01)
    assert p.tag_agreement == pytest.approx(5 / 6) and p.entity_f1 == pytest.approx(0.5)
    assert p.max_abs_logit_diff == pytest.approx(4.0)
    assert p.failures == [
        "the exported model tags 83.33% of 6 validation words as PyTorch does; package.min_agreement is 99.50%",
        "the exported model's entities match PyTorch's with F1 0.5000 on 2 validation sentences (2 entities in "
        "PyTorch, 2 exported); package.min_agreement is 99.50%",
        "entity F1 drops by 0.4000 (0.8000 in PyTorch, 0.4000 exported); package.max_accuracy_drop is 0.01",
    ]
    assert "entity F1 0.8000 -> 0.4000" in p.summary()


def test_without_gold_tags_only_agreement_counts_and_no_entities_agree() -> None:
    p = compare([words(0, 0)], [words(0, 0)], None, TAGS, "IOB2", min_agreement=1.0, max_accuracy_drop=0.0)
    assert p.f1_pytorch is None and p.entity_f1 == 1.0 and p.passed


def test_words_cut_off_are_not_compared() -> None:
    ref = words(1, 2, 0)
    ref[2] = NAN
    p = compare([ref], [ref.copy()], None, TAGS, "IOB2", min_agreement=1.0, max_accuracy_drop=0.0)
    assert p.words == 2 and p.tag_agreement == 1.0
    with pytest.raises(ValueError, match="cannot be compared"):
        compare([ref], [], None, TAGS, "IOB2", min_agreement=1.0, max_accuracy_drop=0.0)


def test_examples_give_words_and_tag_names() -> None:
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    features = Features({"tokens": Sequence(Value("string")), "tags": Sequence(ClassLabel(names=list(TAGS)))})
    ds = Dataset.from_dict({"tokens": [["EU", "Peter"]], "tags": [[3, 1]]}, features=features)
    assert examples(ds) == ([["EU", "Peter"]], [["B-LOC", "B-PER"]])
    assert examples(ds.remove_columns("tags")) == ([["EU", "Peter"]], None)


def test_image_labels_are_the_scheme_and_entity_types() -> None:
    payload = {"scheme": "BIOES", "entity_types": ["PER", "LOC"], "tags": list(TAGS)}
    head = {"name": "n", "task": "token-classification", "max_length": 8, "onnx": "model.onnx", "sha256": "x"}
    model = ModelRecord.from_data({**head, **payload, "inputs": ["input_ids"], "pad_id": 0})
    assert model.payload == payload
    assert image_labels(model) == {"scheme": "BIOES", "entity_types": "PER,LOC"}
