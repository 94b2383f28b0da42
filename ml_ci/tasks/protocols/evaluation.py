"""What the stages need from a task's evaluation half (filled in by the redesign of issue 14)."""

from __future__ import annotations

from typing import Protocol


class EvaluationHalf(Protocol):
    """A task's evaluation half: a module of the task's package that provides these names."""
