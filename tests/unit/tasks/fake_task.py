"""A task registered in place of text-classification, for the tests that a stage asks the task: its
halves are modules made in the test (each starts as a copy of text-classification's half, with the
names under test replaced), so a stage that still knew the task itself would miss the change."""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

import pytest

from ml_ci import tasks
from ml_ci.tasks.task import Task

PACKAGE = "tests_fake_task"


def half_like(half: str, **replaced: Any) -> types.ModuleType:
    """text-classification's `half` module's names, with `replaced` in place of some."""
    real = importlib.import_module(f"ml_ci.tasks.text_classification.{half}")
    module = types.ModuleType(f"{PACKAGE}.{half}")
    module.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})
    module.__dict__.update(replaced)
    return module


def register(monkeypatch: pytest.MonkeyPatch, **halves: types.ModuleType) -> Task:
    """Register the fake task under the name ml.yaml's `task:` gives (the schema knows no other yet),
    with these halves only: asking it for another is a ModuleNotFoundError."""
    package = types.ModuleType(PACKAGE)
    task = Task(name="text-classification", package=PACKAGE, summary="a fake task for the tests")
    package.TASK = task  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, PACKAGE, package)
    for half, module in halves.items():
        monkeypatch.setitem(sys.modules, f"{PACKAGE}.{half}", module)
    monkeypatch.setitem(tasks.REGISTRY, "text-classification", PACKAGE)
    return task
