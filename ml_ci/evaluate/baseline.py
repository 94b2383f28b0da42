"""Baselines: earlier evaluation records, found where GitOps keeps the truth (no extra database).

`against: production` reads the eval.json that deploy commits beside the production overlay of
the GitOps repository; `against: main` reads the record of the latest evaluation on main (a file
or a folder holding eval.json, e.g. a downloaded workflow artifact). A record of another model or
label set is refused: comparing against it would be meaningless.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml_ci.config.model import Config
from ml_ci.errors import OperationalError
from ml_ci.evaluate.gates import BaselineMetrics
from ml_ci.evaluate.record import Predictions, read_record
from ml_ci.evaluate.significance import Paired

PRODUCTION = "production"


@dataclass(frozen=True)
class BaselineSources:
    """Where to look: from the command line (`--baseline`, `--gitops-dir`, `--main-baseline`)."""

    baseline: Path | None = None  # serves every `against` not given otherwise
    gitops_dir: Path | None = None
    main: Path | None = None


@dataclass(frozen=True)
class Baseline:
    against: str
    source: str
    record: dict[str, Any]

    def metrics(self, scope: str = "overall") -> BaselineMetrics | None:
        if scope == "overall":
            return BaselineMetrics(self.against, self.source, self.record["metrics"])
        for s in self.record.get("slices", []):
            if s.get("name") == scope and s.get("metrics"):
                return BaselineMetrics(self.against, self.source, s["metrics"])
        return None

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "git": self.record.get("git"),
            "model": self.record.get("model"),
            "created": self.record.get("created"),
            "metrics": self.record["metrics"],
        }


def production_path(config: Config, gitops_dir: Path) -> Path:
    if config.deploy is None or config.deploy.gitops is None:
        raise OperationalError(
            "--gitops-dir needs deploy.gitops in ml.yaml (its `path` says where the model's "
            "overlays live in the GitOps repository)"
        )
    return gitops_dir / config.deploy.gitops.path / "overlays" / PRODUCTION / "eval.json"


def check_compatible(record: Mapping[str, Any], config: Config, source: str) -> None:
    """Refuse a record of another model, task or label set, naming what differs."""
    theirs = (record.get("name"), record.get("task"))
    if theirs != (config.name, config.task):
        raise OperationalError(
            f"baseline {source} is the evaluation of {theirs[0]!r} ({theirs[1]}), not of "
            f"{config.name!r} ({config.task}): point the baseline at this model's eval.json"
        )
    if list(record.get("labels", [])) != list(config.data.labels):
        raise OperationalError(
            f"baseline {source} has labels {record.get('labels')}, but ml.yaml data.labels is "
            f"{list(config.data.labels)}: a model with another label set is not a baseline"
        )


def _load(path: Path, against: str, config: Config) -> Baseline:
    if path.is_dir():
        path = path / "eval.json"
    record = read_record(path, f"baseline for `against: {against}`")
    check_compatible(record, config, str(path))
    return Baseline(against, str(path), record)


def resolve(config: Config, sources: BaselineSources) -> dict[str, Baseline | None]:
    """The baseline of each `against` the gates use; None where there is none yet.

    A missing production record in an existing GitOps checkout means nothing was deployed yet: no
    baseline. A path given explicitly that does not exist is an error (a typo, not a first run).
    """
    wanted = {g.against for g in config.evaluate.gates if g.against}
    wanted |= {g.against for s in config.evaluate.slices for g in s.gates if g.against}
    out: dict[str, Baseline | None] = {}
    for against in sorted(wanted):
        path: Path | None = None
        if against == PRODUCTION and sources.gitops_dir is not None:
            if not sources.gitops_dir.is_dir():
                raise OperationalError(f"--gitops-dir {sources.gitops_dir} is not a folder")
            path = production_path(config, sources.gitops_dir)
            if not path.exists():
                out[against] = None
                continue
        elif against == "main" and sources.main is not None:
            path = sources.main
        elif sources.baseline is not None:
            path = sources.baseline
        out[against] = _load(path, against, config) if path is not None else None
    return out


def pair(
    current: Predictions, baseline: Mapping[str, Any], labels: tuple[str, ...], subset: np.ndarray[Any, Any] | None = None
) -> Paired:
    """Align current and baseline predictions on the same texts (by hash; repeated texts in order)."""
    rows = baseline.get("predictions") or []
    try:
        theirs = Predictions.from_json(rows, labels)
    except (KeyError, TypeError, ValueError):
        return Paired(np.zeros(0, np.int64), np.zeros((0, len(labels))), np.zeros((0, len(labels))))
    slots: dict[str, list[int]] = {}
    for j, h in enumerate(theirs.hashes):
        slots.setdefault(h, []).append(j)
    mine_idx: list[int] = []
    their_idx: list[int] = []
    wanted = range(len(current.hashes)) if subset is None else (int(i) for i in subset)
    for i in wanted:
        queue = slots.get(current.hashes[i])
        if queue:
            mine_idx.append(i)
            their_idx.append(queue.pop(0))
    mi = np.asarray(mine_idx, dtype=np.int64)
    ti = np.asarray(their_idx, dtype=np.int64)
    return Paired(current.y_true[mi], current.probs[mi], theirs.probs[ti])
