"""What the stages need from a task's export half (filled in by the redesign of issue 14)."""

from __future__ import annotations

from typing import Protocol


class ExportHalf(Protocol):
    """A task's export half: a module of the task's package that provides these names."""
