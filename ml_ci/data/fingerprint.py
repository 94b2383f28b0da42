"""Content fingerprints of the splits, for cache keys: hashes the files without importing `datasets`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from ml_ci import tasks
from ml_ci.config.model import Config, HubDataset
from ml_ci.data.read import check_size
from ml_ci.data.split import derived_fingerprint, holdout
from ml_ci.digest import file_sha256


def hub_fingerprint(hub: HubDataset, split: str, dataset_fingerprint: str | None = None) -> str:
    """What identifies a hub split: id, config, split and revision (and, once loaded, the dataset's own
    fingerprint). An unpinned revision reads `@unpinned`: such a key cannot notice new data upstream."""
    base = f"hub:{hub.id}/{hub.config or 'default'}[{split}]@{hub.revision or 'unpinned'}"
    return f"{base}#{dataset_fingerprint}" if dataset_fingerprint else base


def hub_split_names(hub: HubDataset) -> dict[str, str]:
    """Role -> hub split name."""
    names = {"train": hub.splits.train, "validation": hub.splits.validation}
    if hub.splits.test:
        names["test"] = hub.splits.test
    return names


def file_paths(config: Config) -> dict[str, str]:
    """Role -> path (as written in ml.yaml, relative to the repository) of each split given as a file."""
    paths = config.data.split_paths()
    if config.data.reference:
        paths["reference"] = config.data.reference
    return paths


def fingerprints(config: Config, roles: Iterable[str] | None = None) -> dict[str, str]:
    """Role -> `sha256:<hex>` of each split file's bytes (the same value `load_splits` reports), or the
    hub coordinates of each hub split; only `roles` when given (a stage hashes what it reads).
    A validation split held out of train, and the rest of train, get fingerprints derived from the
    training file's (ml_ci.data.split). Streams the files; refuses one above the size cap."""
    wanted = None if roles is None else set(roles)
    hub = config.data.hub
    if hub is not None:
        return {
            role: hub_fingerprint(hub, split) for role, split in hub_split_names(hub).items() if wanted is None or role in wanted
        }
    spec = holdout(config.data)
    split = spec is not None and (wanted is None or bool(wanted & {"train", "validation"}))
    out: dict[str, str] = {}
    for role, rel in file_paths(config).items():
        if (wanted is not None and role not in wanted) and not (split and role == "train"):
            continue
        path = config.root / rel
        check_size(path, rel, key=f"data.{role}")
        out[role] = "sha256:" + file_sha256(path)
    if spec is not None and "train" in out:
        # Both sides of a held-out validation split are named by the file and the split's settings.
        keys = tasks.get(config.task).data().split_keys(config.data)
        out["validation"] = derived_fingerprint(out["train"], spec, "validation", keys)
        out["train"] = derived_fingerprint(out["train"], spec, "train", keys)
    return {role: fp for role, fp in out.items() if wanted is None or role in wanted}


def combined(fingerprints_by_role: dict[str, str]) -> str:
    """One fingerprint for all splits: sha256 over `role=fingerprint` lines in role order."""
    lines = "".join(f"{role}={fp}\n" for role, fp in sorted(fingerprints_by_role.items()))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()
