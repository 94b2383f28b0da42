"""text-generation's metrics from per-example outputs. Pure (numpy, rouge-score, sacrebleu, no torch).

The examples are the evaluated split's records, each scored by its completion tokens' negative log-likelihood
(`Loss`), followed by the prompt set's items, each with its generated `Completion`:

- loss: the summed NLL over the summed target tokens of the records (a token-weighted mean, as Trainer's
  validation loss is, so that it compares with train's); perplexity: exp(loss);
- pass_rate: the share of items with assertions whose every assertion passed (an item without assertions is
  there for its reference only); pass_rate.TAG: the same over the items carrying TAG;
- rouge_l: the mean ROUGE-L F-measure (rouge-score, no stemming) of the items with a reference; chrf: sacrebleu's
  corpus chrF (0..100) over the same items.

A metric without a value (no prompt set, no reference, no assertion) is `undefined` with the reason, never NaN.
`Stats` keeps the per-example numbers the paired tests resample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ml_ci.tasks.text_generation import assertions
from ml_ci.tasks.text_generation.prompts import PromptItem

FloatArray = npt.NDArray[np.float64]
SPLIT, PROMPTS = "split", "prompts"  # the `source` slice column's values
SPEED_METRICS = ("time_to_first_token_ms", "tokens_per_second")


@dataclass(frozen=True)
class SplitRecord:
    """A record of the evaluated split: `record` holds the plain columns (prompt and completion, or messages)."""

    row: int
    record: dict[str, Any]
    text: str  # what it asks (hashed to pair)


@dataclass(frozen=True)
class Loss:
    """A split record's summed NLL (nats) over its target tokens within model.max_length, and their number."""

    nll: float
    tokens: int


@dataclass(frozen=True)
class Completion:
    """A prompt item's generated text (stop strings cut, special tokens dropped) and its token count."""

    text: str
    tokens: int
    finish: str  # "eos", "stop" or "length"


@dataclass(frozen=True)
class Speed:
    """Single-stream timings per sampled prompt (each the fastest of a few runs) and how they were taken."""

    ttft_ms: list[float]
    tokens_per_second: list[float]
    method: dict[str, Any] = field(default_factory=dict)


Case = SplitRecord | PromptItem
Output = Loss | Completion | None  # None: the record's loss was not measured (loss is not reported)


class Cases(list[Case]):
    """The examples in order: the split's records, then the prompt items."""


class Outputs(list[Output]):
    """Each example's output in order, and the speed measured on the prompt set (when reported)."""

    def __init__(self, outputs: Sequence[Output], speed: Speed | None = None) -> None:
        super().__init__(outputs)
        self.speed = speed


def results(item: PromptItem, output: Output) -> list[assertions.Result]:
    """The item's assertions judged on its completion."""
    text = output.text if isinstance(output, Completion) else ""
    return [assertions.check(a, text) for a in item.asserts]


def passed(item: PromptItem, output: Output) -> bool:
    return all(r.passed for r in results(item, output))


@dataclass(frozen=True)
class Stats:
    """Per-example numbers of one set of outputs (in `rows`' order), as the metrics and paired tests need them."""

    nll: FloatArray  # per measured split record
    tokens: FloatArray
    correct: npt.NDArray[np.bool_]  # per item with assertions
    tags: list[tuple[str, ...]]  # of those items
    hypotheses: list[str]  # per item with a reference
    references: list[str]


def stats(truth: Sequence[Case], outputs: Sequence[Output], rows: Sequence[int] | None = None) -> Stats:
    idx = range(len(truth)) if rows is None else [int(i) for i in rows]
    nll, tokens, correct, tags, hyp, ref = [], [], [], [], [], []
    for i in idx:
        case, out = truth[i], outputs[i]
        if isinstance(case, SplitRecord):
            if isinstance(out, Loss):
                nll.append(out.nll)
                tokens.append(out.tokens)
            continue
        if case.asserts:
            correct.append(passed(case, out))
            tags.append(case.tags)
        if case.reference is not None:
            hyp.append(out.text if isinstance(out, Completion) else "")
            ref.append(case.reference)
    return Stats(
        np.asarray(nll, dtype=np.float64),
        np.asarray(tokens, dtype=np.float64),
        np.asarray(correct, dtype=np.bool_),
        tags,
        hyp,
        ref,
    )


