"""Run the trained model: batched probabilities and size on disk (latency: `ml_ci.evaluate.latency`).

torch and transformers are imported inside the functions: importing this module stays cheap.
Batches are formed from texts sorted by token length and padded only to the longest in each
batch (dynamic padding), which wastes far less compute than padding everything to max_length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml_ci.errors import OperationalError
from ml_ci.evaluate.metrics import FloatArray

BATCH_SIZE = 64
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")


@dataclass
class Model:
    """A loaded classifier whose output columns are reordered to the config's label order."""

    model: Any
    tokenizer: Any
    columns: list[int]  # columns[i] = the model's output index of data.labels[i]
    max_length: int


def check_model_dir(model_dir: Path) -> None:
    if not model_dir.is_dir():
        raise OperationalError(f"model folder {model_dir} does not exist: run `ml-ci train` first, or pass --model DIR")
    if not (model_dir / "config.json").is_file():
        raise OperationalError(f"model folder {model_dir} has no config.json: it is not a Hugging Face model folder")
    if not any((model_dir / name).is_file() for name in WEIGHT_FILES):
        raise OperationalError(f"model folder {model_dir} has no weights ({' or '.join(WEIGHT_FILES[:2])})")


def label_columns(model_labels: list[str], labels: tuple[str, ...], model_dir: Path) -> list[int]:
    """Map data.labels onto the model's outputs; refuse a model trained on another label set."""
    if sorted(model_labels) != sorted(labels):
        raise OperationalError(
            f"the model in {model_dir} predicts labels {model_labels}, but ml.yaml data.labels is "
            f"{list(labels)}: retrain the model for this label set (`ml-ci train`)"
        )
    return [model_labels.index(label) for label in labels]


def load(model_dir: Path, labels: tuple[str, ...], max_length: int) -> Model:
    check_model_dir(model_dir)
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
    return Model(model, tokenizer, label_columns(model_labels, labels, model_dir), max_length)


def _softmax(logits: Any) -> FloatArray:
    import torch

    probs: FloatArray = torch.softmax(logits.float(), dim=-1).double().numpy()
    return probs


def predict_proba(m: Model, texts: list[str], batch_size: int = BATCH_SIZE) -> FloatArray:
    """Probabilities per text (columns in data.labels order), in the order of `texts`."""
    import torch

    enc = m.tokenizer(texts, truncation=True, max_length=m.max_length)
    ids: list[list[int]] = enc["input_ids"]
    types: list[list[int]] | None = enc.get("token_type_ids")
    pad_id = m.tokenizer.pad_token_id or 0
    order = np.argsort([-len(x) for x in ids], kind="stable")  # longest first: peak memory shows up at once
    out = np.empty((len(texts), len(m.columns)), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = max(len(ids[i]) for i in idx)
            input_ids = np.full((len(idx), width), pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
            if types is not None:
                tt = np.zeros((len(idx), width), dtype=np.int64)
                for row, i in enumerate(idx):
                    tt[row, : len(types[i])] = types[i]
                batch["token_type_ids"] = torch.from_numpy(tt)
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


def folder_size_mb(folder: Path) -> float:
    """Everything the model folder ships (weights, config, tokenizer), in MB (10^6 bytes)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6
