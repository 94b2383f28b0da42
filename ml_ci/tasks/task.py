"""`Task`: what a task is made of, and how a stage reaches each of its halves.

A task package defines `TASK = Task(...)` in its `__init__` and one module per half. Each half module
satisfies one protocol of `ml_ci.tasks.protocols` (a module can implement a Protocol, as pre-commit's
language modules do); `Task` imports a half only when it is asked for, so that asking for the
serving half never imports torch, and the light path (validate, generate) imports no half at all.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml_ci.tasks.protocols.config import ConfigHalf
    from ml_ci.tasks.protocols.data import DataHalf
    from ml_ci.tasks.protocols.evaluation import EvaluationHalf
    from ml_ci.tasks.protocols.export import ExportHalf
    from ml_ci.tasks.protocols.serving import ServingHalf
    from ml_ci.tasks.protocols.training import TrainingHalf

HALVES = ("config", "data", "training", "evaluation", "export", "serving")


@dataclass(frozen=True, kw_only=True)
class Task:
    name: str  # as ml.yaml's `task:` names it
    package: str  # the package holding one module per half
    summary: str  # one line, for docs and `ml-ci init`

    def _half(self, half: str) -> Any:
        return importlib.import_module(f"{self.package}.{half}")

    def config(self) -> ConfigHalf:
        """Its ml.yaml section: schema fragment, metrics, typed view (light: no torch)."""
        half: ConfigHalf = self._half("config")
        return half

    def data(self) -> DataHalf:
        half: DataHalf = self._half("data")
        return half

    def training(self) -> TrainingHalf:
        half: TrainingHalf = self._half("training")
        return half

    def evaluation(self) -> EvaluationHalf:
        half: EvaluationHalf = self._half("evaluation")
        return half

    def export(self) -> ExportHalf:
        half: ExportHalf = self._half("export")
        return half

    def serving(self) -> ServingHalf:
        """Torch-free: what the image and the smoke test share."""
        half: ServingHalf = self._half("serving")
        return half
