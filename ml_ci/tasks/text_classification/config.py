"""text-classification's config half (`ml_ci.tasks.protocols.config.ConfigHalf`): its metrics, its keys of
ml.yaml (data.labels, data.text_column, data.label_column, the class-balance thresholds of data.checks,
train.class_weights), their checks and typed view."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Union

from ml_ci.errors import Problem

if TYPE_CHECKING:
    from ml_ci.config.model import Config, Data
    from ml_ci.tasks.protocols.config import ProblemAt

METRICS: tuple[str, ...] = ("accuracy", "f1_macro", "f1_micro", "precision_macro", "recall_macro", "roc_auc", "ece")
LOWER_IS_BETTER: frozenset[str] = frozenset({"ece"})
# Each is a fraction; an accuracy of 0 (or an ECE of 0) can occur.
METRIC_RANGES: Mapping[str, tuple[float, float, bool]] = dict.fromkeys(METRICS, (0.0, 1.0, True))
SLICE_COLUMNS: Mapping[str, str] = {}  # every slice column comes from the data (data.slice_columns)
# What the Trainer computes on the validation split while training (ECE is not among them).
TUNE_METRICS: tuple[str, ...] = ("accuracy", "f1_macro", "f1_micro", "precision_macro", "recall_macro", "roc_auc")
DEFAULT_METRICS: tuple[str, ...] = (*METRICS, "latency_p50_ms", "latency_p95_ms", "size_mb")
TIMED: frozenset[str] = frozenset()
TOKEN_METRICS: bool = False  # its server answers labels, not tokens
CLIENT_PATHS: tuple[str, ...] = ()  # POST /v1/predict is all it serves
STARTUP_SECONDS: int = 120  # an encoder of up to a few hundred MB loads in seconds
TUNABLE: Mapping[str, Mapping[str, Any]] = {}  # the generic train.* hyperparameters only
PATTERN_METRICS: Mapping[str, tuple[float, float, bool]] = {}  # every metric is named in METRICS

SECTIONS: Mapping[str, Mapping[str, Any]] = {
    "data": {
        "properties": {
            "text_column": {
                "type": "string",
                "description": "Column holding the input text.",
                "minLength": 1,
                "default": "text",
                "examples": ["text", "sentence"],
            },
            "label_column": {
                "type": "string",
                "description": "Column holding the label (a name from `labels`, or its index).",
                "minLength": 1,
                "default": "label",
                "examples": ["label"],
            },
            "labels": {
                "type": "array",
                "description": "Label names, in index order.",
                "items": {"type": "string", "minLength": 1},
                "minItems": 2,
                "uniqueItems": True,
                "examples": [["negative", "positive"]],
            },
            "checks": {
                "properties": {
                    "min_rows_per_class": {
                        "type": "integer",
                        "description": "Minimum rows of each label in the training split.",
                        "minimum": 0,
                        "default": 1,
                        "examples": [20],
                    },
                    "max_class_imbalance": {
                        "type": "number",
                        "description": "Largest allowed ratio between the most and the least frequent label in training.",
                        "minimum": 1,
                        "default": 10.0,
                        "examples": [3.0],
                    },
                }
            },
        },
        "required": ["labels"],
    },
    "train": {
        "properties": {
            "class_weights": {
                "description": "Weight of each label in the training loss, for a rare class: none (all 1), balanced "
                "(n_rows / (n_labels x rows of the label), from the train split), or a weight per label (labels not "
                "listed: 1). Recorded in lineage.json.",
                "type": ["string", "object"],
                "pattern": "^(none|balanced)$",
                "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1000000},
                "default": "none",
                "examples": ["balanced", {"negative": 1, "positive": 4}],
            }
        }
    },
}

MINIMAL_DATA: str = "  labels: [negative, positive]\n"
INIT_DATA: str = (
    "  # csv, json/jsonl or parquet files inside the repository\n"
    "  train: data/train.csv\n  validation: data/validation.csv\n  test: data/test.csv\n"
    "  text_column: text\n  label_column: label\n  labels: [negative, positive]\n"
)
INIT_MODEL: str = "  base: sentence-transformers/all-MiniLM-L6-v2\n  max_length: 128\n"
INIT_BOUND: str = "min: 0.80"
INIT_NEXT: str = "edit the data paths and labels"


@dataclass(frozen=True, kw_only=True)
class TextClassificationSpec:
    """The task's keys of ml.yaml, typed: what its data, training, evaluation and serving halves read."""

    labels: tuple[str, ...]
    text_column: str
    label_column: str
    min_rows_per_class: int  # data.checks
    max_class_imbalance: float  # data.checks
    class_weights: Union[Literal["none", "balanced"], dict[str, float]]  # label -> weight (the training half)


def task_params(data: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def spec(data: Mapping[str, Any]) -> TextClassificationSpec:
    d = data["data"]
    weights = data["train"]["class_weights"]
    return TextClassificationSpec(
        labels=tuple(d["labels"]),
        text_column=d["text_column"],
        label_column=d["label_column"],
        min_rows_per_class=d["checks"]["min_rows_per_class"],
        max_class_imbalance=d["checks"]["max_class_imbalance"],  # as written: 3 stays 3 in messages
        class_weights=dict(weights) if isinstance(weights, dict) else weights,
    )


def of(config: Config | Data) -> TextClassificationSpec:
    """The typed view load_config stored on a text-classification Config (and on its data section, which
    the data half is given)."""
    if not isinstance(config.spec, TextClassificationSpec):
        task = getattr(config, "task", None)  # a data section names no task
        what = f"{getattr(config, 'path', '')}: task {task!r}" if task else "the data section's task"
        raise TypeError(f"{what} is not text-classification")
    return config.spec


def _class_weight_problems(problem: ProblemAt, weights: Any, labels: list[str]) -> list[Problem]:
    """train.class_weights given per label: each key one of data.labels, and some weight above 0."""
    if not isinstance(weights, dict):
        return []
    at = ("train", "class_weights")
    if not weights:
        return [problem(at, "no weight given: write a weight per label (e.g. {positive: 4}), or balanced")]
    problems = []
    for label in weights:
        if label not in labels:
            close = difflib.get_close_matches(str(label), labels, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"the labels are {', '.join(map(repr, labels))}"
            problems.append(problem((*at, label), f"{label!r} is not one of data.labels; {hint}", key=True))
    unlisted = [name for name in labels if name not in weights]  # weight 1
    if not problems and not unlisted and all(w == 0 for w in weights.values()):
        problems.append(problem(at, "every weight is 0: the loss would be 0 and nothing would be learned"))
    return problems


def check(data: Mapping[str, Any], problem: ProblemAt) -> list[Problem]:
    return _class_weight_problems(problem, data["train"].get("class_weights"), data["data"].get("labels") or [])
