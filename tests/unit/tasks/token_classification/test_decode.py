"""token-classification's decoding: word tags from subword logits, entities from word tags (as the
token-classification pipeline groups them with aggregation_strategy="first"), offsets into the text."""

from __future__ import annotations

import numpy as np
import pytest

from ml_ci.tasks.token_classification import decode
from ml_ci.tasks.token_classification.decode import Entity, Span
from ml_ci.tasks.token_classification.words import join, split

TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")


def test_each_word_takes_its_first_subwords_logits() -> None:
    # [CLS] Wash ##ington is [SEP]: word 0 has two subwords, word 2 was cut off by truncation.
    firsts = decode.first_subwords([None, 0, 0, 1, None], 3)
    assert firsts == [1, 3, None]
    logits = np.array([[9, 0, 0, 0, 0], [0, 5, 0, 0, 0], [0, 0, 0, 0, 7], [3, 0, 0, 0, 0], [9, 0, 0, 0, 0]], dtype=np.float32)
    words = decode.gather(logits, firsts)
    assert words[:2].tolist() == [[0, 5, 0, 0, 0], [3, 0, 0, 0, 0]] and np.isnan(words[2]).all()
    tags, scores = decode.word_tags(words, TAGS)
    assert tags == ["B-PER", "O", "O"]  # the second subword's I-LOC is ignored; the cut word is O
    assert scores[0] == pytest.approx(np.exp(5) / (np.exp(5) + 4)) and scores[2] is None


def test_near_ties_are_the_words_whose_top_two_probabilities_are_close() -> None:
    logits = np.log(np.array([[0.5, 0.4996, 0.0004], [0.9, 0.05, 0.05], [np.nan] * 3], dtype=np.float32))
    assert decode.near_ties(logits, 2e-3) == [0]
    assert decode.near_ties(logits, 0.9) == [0, 1]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [Span("PER", 0, 1), Span("LOC", 3, 3)]),
        # B- always starts a new entity, even of the same type.
        (["B-PER", "B-PER", "I-PER"], [Span("PER", 0, 0), Span("PER", 1, 2)]),
        # Illegal in strict IOB2: I-X after O, or after another type, starts an entity (as the pipeline does).
        (["O", "I-PER", "I-PER"], [Span("PER", 1, 2)]),
        (["B-PER", "I-LOC", "I-LOC", "I-PER"], [Span("PER", 0, 0), Span("LOC", 1, 2), Span("PER", 3, 3)]),
        (["I-LOC"], [Span("LOC", 0, 0)]),
        (["O", "O"], []),
        ([], []),
    ],
)
def test_iob2_grouping(tags: list[str], expected: list[Span]) -> None:
    assert decode.spans(tags, "IOB2") == expected


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["B-PER", "I-PER", "E-PER", "S-LOC"], [Span("PER", 0, 2), Span("LOC", 3, 3)]),
        (["S-PER", "S-PER"], [Span("PER", 0, 0), Span("PER", 1, 1)]),
        # E- closes: what follows starts anew, I- included.
        (["B-PER", "E-PER", "I-PER", "E-PER"], [Span("PER", 0, 1), Span("PER", 2, 3)]),
        # Illegal: E-X with nothing of X open is a one-word entity; B-X without an E-X ends at the next O.
        (["O", "E-LOC", "B-PER", "O"], [Span("LOC", 1, 1), Span("PER", 2, 2)]),
        (["B-PER", "S-PER"], [Span("PER", 0, 0), Span("PER", 1, 1)]),
        (["B-PER", "E-LOC"], [Span("PER", 0, 0), Span("LOC", 1, 1)]),
    ],
)
def test_bioes_grouping(tags: list[str], expected: list[Span]) -> None:
    assert decode.spans(tags, "BIOES") == expected


def test_entities_have_character_offsets_into_the_raw_text_and_the_mean_score() -> None:
    text = "  Angela Merkel visited\tNew York, (U.S.) today."
    words = split(text)
    assert [w.text for w in words] == ["Angela", "Merkel", "visited", "New", "York", ",", "(", "U.S.", ")", "today", "."]
    tags = ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "O", "B-LOC", "O", "O", "O"]
    scores = [0.9, 0.7, 0.99, 0.6, 0.8, 1.0, 1.0, 0.5, 1.0, 1.0, 1.0]
    found = decode.entities(tags, scores, [(w.start, w.end) for w in words], text)
    assert found == [
        Entity("PER", 2, 15, "Angela Merkel", pytest.approx(0.8)),  # type: ignore[arg-type]
        Entity("LOC", 24, 32, "New York", pytest.approx(0.7)),  # type: ignore[arg-type]
        Entity("LOC", 35, 39, "U.S.", 0.5),
    ]
    assert all(text[e.start : e.end] == e.text for e in found)


def test_entities_of_pre_split_words_refer_to_the_words_joined_by_spaces() -> None:
    text, offsets = join(["EU", "rejects", "German", "call"])
    found = decode.entities(["B-ORG", "O", "B-MISC", "O"], [0.5, 1.0, 0.25, 1.0], offsets, text)
    assert [e.data() for e in found] == [
        {"type": "ORG", "start": 0, "end": 2, "text": "EU", "score": 0.5},
        {"type": "MISC", "start": 11, "end": 17, "text": "German", "score": 0.25},
    ]


def test_touching_covers_the_near_tie_word_and_its_neighbours() -> None:
    offsets = [(0, 2), (3, 5), (6, 8), (9, 11), (12, 14)]
    assert decode.touching((0, 2), offsets, [1])  # the word before
    assert decode.touching((6, 11), offsets, [1])  # starts on the word after
    assert not decode.touching((9, 14), offsets, [1])
    assert not decode.touching((0, 2), offsets, [])
