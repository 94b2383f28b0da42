"""From a model's subword logits to word tags, and from word tags to entities with character offsets.

One decoding, used wherever entities are made: the server's answers, the export's parity check and golden
examples, and the comparisons of the build's image check and the smoke test (with evaluate's word tags too).

Words: each word's tag is the argmax of its FIRST subword's logits and its score that tag's softmax
probability; the other subwords are ignored (as training labels only the first). A word with no subword
(cut by truncation at model.max_length, or made of characters the tokenizer drops) is `O` with no score:
it is never part of an entity.

Entities: grouped as transformers' `pipeline("token-classification", aggregation_strategy="first")`
groups word tags: `B-X` starts an entity of X; `I-X` continues the entity just before when it is of X,
and otherwise (after `O`, or after another type) starts one; `O` ends it. BIOES adds: `E-X` continues an
entity of X and ends it (with nothing of X open, it is a one-word entity), `S-X` is a one-word entity, and
after an end an `I-X` or `E-X` starts a new entity. So every tag sequence decodes, illegal ones included
(`I-X` after `O` is an entity, not an error: what was served is what is compared). An entity's score is
the mean of its words' scores, its offsets the first word's start and the last word's end (end exclusive).

Standard library and numpy only: the serving image imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Span:
    """An entity over words: its type and its first and last word (inclusive)."""

    type: str
    first: int
    last: int


@dataclass(frozen=True)
class Entity:
    """An entity as served: type, character offsets into the text (end exclusive), its text and score."""

    type: str
    start: int
    end: int
    text: str
    score: float

    def data(self) -> dict[str, object]:
        return {"type": self.type, "start": self.start, "end": self.end, "text": self.text, "score": self.score}


def first_subwords(word_ids: Sequence[Optional[int]], words: int) -> list[Optional[int]]:
    """Each word's first subword position in an encoding (its `word_ids`: the word of each position, None
    for special tokens); None for a word with no subword."""
    firsts: list[Optional[int]] = [None] * words
    for position, word in enumerate(word_ids):
        if word is not None and word < words and firsts[word] is None:
            firsts[word] = position
    return firsts


def gather(logits: Floats, firsts: Sequence[Optional[int]]) -> Floats:
    """The rows of `logits` (positions x tags) at each word's first subword: words x tags, NaN where none."""
    out = np.full((len(firsts), logits.shape[-1]), np.nan, dtype=np.float32)
    for word, position in enumerate(firsts):
        if position is not None:
            out[word] = logits[position]
    return out


def softmax(logits: Floats) -> Floats:
    """Over the last axis (NaN rows stay NaN)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    out: Floats = e / e.sum(axis=-1, keepdims=True)
    return out


def word_tags(word_logits: Floats, tags: Sequence[str]) -> tuple[list[str], list[Optional[float]]]:
    """Each word's tag and score from its first subword's logits (words x tags); a NaN row is `O` without score."""
    names: list[str] = []
    scores: list[Optional[float]] = []
    probabilities = softmax(word_logits.astype(np.float64))
    for row in probabilities:
        if np.isnan(row).any():
            names.append("O")
            scores.append(None)
        else:
            best = int(row.argmax())
            names.append(tags[best])
            scores.append(float(row[best]))
    return names, scores


def near_ties(word_logits: Floats, margin: float) -> list[int]:
    """The words whose two most probable tags are within `margin` of each other: their tag may flip between
    two correct runtimes."""
    if word_logits.shape[-1] < 2:
        return []
    top2 = np.sort(softmax(word_logits.astype(np.float64)), axis=-1)[:, -2:]
    return [i for i, (second, first) in enumerate(top2) if not np.isnan(first) and first - second <= margin]


def _split(tag: str) -> tuple[str, str]:
    """(prefix, type); `O` is ("O", ""). A tag without a prefix counts as I- of itself, as the pipeline has it."""
    if tag == "O":
        return "O", ""
    prefix, dash, kind = tag.partition("-")
    if dash and prefix in ("B", "I", "E", "S"):
        return prefix, kind
    return "I", tag


def spans(tags: Sequence[str], scheme: str = "IOB2") -> list[Span]:
    """The entities of a sentence's word tags, in order (see the module's docstring for the grouping)."""
    out: list[Span] = []
    open_type: Optional[str] = None  # the type of the entity the previous word belongs to, while it may go on
    start = 0

    def close(last: int) -> None:
        nonlocal open_type
        if open_type is not None:
            out.append(Span(open_type, start, last))
        open_type = None

    for i, tag in enumerate(tags):
        prefix, kind = _split(tag)
        if prefix == "O":
            close(i - 1)
            continue
        continues = open_type == kind and prefix in ("I", "E")
        if not continues:
            close(i - 1)
            open_type, start = kind, i
        if scheme == "BIOES" and prefix in ("E", "S"):
            close(i)
    close(len(tags) - 1)
    return out


def entities(
    tags: Sequence[str],
    scores: Sequence[Optional[float]],
    offsets: Sequence[tuple[int, int]],
    text: str,
    scheme: str = "IOB2",
) -> list[Entity]:
    """The entities of a sentence with character offsets into `text` (`offsets`: each word's start and end)."""
    out = []
    for span in spans(tags, scheme):
        words = [s for s in scores[span.first : span.last + 1] if s is not None]
        start, end = offsets[span.first][0], offsets[span.last][1]
        out.append(Entity(span.type, start, end, text[start:end], float(np.mean(words)) if words else 0.0))
    return out


def touching(span: tuple[int, int], word_offsets: Sequence[tuple[int, int]], words: Sequence[int]) -> bool:
    """Whether the character span covers any of `words`, or the word just before or after one of them:
    the entities a flip of those words' tags can change (a tag decides only its own word's and its
    neighbours' grouping)."""
    start, end = span
    for w in words:
        for n in (w - 1, w, w + 1):
            if 0 <= n < len(word_offsets) and word_offsets[n][0] < end and start < word_offsets[n][1]:
                return True
    return False
