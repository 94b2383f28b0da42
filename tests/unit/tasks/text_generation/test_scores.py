"""text-generation's metrics from outputs: the token-weighted loss and its perplexity, pass rates overall and per
tag, ROUGE-L and chrF against the references (checked against the libraries' own numbers and hand counts), and
every metric without a value said why."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml_ci.tasks.text_generation import assertions
from ml_ci.tasks.text_generation import scores as sc
from ml_ci.tasks.text_generation.prompts import PromptItem


def item(ident: str, *, tags: tuple[str, ...] = (), reference: str | None = None, contains: str | None = None) -> PromptItem:
    asserts = () if contains is None else (assertions.parse({"type": "contains", "value": contains}),)
    return PromptItem(line=1, id=ident, prompt=f"prompt {ident}", messages=None, tags=tags, reference=reference, asserts=asserts)


def record(row: int) -> sc.SplitRecord:
    return sc.SplitRecord(row, {"prompt": "p", "completion": "c"}, f"p{row}")


def done(text: str) -> sc.Completion:
    return sc.Completion(text, len(text.split()), "eos")


CASES = sc.Cases(
    [
        record(0),
        record(1),
        item("a", tags=("math",), contains="4"),
        item("b", tags=("math", "json"), contains="{"),
        item("c", tags=("json",), contains="}", reference="the cat sat on the mat"),
        item("d", reference="hello world"),
    ]
)
OUTPUTS = sc.Outputs([sc.Loss(6.0, 3), sc.Loss(2.0, 1), done("4"), done("no"), done("} the cat sat"), done("hello there world")])


def test_the_loss_is_token_weighted_and_perplexity_its_exponential() -> None:
    s = sc.score(CASES, OUTPUTS)
    # (6 + 2) / (3 + 1) = 2.0, not the mean of the records' own means (2.0 and 2.0 here by chance: see below).
    assert s.metrics["loss"] == pytest.approx(2.0)
    assert s.metrics["perplexity"] == pytest.approx(math.exp(2.0))
    uneven = sc.score(sc.Cases([record(0), record(1)]), sc.Outputs([sc.Loss(9.0, 3), sc.Loss(1.0, 1)]))
    assert uneven.metrics["loss"] == pytest.approx(10.0 / 4)  # the mean of per-record means would be 2.0
    assert s.record["records"] == {"scored": 2, "target_tokens": 4}


def test_pass_rates_overall_and_per_tag() -> None:
    s = sc.score(CASES, OUTPUTS)
    # a passes ("4"), b fails (no "{"), c passes ("}"); d has no assertion and does not count.
    assert s.metrics["pass_rate"] == pytest.approx(2 / 3)
    assert s.metrics["pass_rate.math"] == pytest.approx(1 / 2)
    assert s.metrics["pass_rate.json"] == pytest.approx(1 / 2)
    assert s.record["prompt_items"] == {
        "items": 4,
        "with_assertions": 3,
        "passed": 2,
        "with_reference": 2,
        "per_tag": {"json": {"items": 2, "passed": 1}, "math": {"items": 2, "passed": 1}},
    }


def test_rouge_l_and_chrf_are_the_libraries_numbers() -> None:
    from rouge_score import rouge_scorer
    from sacrebleu.metrics.chrf import CHRF

    s = sc.score(CASES, OUTPUTS)
    # ROUGE-L by hand: "} the cat sat" against "the cat sat on the mat": rouge-score's tokenizer keeps words of
    # letters and digits ("}" is none), so LCS 3 of 3 words (P = 1) and of 6 (R = 1/2).
    first = 2 * 1.0 * (3 / 6) / (1.0 + 3 / 6)
    # "hello there world" against "hello world": LCS 2, P = 2/3, R = 2/2.
    second = 2 * (2 / 3) * 1.0 / (2 / 3 + 1.0)
    assert s.metrics["rouge_l"] == pytest.approx((first + second) / 2)
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    assert first == pytest.approx(scorer.score("the cat sat on the mat", "} the cat sat")["rougeL"].fmeasure)
    hyps, refs = ["} the cat sat", "hello there world"], ["the cat sat on the mat", "hello world"]
    assert s.metrics["chrf"] == pytest.approx(CHRF().corpus_score(hyps, [refs]).score)
    # The summable statistics the bootstrap resamples give the same corpus score.
    assert sc.chrf_of(sc.chrf_stats(hyps, refs).sum(axis=0)) == pytest.approx(s.metrics["chrf"])


def test_rows_score_a_slice() -> None:
    s = sc.score(CASES, OUTPUTS, [0, 2, 3])
    assert s.metrics["loss"] == pytest.approx(2.0)
    assert s.metrics["pass_rate"] == pytest.approx(0.5)
    assert s.undefined["rouge_l"] == "no prompt item has a reference"
    only_records = sc.score(CASES, OUTPUTS, [0, 1])
    assert only_records.undefined["pass_rate"] == "no prompt item in these examples"
    only_items = sc.score(CASES, OUTPUTS, [2])
    assert only_items.undefined["loss"] == "no record of the split in these examples"


def test_each_missing_metric_says_why() -> None:
    records_only = sc.score(sc.Cases([record(0)]), sc.Outputs([sc.Loss(1.0, 2)]), has_prompts=False)
    assert {k: records_only.undefined[k] for k in ("pass_rate", "rouge_l", "chrf")} == dict.fromkeys(
        ("pass_rate", "rouge_l", "chrf"), "no evaluate.prompts"
    )
    assert all(records_only.metrics[k] is None for k in ("pass_rate", "rouge_l", "chrf"))
    not_measured = sc.score(sc.Cases([record(0), item("a")]), sc.Outputs([None, done("x")]))
    assert not_measured.undefined["loss"] == (
        "the split's loss was not measured (neither loss nor perplexity is in evaluate.metrics)"
    )
    assert not_measured.undefined["pass_rate"] == "no prompt item has an assertion"
    cut_off = sc.score(sc.Cases([record(0)]), sc.Outputs([sc.Loss(0.0, 0)]))
    assert cut_off.undefined["perplexity"] == "no record of the split has a completion token within model.max_length"
    assert "time_to_first_token_ms" not in records_only.metrics  # measured only when reported
    broken = sc.score(sc.Cases([record(0)]), sc.Outputs([sc.Loss(800.0, 1)]))
    assert broken.metrics["loss"] == 800.0 and broken.undefined["perplexity"] == "exp(800.0) is beyond a float's range"


def test_speed_is_the_median_over_prompts() -> None:
    speed = sc.Speed([30.0, 10.0, 20.0], [100.0, 300.0], {"runtime": "x"})
    s = sc.score(CASES, OUTPUTS, speed=speed)
    assert (s.metrics["time_to_first_token_ms"], s.metrics["tokens_per_second"]) == (20.0, 200.0)
    assert s.record["speed"] == {"runtime": "x"}
    none = sc.score(CASES, OUTPUTS, speed=sc.Speed([5.0], [], {"why": "no sampled completion had two tokens or more"}))
    assert none.undefined["tokens_per_second"] == "no sampled completion had two tokens or more"


def test_stats_keep_per_example_numbers_in_order() -> None:
    st = sc.stats(CASES, OUTPUTS)
    assert st.nll.tolist() == [6.0, 2.0] and st.tokens.tolist() == [3.0, 1.0]
    assert st.correct.tolist() == [True, False, True]
    assert st.tags == [("math",), ("math", "json"), ("json",)]
    assert math.isnan(sc.loss_value(np.zeros(0), np.zeros(0)))


def test_rouge_l_is_rouge_scores_scorer_without_its_import() -> None:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rng = np.random.default_rng(0)
    words = ["the", "The", "cat", "sat", "on", "mat", "42", "x-y", "é", "Cats!", ",", '{"a": 1}', ""]
    pairs = [
        (" ".join(rng.choice(words, rng.integers(0, 9))), " ".join(rng.choice(words, rng.integers(0, 9)))) for _ in range(300)
    ]
    pairs += [("", "the cat"), ("the cat", ""), ("!!", "cat"), ("a b c d", "d c b a")]
    ours = sc.rouge_l([h for h, _ in pairs], [r for _, r in pairs])
    theirs = [scorer.score(r, h)["rougeL"].fmeasure for h, r in pairs]
    assert ours == pytest.approx(theirs, abs=1e-12)
    assert sc.lcs_length(list("abcbdab"), list("bdcaba")) == 4  # the textbook example (CLRS)
