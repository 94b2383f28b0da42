"""The class of bug of serve.protocol.Refusal (issue 14.6): an exception that is a frozen dataclass.

Raising sets `__traceback__`, and contextlib's @contextmanager sets it again when the exception passes
through a `with`; a frozen dataclass refuses both with FrozenInstanceError, which replaces the error the
user should have seen with a crash. Read from the source (importing every module would import torch)."""

from __future__ import annotations

import ast
import builtins
import contextlib
from collections.abc import Iterator
from dataclasses import FrozenInstanceError, dataclass

import pytest

from tests.conftest import ROOT

BUILTIN_EXCEPTIONS = {
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
}


def _frozen(node: ast.ClassDef) -> bool:
    return any(
        isinstance(deco, ast.Call)
        and getattr(deco.func, "id", getattr(deco.func, "attr", "")) == "dataclass"
        and any(k.arg == "frozen" and isinstance(k.value, ast.Constant) and k.value.value is True for k in deco.keywords)
        for deco in node.decorator_list
    )


def frozen_exceptions(sources: dict[str, str]) -> list[str]:
    """`file:line class` for each class that derives (by name, across these sources) from an exception
    and is a frozen dataclass."""
    classes = [
        (name, node) for name, text in sources.items() for node in ast.walk(ast.parse(text)) if isinstance(node, ast.ClassDef)
    ]
    exceptions = set(BUILTIN_EXCEPTIONS) | {"FrozenInstanceError", "JSONDecodeError", "ClickException", "UsageError"}
    while True:  # derive transitively: class A(MlCiError), class B(A), ...
        more = {
            node.name
            for _, node in classes
            if any(
                isinstance(b, (ast.Name, ast.Attribute)) and (getattr(b, "id", None) or getattr(b, "attr", "")) in exceptions
                for b in node.bases
            )
        }
        if more <= exceptions:
            break
        exceptions |= more
    return [f"{name}:{node.lineno} {node.name}" for name, node in classes if node.name in exceptions and _frozen(node)]


def test_no_exception_in_ml_ci_is_a_frozen_dataclass() -> None:
    sources = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in sorted((ROOT / "ml_ci").rglob("*.py"))}
    assert frozen_exceptions(sources) == []


def test_the_check_finds_one_even_through_a_base_class() -> None:
    source = """
from dataclasses import dataclass
class Base(ValueError): ...
@dataclass(frozen=True)
class Refusal(Base):
    status: int
@dataclass(frozen=True)
class Record:
    status: int
"""
    assert frozen_exceptions({"m.py": source}) == ["m.py:5 Refusal"]


def test_why_it_matters() -> None:
    @dataclass(frozen=True)
    class Frozen(Exception):
        status: int

    @contextlib.contextmanager
    def passing_through() -> Iterator[None]:
        yield

    with pytest.raises(FrozenInstanceError), passing_through():
        raise Frozen(400)
