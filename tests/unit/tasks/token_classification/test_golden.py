"""token-classification's golden examples: what the export half writes, how the serving half reads them and
compares answers (the build's and the smoke test's wording), and the comparison with evaluate's word tags."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ml_ci.errors import OperationalError
from ml_ci.records.golden import GoldenRecord
from ml_ci.records.texts import text_hash
from ml_ci.tasks.token_classification.decode import Entity
from ml_ci.tasks.token_classification.export import golden_record
from ml_ci.tasks.token_classification.serving import (
    Golden,
    answers,
    eval_mismatches,
    golden_examples,
    mismatches,
)

TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG")
SENTENCES = [["Peter", "Blackburn", "met", "EU", "staff"], ["nothing", "here"]]


def logits(*rows: tuple[int, float]) -> np.ndarray:
    """Word logits where word i's tag is rows[i][0] with probability about rows[i][1] (the rest shared evenly)."""
    out = np.empty((len(rows), len(TAGS)), dtype=np.float32)
    for i, (tag, p) in enumerate(rows):
        rest = (1 - p) / (len(TAGS) - 1)
        out[i] = np.log(np.where(np.arange(len(TAGS)) == tag, p, rest))
    return out


# Certain answers: no near ties.
EXPECTED = [
    logits((1, 0.9), (2, 0.7), (0, 0.99), (3, 0.8), (0, 0.9)),
    logits((0, 0.95), (0, 0.95)),
]


def record(count: int = 10) -> GoldenRecord:
    data = golden_record(SENTENCES, None, TAGS, "IOB2", EXPECTED, EXPECTED, count, tolerance=1e-3)
    return GoldenRecord.from_data(data.data(), "golden.json")


def test_golden_json_holds_the_words_and_the_served_entities() -> None:
    g = record()
    assert list(g.data()) == ["scheme", "tags", "tolerance", "examples"]
    first = g.examples[0]
    assert first["tokens"] == SENTENCES[0] and first["tags"] is None and first["near_ties"] == []
    assert (
        first["expected"]
        == first["pytorch"]
        == {
            "entities": [
                {"type": "PER", "start": 0, "end": 15, "text": "Peter Blackburn", "score": pytest.approx(0.8, abs=1e-6)},
                {"type": "ORG", "start": 20, "end": 22, "text": "EU", "score": pytest.approx(0.8, abs=1e-6)},
            ]
        }
    )
    assert g.examples[1]["expected"] == {"entities": []}
    assert len(record(count=1).examples) == 1


def test_a_near_tie_word_is_marked() -> None:
    tie = [logits((3, 0.4995), (0, 0.99))]
    tie[0][0, 0] = np.log(0.4985)  # O nearly as likely as B-ORG: their probabilities within 2 * tolerance
    data = golden_record([["EU", "said"]], [["B-ORG", "O"]], TAGS, "IOB2", tie, tie, 1, tolerance=1e-3)
    assert data.examples[0]["near_ties"] == [0] and data.examples[0]["tags"] == ["B-ORG", "O"]


def served(g: GoldenRecord) -> list[tuple[Entity, ...]]:
    return [e.entities for e in golden_examples(g, "golden.json")]


def test_the_same_answers_match_and_answers_are_read_from_the_response() -> None:
    g = record()
    examples = golden_examples(g, "golden.json")
    body = {"predictions": [{"entities": [e.data() for e in ex.entities]} for ex in examples], "model_sha256": "x"}
    got = answers(body)
    assert got == served(g)
    assert mismatches(examples, got, g.allowed, caller="build") == []
    assert mismatches(examples, got, g.allowed, caller="smoke") == []
    with pytest.raises(ValueError, match="unrecognized"):
        answers({"labels": []})


def test_differences_are_named_in_each_callers_words() -> None:
    g = record()
    examples = golden_examples(g, "golden.json")
    per, org = examples[0].entities
    wrong_type = dataclasses.replace(org, type="PER")
    off = dataclasses.replace(per, score=per.score + 0.01)
    got = [(off, wrong_type), (org,)]
    assert mismatches(examples, got, 1e-3, caller="smoke") == [
        "example 0 ('Peter Blackburn met EU staff'): no ORG 'EU' at 20-22, recorded with score 0.8000 (and 1 more differences)",
        "example 1 ('nothing here'): ORG 'EU' at 20-22 (score 0.8000), not recorded",
    ]
    got = [(off, org), ()]
    assert mismatches(examples, got, 1e-3, caller="smoke") == [
        "example 0 ('Peter Blackburn met EU staff'): score of PER 'Peter Blackburn' at 0-15 0.8100, "
        "recorded 0.8000 (tolerance 0.001)"
    ]
    assert mismatches(examples, got, 1e-3, caller="build") == [
        "example 0 ('Peter Blackburn met EU staff'): entity scores differ by 1.00e-02 (tolerance 0.001)"
    ]
    assert mismatches(examples, [], 1e-3, caller="smoke") == ["sent 2 texts, got 0 predictions"]
    assert mismatches(examples, [], 1e-3, caller="build") == ["0 answers for 2 golden examples"]


def test_entities_a_near_tie_can_change_are_left_out() -> None:
    # "met" (word 2) nearly ties: PER on Peter Blackburn (beside it) and ORG on EU (beside it) may change.
    g = Golden(tuple(SENTENCES[0]), golden_examples(record(), "golden.json")[0].entities, near_ties=(2,))
    flipped = (Entity("PER", 0, 19, "Peter Blackburn met", 0.7),)
    assert mismatches([g], [flipped], 1e-3, caller="build") == []
    far = Golden(("a", "b", "c", "d", "EU"), (Entity("ORG", 8, 10, "EU", 0.8),), near_ties=(0,))
    assert mismatches([far], [()], 1e-3, caller="build") == [
        "example 0 ('a b c d EU'): no ORG 'EU' at 8-10, expected with score 0.8000"
    ]


def test_a_malformed_example_names_the_file_and_the_example() -> None:
    bad = GoldenRecord.from_data({"examples": [{"tokens": "EU", "expected": {"entities": []}}]}, "golden.json")
    with pytest.raises(OperationalError, match=r"^golden.json: golden example 0 is malformed"):
        golden_examples(bad, "golden.json")


def eval_record(predicted: list[list[str]], **head: object) -> dict[str, object]:
    rows = [
        {"index": i, "text_sha256": text_hash(" ".join(s)), "tags": p, "predicted": p}
        for i, (s, p) in enumerate(zip(SENTENCES, predicted, strict=True))
    ]
    return {"scheme": "IOB2", "tags": list(TAGS), **head, "predictions": rows}


def test_answers_are_compared_with_evaluates_word_tags() -> None:
    g = record()
    same = [["B-PER", "I-PER", "O", "B-ORG", "O"], ["O", "O"]]
    assert eval_mismatches(g, served(g), eval_record(same)) == ([], 2)
    other = [["B-PER", "O", "O", "B-ORG", "O"], ["O", "O"]]
    assert eval_mismatches(g, served(g), eval_record(other)) == (
        [
            "'Peter Blackburn met EU staff': entities PER 'Peter Blackburn' at 0-15, ORG 'EU' at 20-22, "
            "evaluated PER 'Peter' at 0-5, ORG 'EU' at 20-22"
        ],
        2,
    )
    # Another tag list, or no predictions: nothing to compare.
    assert eval_mismatches(g, served(g), eval_record(same, tags=["O", "B-X", "I-X"])) == ([], 0)
    assert eval_mismatches(g, served(g), {"verdict": "passed"}) == ([], 0)
