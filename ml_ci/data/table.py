"""One split as plain columns: what the checks read and what `load` turns into a datasets.Dataset.

Kept free of `datasets` and numpy so that every check is a pure function over lists, tested on
toy tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ROLES = ("train", "validation", "test", "reference")


@dataclass(frozen=True, kw_only=True)
class Table:
    """The rows of one split, column by column, as read (None where a value is missing).

    `locations` names each row for messages: `data/train.csv:12` (the CSV line where the record
    starts), `data/train.jsonl:3`, `data/train.parquet: row 7`, `org/name[train]: row 7`.
    """

    role: str
    source: str
    columns: dict[str, list[object]]
    locations: list[str]
    fingerprint: str = ""

    def __len__(self) -> int:
        return len(self.locations)

    def column(self, name: str) -> list[object]:
        return self.columns.get(name, [None] * len(self))


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


def count(n: int, noun: str) -> str:
    """'1 row', '2 rows': messages are asserted word for word, so they should read right."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def is_missing(value: object) -> bool:
    """None, or a float NaN (what pandas-written Parquet and JSON use for a missing value)."""
    return value is None or (isinstance(value, float) and value != value)