def loss_value(nll: FloatArray, tokens: FloatArray) -> float:
    total = float(tokens.sum())
    return float(nll.sum()) / total if total > 0 else math.nan


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """The length of the longest common subsequence of two token lists (one row of the table at a time)."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(hypotheses: Sequence[str], references: Sequence[str]) -> list[float]:
    """Each item's ROUGE-L F-measure, as rouge-score's `RougeScorer(["rougeL"]).score(reference, hypothesis)` gives it
    (tests/unit/tasks/text_generation/test_scores.py holds the two equal): rouge-score's own tokenizer (lower-cased
    runs of letters and digits, no stemming) and F-measure, over the longest common subsequence counted here.
    Why not its scorer: `rouge_score.rouge_scorer` imports NLTK for a stemmer this does not use, 1.7 to 3.5 s of
    every evaluation on a 2-core runner, more than generating 200 completions of a small model takes."""
    from rouge_score import scoring, tokenize

    out = []
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        hyp, ref = tokenize.tokenize(hypothesis, None), tokenize.tokenize(reference, None)
        if not hyp or not ref:
            out.append(0.0)
            continue
        common = lcs_length(ref, hyp)
        out.append(float(scoring.fmeasure(common / len(hyp), common / len(ref))))
    return out


def chrf_stats(hypotheses: Sequence[str], references: Sequence[str]) -> FloatArray:
    """Each item's chrF statistics (character and word n-gram matches), summable: sacrebleu's own bootstrap
    resamples these rows, so a resample's chrF is `chrf_of(stats[rows].sum(0))`."""
    from sacrebleu.metrics.chrf import CHRF

    return np.asarray(CHRF()._extract_corpus_statistics(list(hypotheses), [list(references)]), dtype=np.float64)


def chrf_of(summed: FloatArray) -> float:
    from sacrebleu.metrics.chrf import CHRF

    return float(CHRF()._compute_score_from_stats([int(x) for x in summed]).score)


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu's corpus chrF (0..100)."""
    from sacrebleu.metrics.chrf import CHRF

    return float(CHRF().corpus_score(list(hypotheses), [list(references)]).score)


def tag_names(truth: Sequence[Case]) -> list[str]:
    """Every tag of the prompt items with assertions, sorted (each a pass_rate.TAG metric)."""
    return sorted({t for c in truth if isinstance(c, PromptItem) and c.asserts for t in c.tags})


@dataclass(frozen=True)
class Scored:
    metrics: dict[str, float | None]
    undefined: dict[str, str]
    record: dict[str, Any]


def score(
    truth: Sequence[Case],
    outputs: Sequence[Output],
    rows: Sequence[int] | None = None,
    *,
    has_prompts: bool = True,
    speed: Speed | None = None,
) -> Scored:
    """Every metric on all examples or on `rows` of them. `has_prompts`: whether evaluate.prompts is set (says
    why the prompt metrics are missing); `speed`: the timings, when measured (on the whole prompt set only)."""
    s = stats(truth, outputs, rows)
    idx = list(range(len(truth))) if rows is None else [int(i) for i in rows]
    here = [truth[i] for i in idx]
    items = [c for c in here if isinstance(c, PromptItem)]
    metrics: dict[str, float | None] = {}
    undefined: dict[str, str] = {}

    def missing(metric: str, why: str) -> None:
        metrics[metric] = None
        undefined[metric] = why

    loss = loss_value(s.nll, s.tokens)
    if not math.isnan(loss):
        metrics["loss"] = loss
        if loss > 700:  # exp overflows a float: the model is broken, and the loss says so
            missing("perplexity", f"exp({loss:.1f}) is beyond a float's range")
        else:
            metrics["perplexity"] = math.exp(loss)
    else:
        if len(s.nll):
            why = "no record of the split has a completion token within model.max_length"
        elif any(isinstance(c, SplitRecord) for c in here):
            why = "the split's loss was not measured (neither loss nor perplexity is in evaluate.metrics)"
        else:
            why = "no record of the split in these examples"
        missing("loss", why)
        missing("perplexity", why)
    no_items = "no prompt item in these examples" if has_prompts else "no evaluate.prompts"
    tags = tag_names(here)
    if len(s.correct):
        metrics["pass_rate"] = float(s.correct.mean())
        for tag in tags:
            mine = np.asarray([tag in t for t in s.tags], dtype=np.bool_)
            metrics[f"pass_rate.{tag}"] = float(s.correct[mine].mean())
    else:
        missing("pass_rate", "no prompt item has an assertion" if items else no_items)
    if s.references:
        metrics["rouge_l"] = float(np.mean(rouge_l(s.hypotheses, s.references)))
        metrics["chrf"] = chrf(s.hypotheses, s.references)
    else:
        for metric in ("rouge_l", "chrf"):
            missing(metric, "no prompt item has a reference" if items else no_items)
    if speed is not None:
        for metric, values in (("time_to_first_token_ms", speed.ttft_ms), ("tokens_per_second", speed.tokens_per_second)):
            if values:
                metrics[metric] = float(np.median(values))
            else:
                missing(metric, str(speed.method.get("why") or no_items))
    per_tag = {}
    for tag in tags:
        mine = np.asarray([tag in t for t in s.tags], dtype=np.bool_)
        per_tag[tag] = {"items": int(mine.sum()), "passed": int(s.correct[mine].sum())}
    record: dict[str, Any] = {
        # Named apart from eval.json's generic keys (`split` is the evaluated split's role) and the head's `prompt_set`.
        "records": {"scored": len(s.nll), "target_tokens": int(s.tokens.sum())},
        "prompt_items": {
            "items": len(items),
            "with_assertions": len(s.correct),
            "passed": int(s.correct.sum()),
            "with_reference": len(s.references),
            "per_tag": per_tag,
        },
    }
    if speed is not None:
        record["speed"] = dict(speed.method)
    return Scored(metrics, undefined, record)
