"""A second task, registered for a test only (monkeypatch): its metrics and data keys differ from
text-classification's, and it has a config half only."""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from typing import Any

import pytest

from ml_ci import tasks
from ml_ci.errors import Problem
from ml_ci.tasks.task import Task

FAKE_METRICS = ("bleu", "rouge_l")


def _check(data: Mapping[str, Any], problem: Any) -> list[Problem]:
    return []


def register_fake_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registers `fake-task` (package `fake_task`) until the test ends."""
    package = types.ModuleType("fake_task")
    package.TASK = Task(name="fake-task", package="fake_task", summary="a task for the test")  # type: ignore[attr-defined]
    half = types.ModuleType("fake_task.config")
    for name, value in {
        "METRICS": FAKE_METRICS,
        "LOWER_IS_BETTER": frozenset(),
        "METRIC_RANGES": dict.fromkeys(FAKE_METRICS, (0.0, 1.0, True)),
        "PATTERN_METRICS": {},
        "SLICE_COLUMNS": {},
        "TUNE_METRICS": FAKE_METRICS,
        "DEFAULT_METRICS": (*FAKE_METRICS, "latency_p50_ms", "latency_p95_ms", "size_mb"),
        "TIMED": frozenset(),
        "TOKEN_METRICS": False,
        "CLIENT_PATHS": (),
        "STARTUP_SECONDS": 120,
        "TUNABLE": {},
        "task_params": lambda data: {},
        "SECTIONS": {"data": {"properties": {"question_column": {"type": "string", "default": "question"}}}},
        "MINIMAL_DATA": "",
        "INIT_DATA": "  # csv, json/jsonl or parquet files inside the repository\n"
        "  train: data/train.csv\n  validation: data/validation.csv\n  test: data/test.csv\n  question_column: question\n",
        "INIT_MODEL": "  base: sentence-transformers/all-MiniLM-L6-v2\n  max_length: 128\n",
        "INIT_BOUND": "min: 0.80",
        "INIT_NEXT": "edit the data paths and the question column",
        "check": _check,
        "spec": lambda data: None,
    }.items():
        setattr(half, name, value)
    data = types.ModuleType("fake_task.data")  # for the schema: its data checks that can warn (none)
    data.checks = lambda: ()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_task", package)
    monkeypatch.setitem(sys.modules, "fake_task.config", half)
    monkeypatch.setitem(sys.modules, "fake_task.data", data)
    monkeypatch.setitem(tasks.REGISTRY, "fake-task", "fake_task")
