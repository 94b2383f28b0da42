"""Baselines: earlier evaluation records, found where GitOps keeps the truth (no extra database).

`against: production` reads the eval.json that deploy commits beside the production overlay of
the GitOps repository; `against: main` reads the record of the latest evaluation on main (a file
or a folder holding eval.json, e.g. a downloaded workflow artifact). A record of another model or
task, or one its task refuses (`EvaluationHalf.check_baseline`), is refused: comparing against it
would be meaningless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml_ci import tasks
from ml_ci.config.model import Config
from ml_ci.errors import OperationalError
from ml_ci.evaluate.gates import BaselineMetrics
from ml_ci.records import evaluation as eval_record
from ml_ci.records.evaluation import EvalRecord
from ml_ci.tasks.protocols.evaluation import Rows

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
    record: EvalRecord

    def metrics(self, scope: str = "overall") -> BaselineMetrics | None:
        if scope == "overall":
            return BaselineMetrics(self.against, self.source, self.record.metrics)
        for s in self.record.slices:
            if s.name == scope and s.metrics:
                return BaselineMetrics(self.against, self.source, s.metrics)
        return None

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "git": self.record.git,
            "model": self.record.model,
            "created": self.record.created,
            "metrics": self.record.metrics,
        }


def production_path(config: Config, gitops_dir: Path) -> Path:
    if config.deploy is None or config.deploy.gitops is None:
        raise OperationalError(
            "--gitops-dir needs deploy.gitops in ml.yaml (its `path` says where the model's "
            "overlays live in the GitOps repository)"
        )
    return gitops_dir / config.deploy.gitops.path / "overlays" / PRODUCTION / "eval.json"


def check_compatible(record: EvalRecord, config: Config, source: str) -> None:
    """Refuse a record of another model or task, or one the task refuses, naming what differs."""
    theirs = (record.name, record.task)
    if theirs != (config.name, config.task):
        raise OperationalError(
            f"baseline {source} is the evaluation of {theirs[0]!r} ({theirs[1]}), not of "
            f"{config.name!r} ({config.task}): point the baseline at this model's eval.json"
        )
    tasks.get(config.task).evaluation().check_baseline(record, config, source)


def _load(path: Path, against: str, config: Config) -> Baseline:
    if path.is_dir():
        path = path / "eval.json"
    head = tasks.get(config.task).evaluation().RECORD_HEAD
    record = eval_record.read(path, f"baseline for `against: {against}`", head=head)
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


def pair(current: Sequence[str], theirs: Sequence[str], subset: Rows | None = None) -> tuple[Rows, Rows]:
    """Align current and baseline examples on the same texts, by hash (repeated texts in order):
    the rows of each, in current's order (of `subset` only, when given)."""
    slots: dict[str, list[int]] = {}
    for j, h in enumerate(theirs):
        slots.setdefault(h, []).append(j)
    mine_idx: list[int] = []
    their_idx: list[int] = []
    wanted = range(len(current)) if subset is None else (int(i) for i in subset)
    for i in wanted:
        queue = slots.get(current[i])
        if queue:
            mine_idx.append(i)
            their_idx.append(queue.pop(0))
    return np.asarray(mine_idx, dtype=np.int64), np.asarray(their_idx, dtype=np.int64)
