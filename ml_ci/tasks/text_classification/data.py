"""text-classification's data half (`ml_ci.tasks.protocols.data.DataHalf`): a row is a text and a
label, an index into data.labels, read from data.text_column and data.label_column.

Its checks: every label known (`labels`), each label's rows in train (`min_rows_per_class`), the
ratio of the most to the least frequent (`class_balance`), and the label distribution beside the
text lengths in `drift`; the rest are ml_ci.data.checks' own. A validation split held out of train
is stratified by label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ml_ci.config.model import Config, Data
from ml_ci.data import checks as generic
from ml_ci.data.checks import Outcome, Registered, Tables
from ml_ci.data.table import Table, count, is_missing
from ml_ci.errors import DataCheckError
from ml_ci.tasks.text_classification.config import of

if TYPE_CHECKING:
    from datasets import Dataset

TEXT = "text"
LABEL = "label"
_SHOWN = 5  # offending rows named in a message


def label_index(value: object, labels: Sequence[str]) -> int | None:
    """The index of a label value: a name from `labels`, or its index (an int, or digits in text).

    A name wins over an index, so labels ["1", "0"] read "1" as index 0. None when the value
    is missing or names no label.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        if value in labels:
            return labels.index(value)
        text = value.strip()
        if text.isdigit() and int(text) < len(labels):
            return int(text)
        return None
    if isinstance(value, int) and 0 <= value < len(labels):
        return value
    if isinstance(value, float) and value.is_integer() and 0 <= value < len(labels):
        return int(value)
    return None


def label_hint(values: Sequence[object]) -> str:
    """The fix for labels written as whole numbers with a decimal point ('3.0', as a float column is
    saved as text): they name no label, and every such row fails. Empty when no value looks so."""
    for value in values:
        if isinstance(value, str) and "." in value:
            try:
                number = float(value)
            except ValueError:
                continue
            if number.is_integer():
                return (
                    f"; labels such as {value!r} are read as text: write label indices as integers "
                    f"({int(number)}) or as names from data.labels"
                )
    return ""


def unknown_labels(values: Sequence[object], labels: Sequence[str]) -> list[int]:
    return [i for i, v in enumerate(values) if not is_missing(v) and label_index(v, labels) is None]


def label_counts(values: Sequence[object], labels: Sequence[str]) -> list[int]:
    counts = [0] * len(labels)
    for v in values:
        if (index := label_index(v, labels)) is not None:
            counts[index] += 1
    return counts


# --- the checks ---------------------------------------------------------------------------


def _is_label(v: object) -> bool:
    return not isinstance(v, bool) and isinstance(v, (str, int, float))


def check_columns(tables: Tables, data: Data) -> list[Outcome]:
    """The text, label and slice columns exist; texts are strings, labels strings or integers."""
    spec = of(data)
    return generic.check_columns(
        tables,
        data,
        (
            generic.Column(spec.text_column, "data.text_column", "text", lambda v: isinstance(v, str)),
            generic.Column(spec.label_column, "data.label_column", "label names or indices", _is_label),
        ),
    )


def texts(table: Table, data: Data) -> list[str | None]:
    """The text column's values, None for a missing or non-text one."""
    return generic.as_texts(table.column(of(data).text_column))


def check_null_fraction(tables: Tables, data: Data) -> list[Outcome]:
    """Rows missing the text or the label, per split, at most data.checks.max_null_fraction."""
    spec = of(data)
    return generic.check_null_fraction(tables, data, (spec.text_column, spec.label_column), "the text or the label")


def check_empty_texts(tables: Tables, data: Data) -> list[Outcome]:
    return generic.check_empty_texts(tables, data, lambda t: texts(t, data))


def check_duplicates(tables: Tables, data: Data) -> list[Outcome]:
    return generic.check_duplicates(tables, data, lambda t: texts(t, data))


def check_text_length(tables: Tables, data: Data) -> list[Outcome]:
    return generic.check_text_length(tables, data, lambda t: texts(t, data))


def check_leakage(tables: Tables, data: Data) -> list[Outcome]:
    return generic.check_leakage(tables, data, lambda t: texts(t, data))


