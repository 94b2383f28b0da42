"""Load the splits of ml.yaml as `datasets.Dataset`s for training and evaluation.

Each Dataset has the columns `text` (str) and `label` (int, an index into data.labels), plus the
data.slice_columns as read. Rows that cannot be trained on (a missing text, a label outside the
set) fail with DataCheckError naming them; `ml-ci data check` reports everything at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ml_ci.config.model import Config, Data, HubDataset
from ml_ci.data.fingerprint import file_paths, hub_fingerprint, hub_split_names
from ml_ci.data.read import infer_format, read_table
from ml_ci.data.split import holdout, split_table
from ml_ci.data.table import ROLES, Table, count, is_missing, label_hint, label_index
from ml_ci.errors import ConfigError, DataCheckError, OperationalError, Problem

if TYPE_CHECKING:
    from datasets import Dataset

TEXT = "text"
LABEL = "label"
_SHOWN = 5  # offending rows named in a message

HubLoader = Callable[[HubDataset, str], "Dataset"]


def load_hub_split(hub: HubDataset, split: str) -> Dataset:
    """One split of a hub dataset, pinned to data.hub.revision when given."""
    import datasets

    try:
        loaded = datasets.load_dataset(hub.id, hub.config, revision=hub.revision, split=split)
    except FileNotFoundError as e:
        raise DataCheckError(f"hub dataset {hub.id}: {e}") from None
    except ValueError as e:  # an unknown split or config
        raise DataCheckError(f"hub dataset {hub.id}[{split}]: {e}") from None
    except ConnectionError as e:
        raise OperationalError(f"hub dataset {hub.id}: cannot reach the hub: {e}") from None
    if not isinstance(loaded, datasets.Dataset):
        raise DataCheckError(f"hub dataset {hub.id}[{split}]: expected one split, got {type(loaded).__name__}")
    return loaded


def hub_table(hub: HubDataset, role: str, split: str, loader: HubLoader = load_hub_split) -> Table:
    dataset = loader(hub, split)
    source = f"{hub.id}[{split}]"
    locations = [f"{source}: row {i}" for i in range(1, len(dataset) + 1)]
    return Table(
        role=role,
        source=source,
        columns=dataset.to_dict(),
        locations=locations,
        fingerprint=hub_fingerprint(hub, split, dataset._fingerprint),
    )


def load_tables(config: Config, hub_loader: HubLoader = load_hub_split) -> dict[str, Table]:
    """Role -> Table for every split ml.yaml names (train, validation, test, reference), read once."""
    data = config.data
    if data.hub is not None:
        return {role: hub_table(data.hub, role, split, hub_loader) for role, split in hub_split_names(data.hub).items()}
    tables: dict[str, Table] = {}
    for role, rel in file_paths(config).items():
        fmt = infer_format(rel, data.format)
        if fmt is None:
            raise ConfigError(
                [
                    Problem(
                        str(config.path),
                        0,
                        0,
                        f"data.{role}",
                        f"cannot tell the format of {rel!r} from its extension; set data.format (csv, tsv, json or parquet)",
                    )
                ]
            )
        tables[role] = read_table(config.root / rel, role=role, source=rel, fmt=fmt, delimiter=data.delimiter, key=f"data.{role}")
    if (spec := holdout(data)) is not None:
        tables["train"], tables["validation"] = split_table(tables["train"], data, spec)
    return {role: tables[role] for role in ROLES if role in tables}


def missing_columns(table: Table, data: Data) -> list[str]:
    wanted = [data.text_column, data.label_column, *data.slice_columns]
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
    for loc, text, value in zip(table.locations, table.columns[data.text_column], table.columns[data.label_column], strict=True):
        index = label_index(value, data.labels)
        if is_missing(text) or not isinstance(text, str):
            bad.append(f"{loc} (text is {'missing' if is_missing(text) else type(text).__name__})")
        elif index is None:
            bad.append(f"{loc} (label {'is missing' if is_missing(value) else f'{value!r} is not one of {list(data.labels)}'})")
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


def split_columns(table: Table, data: Data) -> dict[str, list[object]]:
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

    columns = split_columns(table, data)
    features = Features(
        {
            TEXT: Value("string"),
            LABEL: ClassLabel(names=list(data.labels)),
            **{name: Value("string") for name in data.slice_columns},
        }
    )
    return Dataset.from_dict(columns, features=features)


@dataclass(frozen=True)
class Splits:
    """The loaded splits by role. `reference` is data.reference, or the training split."""

    datasets: dict[str, Dataset]
    fingerprints: dict[str, str]
    sources: dict[str, str]
    labels: tuple[str, ...]

    def __getitem__(self, role: str) -> Dataset:
        if role == "reference" and role not in self.datasets:
            return self.datasets["train"]
        return self.datasets[role]

    def get(self, role: str) -> Dataset | None:
        try:
            return self[role]
        except KeyError:
            return None

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.datasets)


def load_splits(config: Config, hub_loader: HubLoader = load_hub_split) -> Splits:
    """Every split of ml.yaml as a datasets.Dataset (see the module docstring), with its fingerprint."""
    tables = load_tables(config, hub_loader)
    return Splits(
        datasets={role: to_dataset(t, config.data) for role, t in tables.items()},
        fingerprints={role: t.fingerprint for role, t in tables.items()},
        sources={role: t.source for role, t in tables.items()},
        labels=config.data.labels,
    )
