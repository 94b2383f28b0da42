"""token-classification's scores against seqeval itself (strict mode) and against hand-counted examples:
the per-sentence counts that slices and bootstrap resamples sum give seqeval's numbers."""

from __future__ import annotations

import random

import numpy as np
import pytest
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2, IOBES

from ml_ci.tasks.token_classification import scores as sc

TYPES = ("PER", "LOC", "ORG", "MISC")
# Hand-checked: true PER (0:1-3), LOC (0:4), ORG (1:0); predicted PER (0:1-3) right, ORG (0:4) where LOC is,
# I-ORG after O (1:0) is no entity in strict IOB2, PER (2:0) spurious.
TRUTH = [["O", "B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"], ["O", "O"]]
PREDICTED = [["O", "B-PER", "I-PER", "O", "B-ORG"], ["I-ORG", "O"], ["B-PER", "O"]]


def test_a_hand_counted_example() -> None:
    s = sc.score(TRUTH, PREDICTED, "IOB2", TYPES)
    m = s.metrics
    assert (m["precision_micro"], m["recall_micro"], m["f1_micro"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert (m["precision.PER"], m["recall.PER"], m["f1.PER"]) == pytest.approx((1 / 2, 1.0, 2 / 3))
    assert (m["precision.ORG"], m["recall.ORG"], m["f1.ORG"]) == (0.0, 0.0, 0.0)  # one wrong ORG predicted, one true missed
    # macro over the types among the true or predicted entities (PER, LOC, ORG), as seqeval averages
    assert m["f1_macro"] == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert m["token_accuracy"] == pytest.approx(6 / 9)
    assert (s.per_type["PER"].support, s.per_type["PER"].predicted) == (1, 2)
    assert list(m)[:7] == [
        "f1_micro",
        "precision_micro",
        "recall_micro",
        "f1_macro",
        "precision_macro",
        "recall_macro",
        "token_accuracy",
    ]


def test_it_is_seqevals_strict_report() -> None:
    s = sc.score(TRUTH, PREDICTED, "IOB2", TYPES)
    ref = classification_report(TRUTH, PREDICTED, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    for kind, theirs in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
        assert s.metrics[f"{kind}_micro"] == pytest.approx(ref["micro avg"][theirs])
        assert s.metrics[f"{kind}_macro"] == pytest.approx(ref["macro avg"][theirs])
        for t in ("PER", "LOC", "ORG"):
            assert s.metrics[f"{kind}.{t}"] == pytest.approx(ref[t][theirs])


def test_strict_mode_is_not_conlleval() -> None:
    """conlleval (seqeval's default mode) would count I-ORG after O as an ORG entity; strict mode does not."""
    assert sc.entities([["I-ORG", "O"], ["B-ORG", "I-ORG"]], "IOB2") == [[], [("ORG", 0, 2)]]
    # BIOES: B- without its E- ends no entity; S- is one word
    assert sc.entities([["B-PER", "I-PER", "S-LOC"], ["B-PER", "E-PER", "O"]], "BIOES") == [[("LOC", 2, 3)], [("PER", 0, 2)]]


def test_bioes_matches_seqeval() -> None:
    truth = [["B-PER", "E-PER", "S-LOC", "O"], ["S-PER", "O", "B-LOC", "I-LOC", "E-LOC"]]
    pred = [["B-PER", "I-PER", "S-LOC", "O"], ["S-PER", "O", "B-LOC", "I-LOC", "E-LOC"]]
    s = sc.score(truth, pred, "BIOES", ("PER", "LOC"))
    ref = classification_report(truth, pred, mode="strict", scheme=IOBES, output_dict=True, zero_division=0)
    assert s.metrics["f1_micro"] == pytest.approx(ref["micro avg"]["f1-score"])
    assert s.metrics["recall.PER"] == pytest.approx(0.5) == pytest.approx(ref["PER"]["recall"])


def random_tags(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]) for _ in range(n)]


@pytest.mark.parametrize("seed", range(5))
def test_random_sentences_agree_with_seqeval(seed: int) -> None:
    """Invalid sequences included (I- after O, I-X after B-Y): strict mode's rules are seqeval's, not ours."""
    rng = random.Random(seed)
    truth = [random_tags(rng, rng.randint(1, 12)) for _ in range(40)]
    pred = [[t if rng.random() < 0.7 else random_tags(rng, 1)[0] for t in sentence] for sentence in truth]
    s = sc.score(truth, pred, "IOB2", TYPES)
    ref = classification_report(truth, pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    for kind, theirs in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
        assert s.metrics[f"{kind}_micro"] == pytest.approx(ref["micro avg"][theirs])
        assert s.metrics[f"{kind}_macro"] == pytest.approx(ref["macro avg"][theirs])
        for t in ("PER", "LOC", "ORG"):
            if t in ref:
                assert s.metrics[f"{kind}.{t}"] == pytest.approx(ref[t][theirs])
                assert s.per_type[t].support == ref[t]["support"]


def test_a_type_without_true_entities_has_no_value_and_says_why() -> None:
    s = sc.score([["B-PER", "O"]], [["B-PER", "B-LOC"]], "IOB2", ("PER", "LOC", "ORG"))
    assert s.metrics["precision.LOC"] == 0.0  # one predicted, none right
    assert s.metrics["recall.LOC"] is None and s.metrics["f1.LOC"] is None
    assert s.undefined["f1.LOC"] == "no LOC entity among the true tags: F1 needs recall"
    assert s.metrics["precision.ORG"] is None
    assert s.undefined["precision.ORG"] == "no ORG entity among the true tags, and none predicted"
    assert not any(isinstance(v, float) and np.isnan(v) for v in s.metrics.values())
    nothing = sc.score([["O", "O"]], [["O", "O"]], "IOB2", ("PER",))
    assert nothing.metrics["f1_micro"] is None and nothing.metrics["f1_macro"] is None
    assert nothing.metrics["token_accuracy"] == 1.0
    scalar = {"f1_micro", "precision_micro", "recall_micro", "f1_macro", "precision_macro", "recall_macro"}
    assert set(nothing.undefined) == scalar | {"f1.PER", "precision.PER", "recall.PER"}


def test_counts_of_some_sentences_score_as_those_sentences() -> None:
    """What slices and bootstrap resamples rely on: summing rows of the counts is scoring those sentences."""
    rng = random.Random(3)
    truth = [random_tags(rng, rng.randint(1, 8)) for _ in range(30)]
    pred = [random_tags(rng, len(t)) for t in truth]
    counts = sc.counts(truth, pred, "IOB2", TYPES)
    rows = np.array([0, 3, 3, 7, 12, 29])  # a resample repeats rows
    alone = sc.score([truth[i] for i in rows], [pred[i] for i in rows], "IOB2", TYPES).metrics
    for metric, value in alone.items():
        got = sc.metric_value(metric, counts.take(rows))
        assert (np.isnan(got) and value is None) or got == pytest.approx(value), metric


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="sentence 1: 1 predicted tags for 2 words"):
        sc.counts([["O"], ["O", "O"]], [["O"], ["O"]], "IOB2", TYPES)
    with pytest.raises(ValueError, match="1 predicted sentences for 2 true ones"):
        sc.counts([["O"], ["O"]], [["O"]], "IOB2", TYPES)


def test_the_confusion_of_entity_types() -> None:
    truth = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG"], ["B-LOC", "I-LOC", "I-LOC"]]
    pred = [["B-PER", "O", "O", "B-ORG", "B-MISC", "O"], ["B-LOC", "B-PER", "I-PER"]]
    c = sc.confusion(truth, pred, "IOB2", TYPES)
    assert c["types"] == [*TYPES, "(none)"]
    m = {(c["types"][i], c["types"][j]): v for i, row in enumerate(c["matrix"]) for j, v in enumerate(row) if v}
    # PER cut short: PER (boundary); LOC as ORG: a type error; ORG missed; MISC spurious; the long LOC overlaps
    # its LOC by 1 word and a PER by 2: the PER is taken, and the LOC predicted inside it is then spurious
    assert m == {
        ("PER", "PER"): 1,
        ("LOC", "ORG"): 1,
        ("ORG", "(none)"): 1,
        ("(none)", "MISC"): 1,
        ("LOC", "PER"): 1,
        ("(none)", "LOC"): 1,
    }


def test_is_metric_names_the_task_metrics_and_the_known_types() -> None:
    assert sc.is_metric("f1_micro", TYPES) and sc.is_metric("recall.ORG", TYPES)
    assert not sc.is_metric("f1.FOO", TYPES) and not sc.is_metric("latency_p95_ms", TYPES) and not sc.is_metric("accuracy", TYPES)
