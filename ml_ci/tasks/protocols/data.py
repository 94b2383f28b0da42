"""What the stages need from a task's data half (filled in by the redesign of issue 14)."""

from __future__ import annotations

from typing import Protocol


class DataHalf(Protocol):
    """A task's data half: a module of the task's package that provides these names."""
