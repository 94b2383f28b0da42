"""The hyperparameters of one training run: ml.yaml's train section, optionally overridden.

Overrides come from a tuned-params file (`ml-ci train --params .ml-ci/artifacts/tune/best_params.json`)
or from a tuning trial. Their keys are train.* names (`learning_rate` or `train.learning_rate`);
each value is checked against the same schema rules as ml.yaml, so a tuned file cannot carry a
value ml.yaml would refuse.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema

from ml_ci.config.model import Train
from ml_ci.errors import ConfigError, Problem
from ml_ci.jsonfile import JsonFileError, load_json
from ml_ci.resources import schema

# Scale-out is a property of the machine, not of a trial: it cannot be overridden.
TUNABLE = (
    "epochs",
    "batch_size",
    "learning_rate",
    "weight_decay",
    "warmup_ratio",
    "gradient_accumulation_steps",
    "eval_steps",
    "seed",
    "precision",
)


# The merged hyperparameters are a Train again: one type for ml.yaml's values and a run's.
HParams = Train


def as_dict(hp: Train) -> dict[str, Any]:
    """The tunable hyperparameters of a run, for metrics.json, lineage.json and the model card: the generic
    ones, then the task's (Train.task_params) when it has any."""
    return {**{k: getattr(hp, k) for k in TUNABLE}, **hp.task_params}


def _task_tunable(task: str | None) -> Mapping[str, Mapping[str, Any]]:
    """The task's own tunable hyperparameters: name -> JSON Schema of a value."""
    if task is None:
        return {}
    from ml_ci import tasks

    return tasks.get(task).config().TUNABLE


def _train_schema() -> dict[str, Any]:
    props: dict[str, Any] = schema()["properties"]["train"]["properties"]
    return props


def _problem(source: str, key: str, message: str) -> Problem:
    return Problem(source, 0, 0, f"train.{key}" if key else "", message)


def validate_overrides(raw: Mapping[str, Any], *, source: str, task: str | None = None) -> dict[str, Any]:
    """The overrides with bare train.* keys, or a ConfigError listing every bad key and value. `task` adds the
    task's own tunable keys (its config half's TUNABLE)."""
    own = _task_tunable(task)
    props = {**_train_schema(), **own}
    known = (*TUNABLE, *own)
    problems: list[Problem] = []
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.removeprefix("train.") if isinstance(key, str) else str(key)
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(known)}"
            why = " (scale-out is set in ml.yaml only)" if name == "distributed" else ""
            problems.append(_problem(source, name, f"unknown hyperparameter{why}{hint}"))
            continue
        # JSON has no int/float distinction for 3.0; accept whole floats for integer keys.
        if props[name].get("type") == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)
        errors = sorted(jsonschema.Draft202012Validator(props[name]).iter_errors(value), key=lambda e: e.message)
        if isinstance(value, bool) and props[name].get("type") in ("integer", "number"):
            problems.append(_problem(source, name, f"{value!r} is not a number"))
        elif errors:
            problems.append(_problem(source, name, errors[0].message))
        else:
            clean[name] = value
    if problems:
        raise ConfigError(problems)
    return clean


def read_params_file(path: Path, *, task: str | None = None) -> dict[str, Any]:
    """A tuned-params file: a JSON object of train.* keys, or one with those under "params"."""
    try:
        data = load_json(path)
    except JsonFileError as e:
        why = (
            "the params file does not exist (run `ml-ci tune` first?)"
            if e.reason == "missing"
            else f"cannot read the params file as JSON: {e.detail}"
        )
        raise ConfigError([Problem(str(path), 0, 0, "", why)]) from None
    if isinstance(data, dict) and isinstance(data.get("params"), dict):
        data = data["params"]
    if not isinstance(data, dict):
        raise ConfigError([Problem(str(path), 0, 0, "", "the params file must hold a JSON object of train.* keys")])
    return validate_overrides(data, source=str(path), task=task)


def merge(
    train: Train, overrides: Mapping[str, Any] | None = None, *, source: str = "overrides", task: str | None = None
) -> Train:
    """ml.yaml's train section with the (validated) overrides applied; the task's own keys (`task`'s TUNABLE)
    replace those of Train.task_params, and only those ml.yaml's settings use."""
    if not overrides:
        return train
    clean = validate_overrides(overrides, source=source, task=task)
    own = {k: v for k, v in clean.items() if k not in TUNABLE}
    unused = [k for k in own if k not in train.task_params]
    if unused:
        raise ConfigError([_problem(source, k, "ml.yaml's settings do not use this hyperparameter; remove it") for k in unused])
    generic = {k: v for k, v in clean.items() if k in TUNABLE}
    return replace(train, **generic, task_params={**train.task_params, **own})
