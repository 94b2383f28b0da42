"""text-classification's evaluation half (`ml_ci.tasks.protocols.evaluation.EvaluationHalf`).

truth: label indices into data.labels. outputs: class probabilities, one row per text, one column per
label in data.labels order (the model's own output order may differ: `load` maps it). The scores are
`scores.score`'s (accuracy, macro F1/precision/recall, ECE, ROC AUC, per class, the confusion
matrix); accuracy is paired as each example right or wrong (McNemar), the others by recomputing the
metric on resamples (paired bootstrap). The report adds the per-class table and the confusion matrix.

torch and transformers are imported inside the functions: importing this module stays cheap.
Batches are formed from texts sorted by token length and padded only to the longest in each
batch (dynamic padding), which wastes far less compute than padding everything to max_length.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ml_ci.errors import DataCheckError, OperationalError
from ml_ci.evaluate.batches import padded_batches
from ml_ci.tasks.protocols.evaluation import Examples, Paired, ReportParts, Rows, Scores
from ml_ci.tasks.text_classification.config import of
from ml_ci.tasks.text_classification.scores import PAIRED_METRICS, FloatArray, IntArray, metric_fn
from ml_ci.tasks.text_classification.scores import score as score_all

if TYPE_CHECKING:
    from ml_ci.config.model import Config
    from ml_ci.records.evaluation import EvalRecord

BATCH_SIZE = 64
HEADLINE_METRICS: tuple[tuple[str, str], ...] = (("accuracy", "accuracy"), ("f1_macro", "F1 macro"))
RECORD_HEAD: tuple[str, ...] = ("labels",)
LATENCY_RUNTIME = "onnxruntime, through ml-ci serve's Classifier (the serving image's code path), one text per request"
# With two classes the metrics already say it all; from three on, the terminal's per-class table shows
# which class the model gets wrong (a rare class hides behind a good macro average).
PER_CLASS_FROM = 3
PER_CLASS_HEADER = ["label", "precision", "recall", "F1", "support"]


# --- the split ----------------------------------------------------------------------------------


def examples(config: Config, role: str, columns: dict[str, list[Any]], fingerprint: str | None) -> Examples:
    """Check and take out what evaluate needs from the split's columns."""
    from ml_ci.tasks.text_classification.data import LABEL, TEXT

    for col in (TEXT, LABEL):
        if col not in columns:
            raise DataCheckError(f"the {role} split has no column {col!r}")
    n = len(of(config).labels)
    labels = np.asarray(columns[LABEL], dtype=np.int64)
    if len(labels) == 0:
        raise DataCheckError(f"the {role} split is empty: nothing to evaluate")
    if labels.min() < 0 or labels.max() >= n:
        bad = int(labels[(labels < 0) | (labels >= n)][0])
        raise DataCheckError(f"the {role} split has label index {bad}, outside data.labels {list(of(config).labels)}")
    texts = ["" if t is None else str(t) for t in columns[TEXT]]
    slice_cols = {c: columns[c] for c in config.data.slice_columns if c in columns}
    return Examples(role, texts, labels, slice_cols, fingerprint)


# --- the model ----------------------------------------------------------------------------------


@dataclass
class Model:
    """A loaded classifier whose output columns are reordered to the config's label order."""

    model: Any
    tokenizer: Any
    columns: list[int]  # columns[i] = the model's output index of data.labels[i]
    max_length: int


def label_columns(model_labels: list[str], labels: tuple[str, ...], model_dir: Path) -> list[int]:
    """Map data.labels onto the model's outputs; refuse a model trained on another label set."""
    if sorted(model_labels) != sorted(labels):
        raise OperationalError(
            f"the model in {model_dir} predicts labels {model_labels}, but ml.yaml data.labels is "
            f"{list(labels)}: retrain the model for this label set (`ml-ci train`)"
        )
    return [model_labels.index(label) for label in labels]


