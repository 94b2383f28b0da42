"""Every registered task implements every half of the protocol (mypy checks the same statically in
ml_ci/tasks/conformance.py)."""

from __future__ import annotations

import importlib
import inspect

import pytest

from ml_ci import tasks
from ml_ci.tasks import conformance
from ml_ci.tasks.task import HALVES


def members(protocol: type) -> set[str]:
    """The names a Protocol asks for: its methods and its annotated attributes."""
    own = {name for name, _ in inspect.getmembers(protocol) if not name.startswith("_")}
    return own | {name for name in getattr(protocol, "__annotations__", {}) if not name.startswith("_")}


def test_the_registry_lists_the_tasks() -> None:
    assert tasks.names() == ("text-classification", "token-classification", "text-generation")
    assert tasks.get("text-classification").name == "text-classification"
    assert tasks.get("token-classification").name == "token-classification"
    with pytest.raises(KeyError):
        tasks.get("image-segmentation")


@pytest.mark.parametrize("name", tasks.names())
@pytest.mark.parametrize("half", HALVES)
def test_each_task_implements_each_half(name: str, half: str) -> None:
    protocol_module = importlib.import_module(f"ml_ci.tasks.protocols.{half}")
    protocol = getattr(protocol_module, f"{half.capitalize()}Half")
    module = getattr(tasks.get(name), half)()
    missing = sorted(m for m in members(protocol) if not hasattr(module, m))
    assert not missing, f"{name}: {module.__name__} lacks {missing} of {protocol.__name__}"


def test_conformance_lists_every_task() -> None:
    assert tasks.names() == conformance.CHECKED
