"""What the stages need from a task's training half: the model and its head, how a split is encoded
and batched, the metrics computed at each validation, the loss when the task replaces the model's
own, and the task's part of the cache key, lineage.json and the model card.

ml_ci.train keeps what every task shares: transformers' Trainer loop (seeding, precision, DDP,
checkpoints and resume, the report callback that tuning prunes on, saving), the cache key, lineage
and the card's frame; ml_ci.tune tunes over whatever metrics `compute_metrics` names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from datasets import Dataset

    from ml_ci.config.model import Config
    from ml_ci.train.base_model import BaseModel
    from ml_ci.train.params import HParams


@dataclass(frozen=True)
class Loss:
    """A training loss in place of the model's own."""

    compute: Callable[..., Any]  # Trainer's compute_loss_func(outputs, targets, num_items_in_batch=None)
    weights: dict[str, float]  # what it weighs, by name: FitResult.loss_weights, then `lineage`
    summary: str  # appended to the "training ..." log line: what it weighs, in a few words


@dataclass(frozen=True, kw_only=True)
class CardText:
    """The task's part of the model card (README.md): the card's frame is ml_ci.train.card's."""

    pipeline_tag: str  # the hub's pipeline_tag, also a tag and model-index's task type
    task_name: str  # model-index's task name
    subject: str  # the card's first sentence starts "{subject} fine-tuned by ml-ci from ..."
    purpose: str  # ... and ends with it (" for ..."), after the base model's identity
    usage: str  # the Python under "## Use"


class TrainingHalf(Protocol):
    """A task's training half: a module of the task's package that provides these names. Light to
    import; torch, transformers and datasets are imported inside the functions."""

    def load_pretrained(self, base: BaseModel, config: Config) -> tuple[Any, Any]:
        """(tokenizer, model): model.base with the task's head, newly initialized (after the seed is
        set). A hub model that cannot be had is base_model.load_error's OperationalError, not a traceback."""
        ...

    def adapt(self, model: Any, config: Config, hp: HParams) -> Any:
        """The model `load_pretrained` gave, made ready to train with these hyperparameters: wrapped in an adapter
        (text-generation's LoRA, sized by hp.task_params), with gradient checkpointing; the model itself when
        the task trains every weight as loaded."""
        ...

    def encode(self, dataset: Dataset, tokenizer: Any, config: Config, role: str) -> Dataset:
        """A split of `DataHalf.to_dataset` as the model takes it: tokenized (truncated to model.max_length,
        unpadded, or packed where the task's settings say so), with only the columns the model and
        `compute_metrics` read."""
        ...

    def collator(self, tokenizer: Any) -> Any:
        """Trainer's data_collator: pads each batch of `encode`'s rows."""
        ...

    def compute_metrics(self, config: Config) -> Callable[[Any], dict[str, float]] | None:
        """Trainer's compute_metrics for this config (a task may need its labels or tags to name what the
        model predicts): over an EvalPrediction of the validation split, metric -> value. These names (with
        `loss`) are what FitResult.metrics, metrics.json, the report callback and tune's objective read. None:
        the validation loss alone, and Trainer keeps no predictions (a language model's logits are vocabulary-wide)."""
        ...

    def derived_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        """A validation's metrics (Trainer's, `loss` among them) with those the task derives from them added
        (text-generation's perplexity = exp(loss)); unchanged for a task whose compute_metrics names them all."""
        ...

    def loss(self, config: Config, hp: HParams, train: Dataset) -> Loss | None:
        """The loss to train with given the hyperparameters and the encoded-to-be train split, or
        None for the model's own."""
        ...

    def key_inputs(self, config: Config) -> dict[str, Any]:
        """The task's settings a trained model depends on beyond model.* and train.*: part of the
        train stage's cache key (JSON values)."""
        ...

    def lineage(self, config: Config, loss_weights: Mapping[str, float] | None) -> dict[str, Any]:
        """What lineage.json records of the task's training (JSON values): its keys join the record's."""
        ...

    def card(self, config: Config) -> CardText:
        """The task's part of the model card."""
        ...
