"""What the stages need from a task's config half: its metrics, its part of the schema, its semantic checks,
its typed view of its own ml.yaml keys, and its starter lines for `ml-ci init`.

ml_ci.config keeps what every task shares (the sections, the generic metrics latency_p50_ms, latency_p95_ms
and size_mb, the checks across sections); ml_ci.config.by_task writes each task's part into
schemas/ml.schema.json as an `if task is X then ...` branch. Light: `ml-ci validate` imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ml_ci.errors import Problem

# doc.problem of the ml.yaml being checked: (path into the data, message, severity=..., key=...) -> Problem.
ProblemAt = Callable[..., Problem]


class ConfigHalf(Protocol):
    """A task's config half: a module of the task's package that provides these names."""

    METRICS: tuple[str, ...]
    """The task's own metric names, in the order the schema lists them (evaluate also reports the generic
    ones after them). The schema's enums of evaluate.metrics, gate and slice-gate metrics are made from it."""

    LOWER_IS_BETTER: frozenset[str]
    """Those of METRICS where smaller is better: gates, significance and tuning read them the other way round."""

    METRIC_RANGES: Mapping[str, tuple[float, float, bool]]
    """Each of METRICS -> (lowest, highest, whether the lowest itself can occur): a gate that no model could
    pass is refused when ml.yaml is checked."""

    PATTERN_METRICS: Mapping[str, tuple[float, float, bool]]
    """Families of metrics named by a pattern (a regular expression, unanchored) rather than listed, each with
    its range: a metric per value of the data, such as token-classification's `f1.PER` per entity type. The task's
    `check` refuses a name that matches but names no such value."""

    SLICE_COLUMNS: Mapping[str, str]
    """Columns the task's evaluation half derives for every example (`Examples.columns`), which evaluate.slices may
    name without listing them in data.slice_columns (nor having them in the data): column -> what its values say."""

    TUNE_METRICS: tuple[str, ...]
    """The validation metrics tune.metric may name (computed while training); the first is its default."""

    DEFAULT_METRICS: tuple[str, ...]
    """evaluate.metrics when ml.yaml gives none (the task's and the generic ones it wants: latency costs an export)."""

    TIMED: frozenset[str]
    """Those of METRICS that time the machine rather than follow from the inputs (as the generic latency does): kept out
    of model.json and the image's labels, and a failed gate on one is measured again, never restored from the cache."""

    TOKEN_METRICS: bool
    """Whether the task's server measures tokens (time to the first token, tokens per second: the metric names of
    ml_ci.deploy.alerts): monitoring.time_to_first_token_p95_ms and monitoring.min_tokens_per_second are refused for a
    task without them. Here rather than on the serving half, because `ml-ci validate` imports only this half."""

    CLIENT_PATHS: tuple[str, ...]
    """The paths of the task's own routes (ServingHalf.routes) that clients send their requests to, beside POST
    /v1/predict: the monitoring alerts on failed requests and on no traffic count them too."""

    STARTUP_SECONDS: int
    """The longest the task's server may take from its start to ready (loading the model, the warm-up) on the image's
    hardware: the Kubernetes startup probe's window and the rollout's progress deadline leave it that long (a language
    model loads for minutes where a classifier takes seconds). Here, with the other constants the deploy manifests
    read, so that rendering them stays a pure function of the config."""

    TUNABLE: Mapping[str, Mapping[str, Any]]
    """The task's own hyperparameters that tune.search_space and --params files may set, beside the generic train.*
    ones: name -> JSON Schema of a value (text-generation's `adapter.rank`). A run's values are Train.task_params."""

    SECTIONS: Mapping[str, Mapping[str, Any]]
    """The task's own keys, by section: section -> {"properties": {key: JSON Schema}, "required": [...]}.
    Each key is complete (type, constraints, default, description); the generic part of the section
    leaves a place for it. Merged into the schema's `then` branch for this task."""

    MINIMAL_DATA: str
    """The data keys a smallest valid ml.yaml needs beyond the files (YAML lines indented by two)."""

    INIT_DATA: str
    """The data section `ml-ci init` writes before data.checks: the files and the task's keys (YAML lines indented by
    two). The starter's gates are on the first of TUNE_METRICS."""

    INIT_MODEL: str
    """The model section `ml-ci init` writes (base and max_length, YAML lines indented by two): a base of the kind the
    task fine-tunes."""

    INIT_BOUND: str
    """The bound of the starter's absolute gate on the first of TUNE_METRICS (`min: 0.80`; `max: ...` for a metric
    where lower is better)."""

    INIT_NEXT: str
    """What `ml-ci init` asks the user to edit before validating, e.g. "edit the data paths and ..."."""

    def check(self, data: Mapping[str, Any], problem: ProblemAt) -> list[Problem]:
        """The task's semantic checks of a schema-valid ml.yaml (its defaults filled in): rules across its
        own keys that the schema cannot say. `problem` places a message at a path of the file."""
        ...

    def task_params(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The values of TUNABLE that the checked ml.yaml gives (Train.task_params: what a run uses unless tuned);
        empty when none applies (text-generation without an adapter)."""
        ...

    def spec(self, data: Mapping[str, Any]) -> object:
        """The task's typed, frozen view of its own keys, built from the checked data. load_config stores it
        as Config.spec; the task's other halves read it through their own typed accessor."""
        ...
