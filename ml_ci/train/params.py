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
    """The tunable hyperparameters of a run, for metrics.json, lineage.json and the model card."""
    return {k: getattr(hp, k) for k in TUNABLE}


def _train_schema() -> dict[str, Any]:
    props: dict[str, Any] = schema()["properties"]["train"]["properties"]
    return props


def _problem(source: str, key: str, message: str) -> Problem:
    return Problem(source, 0, 0, f"train.{key}" if key else "", message)


def validate_overrides(raw: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """The overrides with bare train.* keys, or a ConfigError listing every bad key and value."""
    props = _train_schema()
    problems: list[Problem] = []
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.removeprefix("train.") if isinstance(key, str) else str(key)
        if name not in TUNABLE:
            close = difflib.get_close_matches(name, TUNABLE, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(TUNABLE)}"
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


def read_params_file(path: Path) -> dict[str, Any]:
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
    return validate_overrides(data, source=str(path))


def merge(train: Train, overrides: Mapping[str, Any] | None = None, *, source: str = "overrides") -> Train:
    """ml.yaml's train section with the (validated) overrides applied."""
    if not overrides:
        return train
    return replace(train, **validate_overrides(overrides, source=source))
