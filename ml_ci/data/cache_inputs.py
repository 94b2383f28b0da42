"""What the data-dependent stages' cache keys read from ml.yaml's `data` section. Pure.

`loading` is what turns the split files into rows (columns, the task's settings, format, where the files are);
every stage that loads the splits keys on it. `check_inputs` adds the checks, for `data check`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ml_ci.config.by_task import section
from ml_ci.config.model import Config

# Read only for the version: the parquet reader (csv and json are the stdlib's).
CHECK_PACKAGES = ("pyarrow",)


def loading(config: Config) -> dict[str, Any]:
    """The data section without its checks: a changed check changes no loaded row."""
    return {k: v for k, v in section(config, "data").items() if k != "checks"}


def split_fingerprints(fingerprints: Mapping[str, str], roles: Iterable[str]) -> dict[str, str | None]:
    """The fingerprints of the roles a stage reads (None for one ml.yaml does not have)."""
    return {role: fingerprints.get(role) for role in sorted(roles)}


def check_inputs(
    config: Config, *, fingerprints: Mapping[str, str], packages: Mapping[str, str], task: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Everything `data check` reads: the whole data section, every split's content (the reference split too,
    for drift), and what the task's checks read besides (DataHalf.check_inputs; absent when nothing)."""
    inputs = {
        "data": section(config, "data"),
        "fingerprints": dict(sorted(fingerprints.items())),
        "packages": dict(sorted(packages.items())),
    }
    return {**inputs, "task": dict(task)} if task else inputs
