"""The seam to the data loader: the one split evaluate reads, as plain lists.

`ml_ci.data.load` does the loading (files or a hub dataset, labels mapped to integers through
data.labels, the same checks as for training); this module only picks the split and takes out the
texts, labels, slice columns and fingerprint, so the rest of evaluate never touches `datasets`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ml_ci.config.model import Config
from ml_ci.errors import DataCheckError
from ml_ci.evaluate.metrics import IntArray


@dataclass(frozen=True)
class EvalSplit:
    role: str  # "test" or "validation"
    texts: list[str]
    labels: IntArray
    columns: dict[str, list[Any]] = field(default_factory=dict)  # the slice columns
    fingerprint: str | None = None


def split_role(config: Config) -> str:
    """evaluate.split, falling back to validation when there is no test split."""
    has_test = bool(config.data.test) or bool(config.data.hub and config.data.hub.splits.test)
    return "test" if config.evaluate.split == "test" and has_test else "validation"


def load_eval_split(config: Config) -> EvalSplit:
    """The evaluated split only, as the loader checks it, without a round trip through `datasets`."""
    from ml_ci import tasks
    from ml_ci.data.load import load_tables
    from ml_ci.tasks.text_classification.data import LABEL, TEXT

    role = split_role(config)
    table = load_tables(config).get(role)
    if table is None:
        raise DataCheckError(f"there is no {role} split to evaluate on (data.{role} in ml.yaml)")
    rows = tasks.get(config.task).data().rows(table, config.data)
    return from_columns(config, role, rows, table.fingerprint, text=TEXT, label=LABEL)


def from_columns(
    config: Config, role: str, columns: dict[str, list[Any]], fingerprint: str | None, *, text: str, label: str
) -> EvalSplit:
    """Check and take out what evaluate needs from the split's columns."""
    for col in (text, label):
        if col not in columns:
            raise DataCheckError(f"the {role} split has no column {col!r}")
    n = len(config.data.labels)
    labels = np.asarray(columns[label], dtype=np.int64)
    if len(labels) == 0:
        raise DataCheckError(f"the {role} split is empty: nothing to evaluate")
    if labels.min() < 0 or labels.max() >= n:
        bad = int(labels[(labels < 0) | (labels >= n)][0])
        raise DataCheckError(f"the {role} split has label index {bad}, outside data.labels {list(config.data.labels)}")
    texts = ["" if t is None else str(t) for t in columns[text]]
    slice_cols = {c: columns[c] for c in config.data.slice_columns if c in columns}
    return EvalSplit(role, texts, labels, slice_cols, fingerprint)
