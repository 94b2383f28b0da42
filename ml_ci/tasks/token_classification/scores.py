"""token-classification's scores: entity-level precision, recall and F1 as seqeval computes them in strict
mode (an entity counts only when its type and its exact span of words are right, found by the scheme's
rules: an I-X after O starts no entity), micro and macro over the types and per type, and token accuracy.

The entities come from seqeval (`seqeval.scheme.Entities`, the extraction its strict mode uses); what
follows is counting. Every metric is a function of the per-sentence counts (`Counts`: true positives,
predicted and true entities per type, right and all words), so a slice or a bootstrap resample of sentences
sums rows of them instead of matching spans again; `score` on all sentences equals seqeval's
`classification_report(..., mode="strict", scheme=...)` (tests/unit/tasks/token_classification/test_scores.py).

A metric without a value on the examples (recall of PER where no sentence has a PER entity) is None with a
reason, never NaN (NaN would pass or fail gates silently). Where seqeval would divide by zero with some true
entities there, it says 0 (zero_division=0): a model that finds none of them has recall 0, and one that
predicts none has precision 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
Span = tuple[str, int, int]  # (type, first word, end word exclusive)

KINDS = ("precision", "recall", "f1")
MICRO = {f"{k}_micro": k for k in KINDS}
MACRO = {f"{k}_macro": k for k in KINDS}
# Every metric of the task computed from predictions (per type: `f1.PER`, ...), so a paired test applies.
SCALAR_METRICS = ("f1_micro", "precision_micro", "recall_micro", "f1_macro", "precision_macro", "recall_macro", "token_accuracy")
NONE = "(none)"  # the confusion's row of predicted entities that match no true one, and column of missed ones


def scheme_class(scheme: str) -> Any:
    """seqeval's Token class for data.scheme (BIOES is seqeval's IOBES)."""
    from seqeval.scheme import IOB2, IOBES

    return {"IOB2": IOB2, "BIOES": IOBES}[scheme]


def entities(sequences: Sequence[Sequence[str]], scheme: str) -> list[list[Span]]:
    """Each sentence's entities by seqeval's strict rules, in word order."""
    from seqeval.scheme import Entities

    found = Entities([list(s) for s in sequences], scheme_class(scheme)).entities
    return [[(e.tag, e.start, e.end) for e in sentence] for sentence in found]


@dataclass(frozen=True)
class Counts:
    """Per sentence (rows) and entity type (columns, data.entity_types order): what every metric sums."""

    types: tuple[str, ...]
    true_positives: IntArray
    predicted: IntArray
    gold: IntArray
    right_words: IntArray  # per sentence: words whose predicted tag is the true one
    words: IntArray

    def take(self, rows: IntArray) -> Counts:
        return Counts(
            self.types, self.true_positives[rows], self.predicted[rows], self.gold[rows], self.right_words[rows], self.words[rows]
        )

    def __len__(self) -> int:
        return len(self.words)


def counts(truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], scheme: str, types: Sequence[str]) -> Counts:
    """The counts of predicted against true word tags; both name one tag per word of each sentence."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(predicted)} predicted sentences for {len(truth)} true ones")
    for i, (t, p) in enumerate(zip(truth, predicted, strict=True)):
        if len(t) != len(p):
            raise ValueError(f"sentence {i}: {len(p)} predicted tags for {len(t)} words")
    column = {name: j for j, name in enumerate(types)}
    n, k = len(truth), len(types)
    tp, pred, gold = (np.zeros((n, k), dtype=np.int64) for _ in range(3))
    for i, (true_spans, predicted_spans) in enumerate(zip(entities(truth, scheme), entities(predicted, scheme), strict=True)):
        for kind, _, _ in true_spans:
            gold[i, column[kind]] += 1
        for kind, _, _ in predicted_spans:
            pred[i, column[kind]] += 1
        for kind, _, _ in set(true_spans) & set(predicted_spans):
            tp[i, column[kind]] += 1
    right = np.asarray([sum(a == b for a, b in zip(t, p, strict=True)) for t, p in zip(truth, predicted, strict=True)], np.int64)
    words = np.asarray([len(t) for t in truth], dtype=np.int64)
    return Counts(tuple(types), tp, pred, gold, right, words)


@dataclass(frozen=True)
class TypeScores:
    precision: float | None
    recall: float | None
    f1: float | None
    support: int  # true entities of the type
    predicted: int


def _prf(tp: int, predicted: int, gold: int) -> tuple[float | None, float | None, float | None]:
    """seqeval's arithmetic (zero_division=0), except where no entity of the scope is true: then recall and
    F1 have no value, and precision has none either unless some were predicted (it is then 0)."""
    if gold == 0:
        return (0.0 if predicted else None), None, None
    precision = tp / predicted if predicted else 0.0
    recall = tp / gold
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def per_type(c: Counts) -> dict[str, TypeScores]:
    tp, pred, gold = c.true_positives.sum(axis=0), c.predicted.sum(axis=0), c.gold.sum(axis=0)
    return {
        name: TypeScores(*_prf(int(tp[j]), int(pred[j]), int(gold[j])), int(gold[j]), int(pred[j]))
        for j, name in enumerate(c.types)
    }


