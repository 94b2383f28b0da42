"""text-classification's training half (`ml_ci.tasks.protocols.training.TrainingHalf`): model.base
with a sequence-classification head over data.labels (id2label and label2id in its config), batches
padded to their longest row, accuracy and macro F1 at each validation, and train.class_weights.

train.class_weights: the weight of each label in the training loss, resolved against the train split.

    resolve("balanced", ("negative", "positive"), [0, 0, 0, 1]) -> {"negative": 0.667, "positive": 2.0}

`balanced` is scikit-learn's rule, n_rows / (n_labels x rows of the label), so that the weights
average to 1 over the training rows and the loss keeps its scale; a label with no training rows
gets 1 (it never contributes). A mapping gives some labels a weight and the rest 1; ml.yaml's
validation (ml_ci.config.semantics) has already refused unknown labels and negative weights.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

from ml_ci.config.model import Config
from ml_ci.tasks.protocols.training import CardText, Loss
from ml_ci.tasks.text_classification.config import of
from ml_ci.tasks.text_classification.data import LABEL, TEXT
from ml_ci.train import base_model

if TYPE_CHECKING:
    from datasets import Dataset

    from ml_ci.train.params import HParams

Spec = Union[str, Mapping[str, float]]


def _load(base: base_model.BaseModel, labels: Sequence[str]) -> tuple[Any, Any]:
    """The tokenizer and the base model with a new head for labels (base_model.load_with_head)."""
    from transformers import AutoModelForSequenceClassification

    return base_model.load_with_head(
        base,
        AutoModelForSequenceClassification,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )


def load_pretrained(base: base_model.BaseModel, config: Config) -> tuple[Any, Any]:
    return _load(base, of(config).labels)


def adapt(model: Any, config: Config, hp: HParams) -> Any:
    """Every weight is trained, as loaded."""
    return model


def encode(dataset: Dataset, tokenizer: Any, config: Config, role: str) -> Dataset:
    """Tokenized once, without padding: DataCollatorWithPadding pads each batch to its own longest row."""
    max_length = config.model.max_length

    def tokenize(batch: dict[str, list[Any]]) -> Any:
        return tokenizer(batch[TEXT], truncation=True, max_length=max_length)

    drop = [c for c in dataset.column_names if c != LABEL]
    encoded: Dataset = dataset.map(tokenize, batched=True, remove_columns=drop, desc=f"tokenize {role}")
    return encoded


def collator(tokenizer: Any) -> Any:
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer)


def classification_metrics(logits: Any, labels: Any) -> dict[str, float]:
    import numpy as np

    from ml_ci.tasks.text_classification.scores import confusion_matrix, f1_macro_from_confusion

    preds = np.asarray(logits).argmax(axis=-1).astype(np.int64)
    truth = np.asarray(labels).astype(np.int64)
    n = int(max(preds.max(initial=0), truth.max(initial=0)) + 1)
    cm = confusion_matrix(truth, preds, max(n, np.asarray(logits).shape[-1]))
    return {"accuracy": float((preds == truth).mean()), "f1_macro": f1_macro_from_confusion(cm)}


def validation_metrics(prediction: Any) -> dict[str, float]:
    return classification_metrics(prediction.predictions, prediction.label_ids)


def compute_metrics(config: Config) -> Callable[[Any], dict[str, float]]:
    """The same for every config: the label indices are all the metrics need."""
    return validation_metrics


# --- train.class_weights ------------------------------------------------------------------


def resolve(spec: Spec, labels: Sequence[str], train_label_ids: Iterable[int]) -> dict[str, float] | None:
    """Label -> weight in the order of labels, or None for `none` (the plain, unweighted loss)."""
    if spec == "none":
        return None
    if isinstance(spec, str):  # "balanced"
        counts = Counter(int(i) for i in train_label_ids)
        rows = sum(counts.values())
        return {name: rows / (len(labels) * counts[i]) if counts[i] else 1.0 for i, name in enumerate(labels)}
    return {name: float(spec.get(name, 1.0)) for name in labels}


def lineage_entry(spec: Spec, weights: Mapping[str, float] | None) -> dict[str, object] | None:
    """What lineage.json says: the setting as written and the weights it resolved to (None: unweighted)."""
    if weights is None:
        return None
    return {"setting": spec if isinstance(spec, str) else dict(spec), "weights": dict(weights)}


def weighted_loss(weights: Sequence[float]) -> Callable[..., Any]:
    """Trainer's compute_loss_func: cross-entropy with each row scaled by its label's weight. The sum is
    divided by the rows of the whole accumulated batch (num_items_in_batch) when Trainer gives it,
    as it expects of such a function, else by the rows of this batch."""
    import torch

    table = torch.tensor(list(weights), dtype=torch.float32)

    def loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs[0]
        labels = labels.view(-1)
        rows = torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]).float(), labels, reduction="none")
        total = (rows * table.to(rows.device)[labels]).sum()
        return total / (num_items_in_batch if num_items_in_batch is not None else labels.numel())

    return loss


def derived_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """compute_metrics names every metric the task has."""
    return metrics


def loss(config: Config, hp: HParams, train: Dataset) -> Loss | None:
    """train.class_weights (the task's key of ml.yaml: no hyperparameter overrides it), resolved against the
    train split's labels."""
    spec = of(config)
    weights = resolve(spec.class_weights, spec.labels, train[LABEL])
    if not weights:
        return None
    summary = ", class weights " + " ".join(f"{k} {v:.3g}" for k, v in weights.items())
    return Loss(compute=weighted_loss(list(weights.values())), weights=weights, summary=summary)


# --- cache key, lineage, model card -------------------------------------------------------


def key_inputs(config: Config) -> dict[str, Any]:
    spec = of(config)
    return {"labels": list(spec.labels), "columns": [spec.text_column, spec.label_column]}


def lineage(config: Config, loss_weights: Mapping[str, float] | None) -> dict[str, Any]:
    entry = lineage_entry(of(config).class_weights, loss_weights)
    return {"class_weights": dict(entry) if entry else None}


def card(config: Config) -> CardText:
    labels = ", ".join(f"`{label}`" for label in of(config).labels)
    return CardText(
        pipeline_tag="text-classification",
        task_name="Text Classification",
        subject="A text classifier",
        purpose=f" for the labels {labels}",
        usage='from transformers import pipeline\n\nclassify = pipeline("text-classification", model="path/to/this/folder")\n',
    )
