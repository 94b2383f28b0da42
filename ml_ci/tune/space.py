"""tune.search_space -> Optuna suggestions, and the discretized grid for the grid sampler.

Pure: the trial is anything with Optuna's suggest_* methods, so tests pass optuna's FixedTrial
or a fake.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol, Union

from ml_ci.config.model import CategoricalParam, FloatParam, IntParam, Param

Value = Union[bool, int, float, str]
# The largest grid ml-ci builds: a typo such as a tiny step should fail, not enumerate forever.
MAX_GRID_POINTS = 100_000


class Suggester(Protocol):
    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_categorical(self, name: str, choices: tuple[Value, ...]) -> Value: ...


def suggest(trial: Suggester, space: Mapping[str, Param]) -> dict[str, Value]:
    """One value per parameter, in the space's order; keys are train.* names."""
    params: dict[str, Value] = {}
    for name, p in space.items():
        if isinstance(p, FloatParam):
            params[name] = trial.suggest_float(name, p.low, p.high, step=p.step, log=p.log)
        elif isinstance(p, IntParam):
            params[name] = trial.suggest_int(name, p.low, p.high, step=p.step or 1, log=p.log)
        else:
            params[name] = trial.suggest_categorical(name, p.choices)
    return params


def _float_grid(p: FloatParam) -> list[float]:
    if p.step is None:  # validate refuses this for the grid sampler; say it again if called directly
        raise ValueError("a float parameter needs a step to be put on a grid")
    n = math.floor((p.high - p.low) / p.step + 1e-9)
    # round() keeps 0.1 + 0.2 from becoming 0.30000000000000004 in best_params.json
    return [round(p.low + i * p.step, 12) for i in range(n + 1)]


def grid_values(p: Param) -> list[Value]:
    """The points a grid search visits for one parameter (the same points suggest() can return)."""
    if isinstance(p, CategoricalParam):
        return list(p.choices)
    if isinstance(p, IntParam):
        return list(range(p.low, p.high + 1, p.step or 1))
    return list(_float_grid(p))


def grid(space: Mapping[str, Param]) -> dict[str, list[Value]]:
    """The whole grid, per parameter; raises ValueError when it has more than MAX_GRID_POINTS points."""
    values = {name: grid_values(p) for name, p in space.items()}
    if grid_size(values) > MAX_GRID_POINTS:
        raise ValueError(
            f"the grid has {grid_size(values)} points (more than {MAX_GRID_POINTS}): use larger steps or fewer values"
        )
    return values


def grid_size(values: Mapping[str, list[Value]]) -> int:
    return math.prod(len(v) for v in values.values())