def _why(scope: str, kind: str) -> str:
    what = f"no {scope + ' ' if scope else ''}entity among the true tags"
    if kind == "precision":
        return f"{what}, and none predicted"
    return f"{what}: {kind} counts the true ones found" if kind == "recall" else f"{what}: F1 needs recall"


def metrics(c: Counts) -> tuple[dict[str, float | None], dict[str, str]]:
    """Every metric of the counts (per type as `f1.PER`), and why those without a value have none."""
    values: dict[str, float | None] = {}
    undefined: dict[str, str] = {}
    tp, pred, gold = int(c.true_positives.sum()), int(c.predicted.sum()), int(c.gold.sum())
    for name, value, kind in zip(MICRO, _prf(tp, pred, gold), KINDS, strict=True):
        values[name] = value
        if value is None:
            undefined[name] = _why("", kind)
    types = per_type(c)
    # seqeval's macro average: over the types among the true or the predicted entities, 0 where undefined.
    present = [t for t in types.values() if t.support or t.predicted]
    for name, kind in MACRO.items():
        if present:
            values[name] = float(np.mean([getattr(t, kind) or 0.0 for t in present]))
        else:
            values[name] = None
            undefined[name] = "no entity among the true or the predicted tags: a macro average has no type to average"
    words = int(c.words.sum())
    values["token_accuracy"] = int(c.right_words.sum()) / words if words else None
    if not words:
        undefined["token_accuracy"] = "no words"
    values = {name: values[name] for name in SCALAR_METRICS}  # config.METRICS' order
    for type_name, t in types.items():
        for kind in ("f1", "precision", "recall"):
            metric = f"{kind}.{type_name}"
            values[metric] = getattr(t, kind)
            if values[metric] is None:
                undefined[metric] = _why(type_name, kind)
    return values, undefined


def metric_value(metric: str, c: Counts) -> float:
    """One metric as `metrics` computes it; NaN where it has no value (a bootstrap resample counts it as no change)."""
    tp, pred, gold = c.true_positives.sum(axis=0), c.predicted.sum(axis=0), c.gold.sum(axis=0)
    value: float | None
    if metric == "token_accuracy":
        words = int(c.words.sum())
        value = int(c.right_words.sum()) / words if words else None
    elif metric in MICRO:
        value = _prf(int(tp.sum()), int(pred.sum()), int(gold.sum()))[KINDS.index(MICRO[metric])]
    elif metric in MACRO:
        j = KINDS.index(MACRO[metric])
        present = [_prf(int(a), int(b), int(g))[j] or 0.0 for a, b, g in zip(tp, pred, gold, strict=True) if g or b]
        value = float(np.mean(present)) if present else None
    else:
        kind, _, type_name = metric.partition(".")
        col = c.types.index(type_name)
        value = _prf(int(tp[col]), int(pred[col]), int(gold[col]))[KINDS.index(kind)]
    return float("nan") if value is None else float(value)


def is_metric(metric: str, types: Sequence[str]) -> bool:
    kind, dot, type_name = metric.partition(".")
    return metric in SCALAR_METRICS or (bool(dot) and kind in KINDS and type_name in types)


def confusion(
    truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], scheme: str, types: Sequence[str]
) -> dict[str, Any]:
    """True entity type (rows) against predicted type (columns) of the entities that overlap.

    Each true entity is counted once: against the predicted entity with its exact span if there is one, else
    the one that shares the most words with it (the first of a tie), else in the (none) column (missed).
    A predicted entity counted against no true one is in the (none) row (spurious). The diagonal holds
    boundary errors of the right type besides exact matches; off it, type errors."""
    names = [*types, NONE]
    at = {name: j for j, name in enumerate(names)}
    matrix = [[0] * len(names) for _ in names]
    for g, p in zip(entities(truth, scheme), entities(predicted, scheme), strict=True):
        used: set[Span] = set()
        for kind, start, end in g:
            overlap = [(min(end, pe) - max(start, ps), (pt, ps, pe)) for pt, ps, pe in p if ps < end and start < pe]
            exact = [e for _, e in overlap if e[1:] == (start, end)]
            best = exact[0] if exact else max(overlap, key=lambda o: o[0])[1] if overlap else None
            matrix[at[kind]][at[best[0]] if best else at[NONE]] += 1
            if best:
                used.add(best)
        for e in p:
            if e not in used:
                matrix[at[NONE]][at[e[0]]] += 1
    return {"types": names, "matrix": matrix}


@dataclass(frozen=True)
class Scores:
    metrics: dict[str, float | None]
    undefined: dict[str, str]
    per_type: dict[str, TypeScores]
    confusion: dict[str, Any]


def score(truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], scheme: str, types: Sequence[str]) -> Scores:
    """All metrics, the per-type table and the confusion of entity types."""
    if not truth:
        raise ValueError("no sentences to score")
    c = counts(truth, predicted, scheme, types)
    values, undefined = metrics(c)
    return Scores(values, undefined, per_type(c), confusion(truth, predicted, scheme, types))
