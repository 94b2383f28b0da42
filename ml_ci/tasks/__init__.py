"""The tasks ml-ci can train and ship, one package each, listed in one registry.

What varies between tasks (its ml.yaml section and schema, how rows are made, the model, metrics,
prediction, export, golden examples, report sections and the torch-free serving half) lives in the
task's package; stages ask the task through the protocols in `ml_ci.tasks.protocols` and never name
a task's concepts. As pre-commit keeps one module per language and cibuildwheel one per platform.

Importing this module is cheap: a task's package is imported when it is asked for, and each of its
halves (data, training, evaluation, export, serving) only when a stage asks for that half.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ml_ci.tasks.task import Task

# task name (ml.yaml `task:`) -> the package that defines TASK. The schema's enum of tasks is made from it.
REGISTRY: dict[str, str] = {
    "text-classification": "ml_ci.tasks.text_classification",
    "token-classification": "ml_ci.tasks.token_classification",
    "text-generation": "ml_ci.tasks.text_generation",
}


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get(name: str) -> Task:
    """The task called `name`; KeyError for a name not in the registry (the schema refuses those first)."""
    task: Task = importlib.import_module(REGISTRY[name]).TASK
    return task