def check_labels(tables: Tables, data: Data) -> list[Outcome]:
    """Every label is a name from data.labels or an index into it."""
    out: list[Outcome] = []
    spec = of(data)
    labels = spec.labels
    for role, t in tables.items():
        values = t.column(spec.label_column)
        rows = unknown_labels(values, labels)
        first = generic.first_rows(t, rows, values)
        message = (
            f"{t.source}: {count(len(rows), 'row')} with a label outside {list(labels)} "
            f"(or its indices 0-{len(labels) - 1})" + generic.listing(first, len(rows)) + label_hint([values[i] for i in rows])
            if rows
            else f"{t.source}: every label is in {list(labels)}"
        )
        out.append(
            Outcome(
                check="labels",
                split=role,
                passed=not rows,
                value=len(rows),
                limit=0,
                message=message,
                rows=generic.first_rows(t, rows),
            )
        )
    return out


def _train(tables: Tables) -> list[tuple[str, Table]]:
    return [("train", tables["train"])] if "train" in tables else []


def check_min_rows_per_class(tables: Tables, data: Data) -> list[Outcome]:
    """Each label has at least data.checks.min_rows_per_class rows in the training split."""
    out: list[Outcome] = []
    spec = of(data)
    limit = spec.min_rows_per_class
    for role, t in _train(tables):
        counts = label_counts(t.column(spec.label_column), spec.labels)
        short = [(name, n) for name, n in zip(spec.labels, counts, strict=True) if n < limit]
        if short:
            message = (
                f"{t.source}: "
                + ", ".join(f"label {name!r} has {count(n, 'row')}" for name, n in short)
                + f", fewer than min_rows_per_class {limit}"
            )
        else:
            message = f"{t.source}: every label has at least {count(limit, 'row')} (fewest: {min(counts)})"
        out.append(
            Outcome(
                check="min_rows_per_class",
                split=role,
                passed=not short,
                value=min(counts),
                limit=limit,
                message=message,
                details=dict(zip(spec.labels, counts, strict=True)),
            )
        )
    return out


def check_class_balance(tables: Tables, data: Data) -> list[Outcome]:
    """The most frequent label has at most data.checks.max_class_imbalance times the rows of the least frequent."""
    out: list[Outcome] = []
    spec = of(data)
    limit = spec.max_class_imbalance
    for role, t in _train(tables):
        counts = dict(zip(spec.labels, label_counts(t.column(spec.label_column), spec.labels), strict=True))
        most, least = max(counts, key=counts.__getitem__), min(counts, key=counts.__getitem__)
        if counts[least] == 0:
            absent = [name for name, n in counts.items() if n == 0]
            out.append(
                Outcome(
                    check="class_balance",
                    split=role,
                    passed=False,
                    value=None,
                    limit=limit,
                    details=counts,
                    message=f"{t.source}: label {', '.join(map(repr, absent))} has no rows; "
                    f"the model cannot learn it (max_class_imbalance {limit})",
                )
            )
            continue
        ratio = counts[most] / counts[least]
        message = (
            f"{t.source}: every label has {count(counts[most], 'row')}: ratio 1.00"
            if ratio == 1
            else f"{t.source}: most frequent label {most!r} has {count(counts[most], 'row')}, least frequent {least!r} "
            f"{counts[least]}: ratio {ratio:.2f}"
        )
        passed = ratio <= limit
        message += f", above max_class_imbalance {limit}" if not passed else f" (max_class_imbalance {limit})"
        out.append(
            Outcome(check="class_balance", split=role, passed=passed, value=ratio, limit=limit, message=message, details=counts)
        )
    return out


def check_drift(tables: Tables, data: Data) -> list[Outcome]:
    """The label distribution and the text lengths of each split against the reference."""
    spec = of(data)
    return generic.check_drift(
        tables, data, lambda t: texts(t, data), {"label": lambda t: label_counts(t.column(spec.label_column), spec.labels)}
    )


# The one list of checks, in the order they run and are reported. Those that can warn are the schema's
# data.checks.severity names (a test checks it).
CHECKS: tuple[Registered, ...] = (
    Registered("columns", check_columns, setting="data.text_column / data.label_column", can_warn=False),
    Registered("min_rows", generic.check_min_rows, setting="data.checks.min_rows"),
    Registered("null_fraction", check_null_fraction, setting="data.checks.max_null_fraction", can_warn=False),
    Registered("empty_texts", check_empty_texts, setting="data.checks.max_empty_fraction"),
    Registered("labels", check_labels, setting="data.labels", can_warn=False),
    Registered("duplicates", check_duplicates, setting="data.checks.max_duplicate_fraction"),
    Registered("text_length", check_text_length, setting="data.checks.text_length"),
    Registered("min_rows_per_class", check_min_rows_per_class, setting="data.checks.min_rows_per_class"),
    Registered("class_balance", check_class_balance, setting="data.checks.max_class_imbalance"),
    Registered("leakage", check_leakage, lambda data: data.checks.leakage, setting="data.checks.leakage"),
    Registered("drift", check_drift, setting="data.checks.drift.threshold"),
)


