"""tune.budget: what one trial trains on, and whether a trial is the very training `ml-ci train` runs.

    tune: {budget: {train_fraction: 0.25, epochs: 1}}

A budgeted trial trains on a seeded part of the train split (the same rows in every trial, so trials
stay comparable) for `epochs` epochs; the best parameters then train in full. Without a budget a
trial is a full training with the study's parameters, and the best one's model can stand in for
`ml-ci train --params best_params.json` (ml_ci.tune.reuse). Pure, but for `apply`'s Dataset.select.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ml_ci.config.model import Config
from ml_ci.errors import ConfigError, Problem

if TYPE_CHECKING:
    from ml_ci.data.load import Splits


def check(config: Config) -> None:
    """A budget's epochs and tuned epochs would contradict each other: refuse, naming the key."""
    if config.tune.budget.epochs is not None and "epochs" in config.tune.search_space:
        raise ConfigError(
            [
                Problem(
                    str(config.path),
                    0,
                    0,
                    "tune.budget.epochs",
                    "epochs is also in tune.search_space: tune it, or bound it here, not both",
                )
            ]
        )


def is_full(config: Config) -> bool:
    """Each trial trains on all of train for train.epochs (and in one process, as `ml-ci train` would
    with distributed.nproc_per_node 1): its model is the one `ml-ci train --params` would make."""
    budget, train = config.tune.budget, config.train
    single = train.distributed.nproc_per_node == 1 and train.distributed.nodes == 1
    return budget.train_fraction >= 1 and budget.epochs in (None, train.epochs) and single


def rows(n: int, fraction: float, seed: int) -> list[int]:
    """The row indices a budgeted trial trains on: round(n x fraction) of them (at least 1), in file
    order, chosen by seed."""
    if fraction >= 1:
        return list(range(n))
    k = min(n, max(1, round(n * fraction)))
    return sorted(random.Random(seed).sample(range(n), k))


def trial_overrides(config: Config, suggested: dict[str, Any]) -> dict[str, Any]:
    """What a trial trains with: the suggested parameters, and the budget's epochs."""
    epochs = config.tune.budget.epochs
    return suggested if epochs is None else {**suggested, "epochs": epochs}


def apply(config: Config, splits: Splits) -> Splits:
    """The splits a trial sees: train cut to the budget's rows; validation whole (trials are compared on it)."""
    fraction = config.tune.budget.train_fraction
    if fraction >= 1:
        return splits
    train = splits["train"]
    return replace(splits, datasets={**splits.datasets, "train": train.select(rows(len(train), fraction, config.train.seed))})
