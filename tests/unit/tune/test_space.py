from __future__ import annotations

from typing import Any

import pytest

from ml_ci.config.model import CategoricalParam, FloatParam, IntParam, Param
from ml_ci.tune.space import MAX_GRID_POINTS, grid, grid_size, grid_values, suggest


class Recorder:
    """Records how suggest() asks; answers the low end (or the first choice)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> float:
        self.calls.append(("float", name, low, high, step, log))
        return low

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        self.calls.append(("int", name, low, high, step, log))
        return low

    def suggest_categorical(self, name: str, choices: tuple[Any, ...]) -> Any:
        self.calls.append(("categorical", name, choices))
        return choices[0]


def test_suggest_passes_scale_and_step_per_kind() -> None:
    space: dict[str, Param] = {
        "learning_rate": FloatParam(type="float", low=1e-5, high=1e-3, log=True),
        "warmup_ratio": FloatParam(type="float", low=0.0, high=0.2, log=False, step=0.05),
        "gradient_accumulation_steps": IntParam(type="int", low=1, high=8, log=True),
        "batch_size": IntParam(type="int", low=8, high=32, log=False, step=8),
        "epochs": CategoricalParam(type="categorical", choices=(1, 2)),
    }
    trial = Recorder()
    params = suggest(trial, space)
    assert params == {"learning_rate": 1e-5, "warmup_ratio": 0.0, "gradient_accumulation_steps": 1, "batch_size": 8, "epochs": 1}
    assert trial.calls == [
        ("float", "learning_rate", 1e-5, 1e-3, None, True),
        ("float", "warmup_ratio", 0.0, 0.2, 0.05, False),
        ("int", "gradient_accumulation_steps", 1, 8, 1, True),
        ("int", "batch_size", 8, 32, 8, False),
        ("categorical", "epochs", (1, 2)),
    ]


def test_grid_values_discretize_each_kind() -> None:
    assert grid_values(FloatParam(type="float", low=0.0, high=0.3, log=False, step=0.1)) == [0.0, 0.1, 0.2, 0.3]
    # A step that does not divide the range stops below high, as Optuna's suggest_float does.
    assert grid_values(FloatParam(type="float", low=1.0, high=2.0, log=False, step=0.4)) == [1.0, 1.4, 1.8]
    assert grid_values(IntParam(type="int", low=8, high=32, log=False, step=8)) == [8, 16, 24, 32]
    assert grid_values(IntParam(type="int", low=1, high=3, log=False)) == [1, 2, 3]
    assert grid_values(CategoricalParam(type="categorical", choices=("a", True))) == ["a", True]


def test_float_without_step_cannot_be_a_grid() -> None:
    with pytest.raises(ValueError, match="needs a step"):
        grid_values(FloatParam(type="float", low=0.0, high=1.0, log=False))


def test_grid_size_and_cap() -> None:
    space: dict[str, Param] = {
        "a": IntParam(type="int", low=1, high=4, log=False),
        "b": CategoricalParam(type="categorical", choices=(1, 2, 3)),
    }
    assert grid_size(grid(space)) == 12
    huge: dict[str, Param] = {"a": FloatParam(type="float", low=0.0, high=1.0, log=False, step=1e-6)}
    with pytest.raises(ValueError, match=f"more than {MAX_GRID_POINTS}"):
        grid(huge)
