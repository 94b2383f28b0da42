"""Toy tables and data configs for the data-check unit tests: no files, no `datasets`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ml_ci.config.model import Data, DataChecks, Drift, TextLength
from ml_ci.data import checks
from ml_ci.data.table import Table
from ml_ci.tasks.text_classification import data as tc
from ml_ci.tasks.text_classification.config import TextClassificationSpec

LABELS = ("negative", "positive")


def data_config(*, labels: tuple[str, ...] = LABELS, slice_columns: tuple[str, ...] = (), **checks: Any) -> Data:
    """A Data section with the schema's defaults, thresholds overridden by keyword (text-classification's
    min_rows_per_class and max_class_imbalance among them: they go into the task's view)."""
    spec = {"min_rows_per_class": 1, "max_class_imbalance": 10.0}
    spec.update({k: checks.pop(k) for k in list(checks) if k in spec})
    values: dict[str, Any] = {
        "min_rows": 1,
        "max_null_fraction": 0.0,
        "max_empty_fraction": 0.0,
        "max_duplicate_fraction": 0.05,
        "text_length": TextLength(min=1, max=10000),
        "leakage": True,
        "drift": Drift(method="psi", threshold=0.2),
        "severity": {},
    }
    values.update(checks)
    return Data(
        slice_columns=slice_columns,
        checks=DataChecks(**values),
        train="train.csv",
        validation="validation.csv",
        spec=TextClassificationSpec(
            labels=labels,
            text_column="text",
            label_column="label",
            min_rows_per_class=int(spec["min_rows_per_class"]),
            max_class_imbalance=spec["max_class_imbalance"],
            class_weights="none",
        ),
    )


def table(
    role: str,
    texts: Sequence[object],
    labels: Sequence[object],
    *,
    source: str | None = None,
    extra: dict[str, list[object]] | None = None,
) -> Table:
    """A CSV-like table: row i is on line i + 2 (after the header)."""
    source = source or f"{role}.csv"
    return Table(
        role=role,
        source=source,
        columns={"text": list(texts), "label": list(labels), **(extra or {})},
        locations=[f"{source}:{i + 2}" for i in range(len(texts))],
        fingerprint=f"sha256:{role}",
    )


def balanced(role: str, n: int, prefix: str = "text") -> Table:
    """n distinct texts alternating negative/positive, of lengths that vary."""
    return table(role, [f"{prefix} number {i} " + "x" * (i % 7) for i in range(n)], [LABELS[i % 2] for i in range(n)])


def run_checks(tables: checks.Tables, data: Data) -> list[checks.Outcome]:
    """Every check of text-classification, as `ml-ci data check` runs them."""
    return checks.run_checks(tables, data, tc.checks(), tc.columns(data))