def load(model_dir: Path, config: Config) -> Model:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # a bar per load is noise in CI logs
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    except (OSError, ValueError) as e:
        raise OperationalError(f"cannot load the model in {model_dir}: {e}") from None
    model.eval()
    id2label = model.config.id2label or {}
    model_labels = [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(model.config.num_labels)]
    return Model(model, tokenizer, label_columns(model_labels, of(config).labels, model_dir), config.model.max_length)


def _softmax(logits: Any) -> FloatArray:
    import torch

    probs: FloatArray = torch.softmax(logits.float(), dim=-1).double().numpy()
    return probs


def predict(m: Model, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> FloatArray:
    """Probabilities per text (columns in data.labels order), in the order of `texts`."""
    import torch

    enc = m.tokenizer(list(texts), truncation=True, max_length=m.max_length)
    ids: list[list[int]] = enc["input_ids"]
    types: list[list[int]] | None = enc.get("token_type_ids")
    pad_id = m.tokenizer.pad_token_id or 0
    out = np.empty((len(texts), len(m.columns)), dtype=np.float64)
    with torch.inference_mode():
        for idx, batch in padded_batches(ids, types, pad_id, batch_size):
            out[idx] = _softmax(m.model(**batch).logits)[:, m.columns]
    check_finite(out)
    return out


def check_finite(probs: FloatArray) -> None:
    """NaN outputs would turn into arbitrary predictions and metrics: refuse them, saying where."""
    bad = ~np.isfinite(probs).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise OperationalError(
            f"the model produced NaN or infinite probabilities for {int(bad.sum())} of {len(probs)} "
            f"examples (the first at index {first}): its weights are broken, e.g. trained with a "
            "diverging loss; retrain it (`ml-ci train`)"
        )


def serving_copy(model_dir: Path, dest: Path, *, name: str, max_length: int, opset: int, quantize: str) -> Path:
    """dest/ as `ml-ci export` writes it, as far as the server reads it (export's own functions do the export)."""
    from ml_ci.export import onnx_export
    from ml_ci.tasks.text_classification.export import TorchModel
    from ml_ci.tasks.text_classification.serving import TOKENIZER

    torch_model = TorchModel(model_dir, max_length)
    labels = [label for _, label in sorted(torch_model.id2label().items())]
    return onnx_export.serving_copy(
        torch_model,
        dest,
        name=name,
        payload={"labels": labels},
        max_length=max_length,
        opset=opset,
        quantize=quantize,
        tokenizer=model_dir / TOKENIZER,
    )


def outputs(loaded: Any, examples: Examples) -> Any:
    return predict(loaded, examples.texts)


def key_inputs(config: Config) -> dict[str, Any]:
    return {}


def latency_predictor(model_dir: Path, work: Path, config: Config) -> Callable[[list[str]], Any]:
    """The server's own Classifier (tokenizers + onnxruntime) on a serving copy exported into `work`."""
    from ml_ci.tasks.text_classification.serving import Classifier

    folder = serving_copy(
        model_dir,
        work,
        name=config.name,
        max_length=config.model.max_length,
        opset=config.package.opset,
        quantize=config.package.quantize,
    )
    timed: Callable[[list[str]], Any] = Classifier(folder).probabilities
    return timed


# --- scores -------------------------------------------------------------------------------------


def score(config: Config, truth: IntArray, outputs: FloatArray, rows: Rows | None = None) -> Scores:
    if rows is not None:
        truth, outputs = truth[rows], outputs[rows]
    s = score_all(truth, outputs, of(config).labels)
    record = {"per_class": {k: vars(v) for k, v in s.per_class.items()}, "confusion_matrix": s.confusion}
    return Scores(dict(s.metrics), s.undefined, record)


def paired(metric: str, truth: IntArray, current: FloatArray, baseline: FloatArray, mine: Rows, theirs: Rows) -> Paired | None:
    if metric not in PAIRED_METRICS:
        return None
    y, cur, base = truth[mine], current[mine], baseline[theirs]
    fn = metric_fn(metric, cur.shape[1])

    def statistic(rows: Rows) -> tuple[float, float]:
        return fn(y[rows], cur[rows]), fn(y[rows], base[rows])

    correct = (cur.argmax(axis=1) == y, base.argmax(axis=1) == y) if metric == "accuracy" else None
    return Paired(len(y), statistic, correct)


# --- the record ---------------------------------------------------------------------------------


def record_head(config: Config) -> dict[str, Any]:
    return {"labels": list(of(config).labels)}


def prediction_rows(config: Config, truth: IntArray, outputs: FloatArray) -> list[dict[str, Any]]:
    labels = of(config).labels
    predicted = outputs.argmax(axis=1)
    return [
        {"label": labels[int(t)], "predicted": labels[int(p)], "probabilities": [round(float(x), 6) for x in row]}
        for t, p, row in zip(truth, predicted, outputs, strict=True)
    ]


def read_predictions(config: Config, rows: Sequence[Mapping[str, Any]]) -> tuple[IntArray, FloatArray]:
    labels = of(config).labels
    index = {label: i for i, label in enumerate(labels)}
    return (
        np.asarray([index[r["label"]] for r in rows], dtype=np.int64),
        np.asarray([r["probabilities"] for r in rows], dtype=np.float64).reshape(len(rows), len(labels)),
    )


def check_baseline(record: EvalRecord, config: Config, source: str) -> None:
    labels = record.task_head.get("labels")
    ours = of(config).labels
    if list(labels or []) != list(ours):
        raise OperationalError(
            f"baseline {source} has labels {labels}, but ml.yaml data.labels is "
            f"{list(ours)}: a model with another label set is not a baseline"
        )


# --- the report ---------------------------------------------------------------------------------


def per_class_rows(record: EvalRecord) -> list[list[str]]:
    from ml_ci.report.markdown import plain_num

    return [
        [str(label), plain_num(c.get("precision")), plain_num(c.get("recall")), plain_num(c.get("f1")), str(c.get("support"))]
        for label, c in (record.task_scores.get("per_class") or {}).items()
    ]


def confusion_table(record: EvalRecord) -> str:
    from ml_ci.report.markdown import escape, table

    labels = [escape(str(x)) for x in record.task_head.get("labels", [])]
    cm = record.task_scores.get("confusion_matrix") or []
    rows = [[f"**{labels[i]}**", *(str(v) for v in row)] for i, row in enumerate(cm)]
    return table(["true \\ predicted", *labels], rows)


def report(record: EvalRecord) -> ReportParts:
    from ml_ci.report import markdown, text

    rows = per_class_rows(record)
    terminal = []
    if len(record.task_head.get("labels") or ()) >= PER_CLASS_FROM and record.task_scores.get("per_class"):
        terminal.append("per class:\n" + text.table(PER_CLASS_HEADER, rows))
    return ReportParts(
        headline=HEADLINE_METRICS,
        sections=(
            ("Per class", markdown.escaped_table(PER_CLASS_HEADER, rows)),
            ("Confusion matrix", confusion_table(record)),
        ),
        text=tuple(terminal),
        plots="confusion matrix",
    )


def confusion_png(labels: Sequence[str], matrix: Sequence[Sequence[int]], path: Path) -> Path:
    from ml_ci.report.plots import figure

    n = len(labels)
    with figure(path, figsize=(2.2 + 0.6 * n, 1.8 + 0.6 * n)) as (_, ax):
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(n), labels=list(labels), rotation=45, ha="right")
        ax.set_yticks(range(n), labels=list(labels))
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        top = max((max(row) for row in matrix), default=0)
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", color="white" if v > top / 2 else "black")
        ax.set_title("confusion matrix")
    return path


def plots(record: EvalRecord, folder: Path) -> list[Path]:
    return [confusion_png(record.task_head["labels"], record.task_scores["confusion_matrix"], folder / "confusion.png")]
