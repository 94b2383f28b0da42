"""What `ml-ci evaluate`, `ml-ci report` (and export's parity check) need from a task's evaluation half.

The stage keeps what every task shares: loading the split, the cache, the lineage check, latency,
slices, gates, baselines, the pairing of examples by text hash, the significance tests and the
report's skeleton. The task says what its model outputs and how they are scored: `truth` (what the
split says each example is) and `outputs` (what `predict` returns) are opaque to the stage, which
only hands them back to the task, whole or as rows picked by index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ml_ci.config.model import Config
    from ml_ci.records.evaluation import EvalRecord

Rows = npt.NDArray[np.int64]  # indices of examples in the split's order
Correct = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Examples:
    """The evaluated split as evaluate uses it, in the split's order."""

    role: str  # "test" or "validation"
    texts: list[str]  # the model's inputs: hashed to pair examples, measured for length slices, timed
    truth: Any  # the task's: what each example is (e.g. label indices)
    columns: dict[str, list[Any]] = field(default_factory=dict)  # the slice columns
    fingerprint: str | None = None


@dataclass(frozen=True)
class Scores:
    """Quality metrics of one prediction set (latency and size are measured apart)."""

    metrics: dict[str, float | None]
    undefined: dict[str, str] = field(default_factory=dict)  # metric -> why it has no value (never NaN)
    record: dict[str, Any] = field(default_factory=dict)  # the task's keys of eval.json after `undefined`


@dataclass(frozen=True)
class Paired:
    """One metric on the examples both models predicted, aligned, as the significance tests need it.

    `statistic(rows)` is (current, baseline) value of the metric on those rows (a bootstrap resample);
    NaN where it is undefined on them. `correct`, when the metric is a share of examples right, is each
    model's right/wrong per example: the test is then the exact McNemar on the discordant pairs."""

    n: int
    statistic: Callable[[Rows], tuple[float, float]]
    correct: tuple[Correct, Correct] | None = None

    def __len__(self) -> int:
        return self.n


@dataclass(frozen=True)
class ReportParts:
    """What the task adds to the evaluation report (markdown and terminal), from one record."""

    headline: tuple[tuple[str, str], ...] = ()  # the task's HEADLINE_METRICS: the slices table's columns
    sections: tuple[tuple[str, str], ...] = ()  # (title, markdown), after the slices
    text: tuple[str, ...] = ()  # blocks the terminal report prints after the gates
    plots: str = ""  # what the task's plots show, for the PR comment's link to them


class EvaluationHalf(Protocol):
    """A task's evaluation half: a module of the task's package that provides these names."""

    # (metric, title) pairs that sum up a model: the slices table's columns, the history and training plots.
    HEADLINE_METRICS: tuple[tuple[str, str], ...]
    # The list-valued keys of eval.json after `task` that a record of this task must have.
    RECORD_HEAD: tuple[str, ...]
    # What `latency_predictor` runs, as eval.json's latency.method.runtime says it.
    LATENCY_RUNTIME: str

    def examples(self, config: Config, role: str, columns: dict[str, list[Any]], fingerprint: str | None) -> Examples:
        """Check the split's columns (DataCheckError naming what is wrong) and take out what evaluate uses."""
        ...

    def load(self, model_dir: Path, config: Config) -> Any:
        """The trained model folder, loaded for `predict` (torch); OperationalError when it cannot be, or when
        it does not fit ml.yaml (e.g. trained for other outputs)."""
        ...

    def predict(self, loaded: Any, texts: Sequence[str]) -> Any:
        """The model's outputs for texts, in their order (torch, batched); OperationalError on non-finite ones.
        Export's parity check compares the exported model with these."""
        ...

    def outputs(self, loaded: Any, examples: Examples) -> Any:
        """What `score` reads for the evaluated examples (evaluate runs the model through it): `predict` on their
        texts for a task whose every example is a text to predict; a task whose examples differ in kind (text-
        generation's split records, scored by their loss, and prompt items, generated) reads examples.truth."""
        ...

    def key_inputs(self, config: Config) -> dict[str, Any]:
        """What the evaluation reads besides the split and ml.yaml, for evaluate's and export's cache keys (JSON
        values: text-generation's prompt set, by digest); empty when nothing."""
        ...

    def latency_predictor(self, model_dir: Path, work: Path, config: Config) -> Callable[[list[str]], Any]:
        """Predict as the serving image does (the model exported into `work` as export would): what
        latency is timed on. ValueError when the model cannot be served so."""
        ...

    def score(self, config: Config, truth: Any, outputs: Any, rows: Rows | None = None) -> Scores:
        """Every metric of the task on all examples, or on `rows` of them (a slice)."""
        ...

    def record_head(self, config: Config) -> dict[str, Any]:
        """The task's keys of eval.json right after `task` (RECORD_HEAD's among them)."""
        ...

    def prediction_rows(self, config: Config, truth: Any, outputs: Any) -> list[dict[str, Any]]:
        """Each example's part of eval.json's `predictions` (after `index` and `text_sha256`)."""
        ...

    def read_predictions(self, config: Config, rows: Sequence[Mapping[str, Any]]) -> tuple[Any, Any]:
        """(truth, outputs) back from a baseline's `predictions`; KeyError, TypeError or ValueError when they
        are not this task's rows for this config (then nothing is paired)."""
        ...

    def paired(self, metric: str, truth: Any, current: Any, baseline: Any, mine: Rows, theirs: Rows) -> Paired | None:
        """The metric on current's rows `mine` against baseline's rows `theirs` (same examples, in order;
        truth is current's); None when the metric is not per-example (latency, size)."""
        ...

    def check_baseline(self, record: EvalRecord, config: Config, source: str) -> None:
        """Refuse (OperationalError) a baseline record whose task keys do not fit ml.yaml (e.g. other labels)."""
        ...

    def report(self, record: EvalRecord) -> ReportParts:
        """The task's sections of the evaluation report."""
        ...

    def plots(self, record: EvalRecord, folder: Path) -> list[Path]:
        """The task's PNGs of the record into folder, first among the report's images."""
        ...
