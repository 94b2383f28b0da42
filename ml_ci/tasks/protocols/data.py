"""What the stages need from a task's data half: how rows are made from a table, and its data checks.

ml_ci.data keeps what every task shares: reading the splits into Tables, fingerprints, the held-out
validation split, the generic checks (columns, nulls, empty texts, duplicates, text length, leakage,
drift of text lengths), the report and `ml-ci data check`. The task says which columns it reads,
what its rows are, how a split is stratified, which checks run in which order (generic ones and its
own), and what the report says of each split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from datasets import Dataset

    from ml_ci.config.model import Config, Data
    from ml_ci.data.checks import Registered
    from ml_ci.data.table import Table


class DataHalf(Protocol):
    """A task's data half: a module of the task's package that provides these names. Light to
    import (no `datasets`, no torch at module level): `data check` and the cache keys use it."""

    def columns(self, data: Data) -> tuple[str, ...]:
        """The columns every split must have for the checks after the first to read it, and for
        `rows`: the splits that lack one are left to the first check (`columns`), which names them."""
        ...

    def checks(self) -> Sequence[Registered]:
        """Every data check of the task, in the order they run and are reported: the generic ones of
        ml_ci.data.checks (bound to the task's columns and texts where they take them) and its own. The first is
        the `columns` check, run on every split. Each check that can warn is a name of the schema's
        data.checks.severity; a failure names the check's `setting`."""
        ...

    def texts(self, table: Table, data: Data) -> list[str | None]:
        """The text of each row (None for a missing or non-text one): what the generic text checks
        measure (emptiness, duplicates, length, leakage, length drift) and the held-out validation
        split groups rows by."""
        ...

    def check_inputs(self, config: Config) -> dict[str, Any]:
        """What the task's checks read besides the data section and the splits' content, for the cache key of
        `data check` (token-classification's truncation check: model.base's tokenizer and model.max_length);
        empty when nothing, which leaves the key as it was before tasks could add to it."""
        ...

    def describe(self, table: Table, data: Data) -> dict[str, Any]:
        """What report.json says of a split between its size and its fingerprint (JSON values, in the
        order they are written)."""
        ...

    def strata(self, table: Table, data: Data) -> list[int | None]:
        """One stratum a row for the validation split held out of train (each stratum gives its
        fraction of rows); None for a row the task cannot use (it stays in train, for the checks)."""
        ...

    def split_keys(self, data: Data) -> tuple[str, ...]:
        """The settings that decide `texts` and `strata`: part of the held-out splits' fingerprints, so
        that changing one changes the cache keys of every stage that reads them."""
        ...

    def rows(self, table: Table, data: Data) -> dict[str, list[object]]:
        """The split's rows as plain columns (the task's, then the data.slice_columns as text), as
        training and evaluation read them. Rows it cannot use, or an empty split, are a
        DataCheckError that names them and points at `ml-ci data check`."""
        ...

    def to_dataset(self, table: Table, data: Data) -> Dataset:
        """`rows` as a datasets.Dataset, with the task's features, for training."""
        ...
