"""One split as plain columns: what the checks read and what `load` turns into a datasets.Dataset.

Kept free of `datasets` and numpy so that every check is a pure function over lists, tested on
toy tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    # The model repository the split belongs to (load_tables sets it): what a check that reads a file named in
    # ml.yaml relative to it (token-classification's tokenizer of model.base) resolves against.
    root: Path | None = None

    def __len__(self) -> int:
        return len(self.locations)

    def column(self, name: str) -> list[object]:
        return self.columns.get(name, [None] * len(self))


def count(n: int, noun: str) -> str:
    """'1 row', '2 rows': messages are asserted word for word, so they should read right."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def is_missing(value: object) -> bool:
    """None, or a float NaN (what pandas-written Parquet and JSON use for a missing value)."""
    return value is None or (isinstance(value, float) and value != value)
