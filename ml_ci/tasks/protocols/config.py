"""What the stages need from a task's config half (filled in by the redesign of issue 14)."""

from __future__ import annotations

from typing import Protocol


class ConfigHalf(Protocol):
    """A task's config half: a module of the task's package that provides these names."""
