"""token-classification's training half (`ml_ci.tasks.protocols.training.TrainingHalf`): model.base with a
token-classification head over the tag list (O, then each entity type's B-/I- (BIOES: also E-/S-) tags: id2label
and label2id in its config), each word's tag on its first subword, batches padded by
DataCollatorForTokenClassification, and seqeval's strict entity scores at each validation.

Label alignment: the tokenizer splits each word (`is_split_into_words`) into subwords; the first subword of a
word carries the word's tag, every other subword and the special tokens carry -100 (the loss and the metrics
skip them), and the words past model.max_length subwords are cut (the data check counts the sentences that
lose words: data.checks.max_truncated_fraction). Evaluation and serving read a word's tag from its first
subword the same way.

    align([None, 0, 0, 1, None], [3, 0]) -> [-100, 3, -100, 0, -100]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ml_ci.config.model import Config
from ml_ci.tasks.protocols.training import CardText, Loss
from ml_ci.tasks.token_classification.config import of
from ml_ci.tasks.token_classification.data import TAGS, TOKENS
from ml_ci.train import base_model

if TYPE_CHECKING:
    from datasets import Dataset

    from ml_ci.train.params import HParams

IGNORED = -100  # transformers' ignore_index: no loss, no metric


def load_pretrained(base: base_model.BaseModel, config: Config) -> tuple[Any, Any]:
    """The tokenizer and model.base with a new token-classification head over the tag list."""
    from transformers import AutoModelForTokenClassification

    tags = of(config).tags
    return base_model.load_with_head(
        base,
        AutoModelForTokenClassification,
        num_labels=len(tags),
        id2label=dict(enumerate(tags)),
        label2id={name: i for i, name in enumerate(tags)},
    )


def align(word_ids: Sequence[int | None], tags: Sequence[int]) -> list[int]:
    """Each subword's label: the word's tag on its first subword, IGNORED elsewhere (special tokens, later subwords)."""
    labels: list[int] = []
    previous: int | None = None
    for word in word_ids:
        labels.append(IGNORED if word is None or word == previous else int(tags[word]))
        previous = word
    return labels


def adapt(model: Any, config: Config, hp: HParams) -> Any:
    """Every weight is trained, as loaded."""
    return model


def encode(dataset: Dataset, tokenizer: Any, config: Config, role: str) -> Dataset:
    """Tokenized once, word by word, without padding (the collator pads each batch, labels with -100)."""
    max_length = config.model.max_length

    def tokenize(batch: dict[str, list[Any]]) -> Any:
        enc = tokenizer(batch[TOKENS], is_split_into_words=True, truncation=True, max_length=max_length)
        enc["labels"] = [align(enc.word_ids(i), tags) for i, tags in enumerate(batch[TAGS])]
        return enc

    encoded: Dataset = dataset.map(tokenize, batched=True, remove_columns=dataset.column_names, desc=f"tokenize {role}")
    return encoded


def collator(tokenizer: Any) -> Any:
    from transformers import DataCollatorForTokenClassification

    return DataCollatorForTokenClassification(tokenizer)


def word_tags(logits: Any, labels: Any, tags: Sequence[str]) -> tuple[list[list[str]], list[list[str]]]:
    """(true, predicted) tag names of each sentence's words: the positions whose label is not IGNORED."""
    import numpy as np

    predicted = np.asarray(logits).argmax(axis=-1)
    truth = np.asarray(labels)
    keep = truth != IGNORED
    return (
        [[tags[int(t)] for t in row[k]] for row, k in zip(truth, keep, strict=True)],
        [[tags[int(p)] for p in row[k]] for row, k in zip(predicted, keep, strict=True)],
    )


def validation_metrics(truth: list[list[str]], predicted: list[list[str]], scheme: str, types: Sequence[str]) -> dict[str, float]:
    """The task's metrics (tune prunes and chooses on them) and F1 per entity type, as evaluate computes them;
    a metric without a value on the validation split (no entity of a type there) is left out."""
    from ml_ci.tasks.token_classification.scores import SCALAR_METRICS, counts, metrics

    values, _ = metrics(counts(truth, predicted, scheme, types))
    wanted = [*SCALAR_METRICS, *(f"f1.{t}" for t in types)]
    return {m: float(v) for m in wanted if (v := values.get(m)) is not None}


def compute_metrics(config: Config) -> Callable[[Any], dict[str, float]]:
    spec = of(config)

    def compute(prediction: Any) -> dict[str, float]:
        truth, predicted = word_tags(prediction.predictions, prediction.label_ids, spec.tags)
        return validation_metrics(truth, predicted, spec.scheme, spec.entity_types)

    return compute


def derived_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """compute_metrics names every metric the task has."""
    return metrics


def loss(config: Config, hp: HParams, train: Dataset) -> Loss | None:
    """The model's own cross-entropy over the first subwords."""
    return None


# --- cache key, lineage, model card -------------------------------------------------------


def key_inputs(config: Config) -> dict[str, Any]:
    spec = of(config)
    return {
        "scheme": spec.scheme,
        "entity_types": list(spec.entity_types),
        "tags": list(spec.tags),
        "columns": [spec.tokens_column, spec.tags_column, spec.text_column, spec.spans_column],
    }


def lineage(config: Config, loss_weights: Mapping[str, float] | None) -> dict[str, Any]:
    spec = of(config)
    return {"scheme": spec.scheme, "entity_types": list(spec.entity_types), "tags": list(spec.tags)}


def card(config: Config) -> CardText:
    spec = of(config)
    types = ", ".join(f"`{t}`" for t in spec.entity_types)
    return CardText(
        pipeline_tag="token-classification",
        task_name="Token Classification",
        subject="A named-entity tagger",
        purpose=f" for the entity types {types}, tagged {spec.scheme} (validation F1 per type: the `f1.TYPE` rows)",
        usage='from transformers import pipeline\n\ntag = pipeline("token-classification", model="path/to/this/folder", '
        'aggregation_strategy="first")\n',
    )
