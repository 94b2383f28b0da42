"""What the stages need from a task's training half (filled in by the redesign of issue 14)."""

from __future__ import annotations

from typing import Protocol


class TrainingHalf(Protocol):
    """A task's training half: a module of the task's package that provides these names."""
