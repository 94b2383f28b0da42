"""Load the splits of ml.yaml as Tables (files or a hub dataset), and as `datasets.Dataset`s for training.

The task makes each split's rows (`DataHalf.to_dataset`: its columns, plus the data.slice_columns
as read); rows it cannot train on fail with DataCheckError naming them, and `ml-ci data check`
reports everything at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ml_ci import tasks
from ml_ci.config.model import Config, HubDataset
from ml_ci.data.fingerprint import file_paths, hub_fingerprint, hub_split_names
from ml_ci.data.read import infer_format, read_table
from ml_ci.data.split import holdout, split_table
from ml_ci.data.table import ROLES, Table
from ml_ci.errors import ConfigError, DataCheckError, OperationalError, Problem

if TYPE_CHECKING:
    from datasets import Dataset

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
        return {
            role: replace(hub_table(data.hub, role, split, hub_loader), root=config.root)
            for role, split in hub_split_names(data.hub).items()
        }
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
                        f"cannot tell the format of {rel!r} from its extension; "
                        "set data.format (csv, tsv, json, parquet or conll)",
                    )
                ]
            )
        tables[role] = read_table(config.root / rel, role=role, source=rel, fmt=fmt, delimiter=data.delimiter, key=f"data.{role}")
    if (spec := holdout(data)) is not None:
        half = tasks.get(config.task).data()
        train = tables["train"]
        tables["train"], tables["validation"] = split_table(
            train, spec, texts=half.texts(train, data), strata=half.strata(train, data), keys=half.split_keys(data)
        )
    return {role: replace(tables[role], root=config.root) for role in ROLES if role in tables}


@dataclass(frozen=True)
class Splits:
    """The loaded splits by role. `reference` is data.reference, or the training split."""

    datasets: dict[str, Dataset]
    fingerprints: dict[str, str]
    sources: dict[str, str]

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
    half = tasks.get(config.task).data()
    return Splits(
        datasets={role: half.to_dataset(t, config.data) for role, t in tables.items()},
        fingerprints={role: t.fingerprint for role, t in tables.items()},
        sources={role: t.source for role, t in tables.items()},
    )
