"""What the stages need from a task's serving half (filled in by the redesign of issue 14)."""

from __future__ import annotations

from typing import Protocol


class ServingHalf(Protocol):
    """A task's serving half: a module of the task's package that provides these names."""