def checks() -> tuple[Registered, ...]:
    return CHECKS


# --- rows ---------------------------------------------------------------------------------


def columns(data: Data) -> tuple[str, ...]:
    spec = of(data)
    return (spec.text_column, spec.label_column)


def check_inputs(config: Config) -> dict[str, Any]:
    """Its checks read nothing but the data section and the splits."""
    return {}


def describe(table: Table, data: Data) -> dict[str, Any]:
    """The split's rows per label, every label named (0 for one without rows)."""
    spec = of(data)
    return {"labels": dict(zip(spec.labels, label_counts(table.column(spec.label_column), spec.labels), strict=True))}


def strata(table: Table, data: Data) -> list[int | None]:
    spec = of(data)
    return [label_index(v, spec.labels) for v in table.column(spec.label_column)]


def split_keys(data: Data) -> tuple[str, ...]:
    spec = of(data)
    return (spec.text_column, spec.label_column, *spec.labels)


def missing_columns(table: Table, data: Data) -> list[str]:
    spec = of(data)
    wanted = [spec.text_column, spec.label_column, *data.slice_columns]
    return [name for name in wanted if name not in table.columns]


def _rows_for_training(table: Table, data: Data) -> tuple[list[str], list[int]]:
    missing = missing_columns(table, data)
    if missing:
        raise DataCheckError(
            f"{table.source}: no column {', '.join(map(repr, missing))} "
            f"(columns: {', '.join(table.columns) or 'none'}); set data.text_column / data.label_column"
        )
    texts: list[str] = []
    labels: list[int] = []
    bad: list[str] = []
    bad_labels: list[object] = []
    spec = of(data)
    for loc, text, value in zip(table.locations, table.columns[spec.text_column], table.columns[spec.label_column], strict=True):
        index = label_index(value, spec.labels)
        if is_missing(text) or not isinstance(text, str):
            bad.append(f"{loc} (text is {'missing' if is_missing(text) else type(text).__name__})")
        elif index is None:
            bad.append(f"{loc} (label {'is missing' if is_missing(value) else f'{value!r} is not one of {list(spec.labels)}'})")
            bad_labels.append(value)
        else:
            texts.append(text)
            labels.append(index)
    if bad:
        raise DataCheckError(
            f"{table.source}: cannot use {count(len(bad), 'row')}: {'; '.join(bad[:_SHOWN])}"
            f"{'; ...' if len(bad) > _SHOWN else ''}{label_hint(bad_labels)}. "
            "Run `ml-ci data check` for the full report"
        )
    if not texts:
        raise DataCheckError(f"{table.source}: the split has no rows")
    return texts, labels


def rows(table: Table, data: Data) -> dict[str, list[object]]:
    """One split's checked columns as plain lists: `text`, `label` (int) and the slice columns. What
    to_dataset wraps; evaluate reads these directly (a Dataset of 10,000 rows costs seconds to build
    and as many to read back)."""
    texts, labels = _rows_for_training(table, data)
    clash = [c for c in data.slice_columns if c in (TEXT, LABEL)]
    if clash:
        raise DataCheckError(f"slice column {clash[0]!r} clashes with the column ml-ci names {clash[0]!r}; rename it in the data")
    columns: dict[str, list[object]] = {TEXT: list(texts), LABEL: list(labels)}
    for name in data.slice_columns:
        columns[name] = [None if is_missing(v) else str(v) for v in table.columns[name]]
    return columns


def to_dataset(table: Table, data: Data) -> Dataset:
    """The Dataset of one split: `text`, `label` (int) and the slice columns."""
    from datasets import ClassLabel, Dataset, Features, Value

    columns = rows(table, data)
    spec = of(data)
    features = Features(
        {
            TEXT: Value("string"),
            LABEL: ClassLabel(names=list(spec.labels)),
            **{name: Value("string") for name in data.slice_columns},
        }
    )
    return Dataset.from_dict(columns, features=features)
