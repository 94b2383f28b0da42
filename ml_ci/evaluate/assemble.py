"""From predictions and measurements to the evaluation record and the gate results. Pure.

Everything effectful (the model, the clock, git) is measured elsewhere and passed in, so this
is tested on toy arrays. What is scored, and how examples pair for a significance test, is the
task's (its evaluation half); this keeps what every task shares: gates, slices, baselines, the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ml_ci import tasks
from ml_ci.config import by_task
from ml_ci.config.model import Config
from ml_ci.evaluate.baseline import Baseline, pair
from ml_ci.evaluate.gates import BaselineMetrics, evaluate_gates, verdict
from ml_ci.evaluate.latency import percentile
from ml_ci.evaluate.significance import PairedTest, regression_test
from ml_ci.evaluate.slices import select
from ml_ci.records.evaluation import EvalRecord, GateResult, SliceRecord, history, text_hash
from ml_ci.tasks.protocols.evaluation import EvaluationHalf, Rows


@dataclass(frozen=True)
class Predictions:
    """Per-example results on the evaluated split, in the split's order: the text hashes (to pair
    examples across runs), and the task's truth and outputs."""

    hashes: tuple[str, ...]
    truth: Any
    outputs: Any

    @classmethod
    def of(cls, texts: list[str], truth: Any, outputs: Any) -> Predictions:
        return cls(tuple(text_hash(t) for t in texts), truth, outputs)


@dataclass(frozen=True)
class Measured:
    """What running the model produced, besides the predictions."""

    latencies_ms: list[float]
    size_mb: float
    model_digest: str
    model_path: str
    latency_method: dict[str, Any] = field(default_factory=dict)  # how latencies_ms was measured (evaluate.latency)


@dataclass(frozen=True)
class Outcome:
    record: EvalRecord
    results: list[GateResult]

    @property
    def verdict(self) -> Literal["pass", "fail"]:
        return verdict(self.results)

    @property
    def failures(self) -> list[GateResult]:
        return [r for r in self.results if not r.passed]


def _tester(
    half: EvaluationHalf,
    config: Config,
    preds: Predictions,
    baselines: Mapping[str, Baseline | None],
    rows: Rows | None = None,
) -> Any:
    aligned: dict[str, tuple[Any, Rows, Rows] | None] = {}

    def test(metric: str, against: str) -> PairedTest | None:
        base = baselines.get(against)
        if base is None:
            return None
        if against not in aligned:
            try:  # the baseline's rows, as its task wrote them; malformed ones pair nothing
                _, theirs = half.read_predictions(config, base.record.predictions)
                aligned[against] = (theirs, *pair(preds.hashes, base.record.hashes, rows))
            except (KeyError, TypeError, ValueError):
                aligned[against] = None
        found = aligned[against]
        if found is None:
            return None
        theirs, mine_idx, their_idx = found
        paired = half.paired(metric, preds.truth, preds.outputs, theirs, mine_idx, their_idx)
        return regression_test(paired, metric, by_task.lower_is_better(config.task))

    return test


def _scope_baselines(baselines: Mapping[str, Baseline | None], scope: str) -> dict[str, BaselineMetrics | None]:
    return {k: (b.metrics(scope) if b is not None else None) for k, b in baselines.items()}


def assemble(
    config: Config,
    *,
    role: str,
    fingerprint: str | None,
    texts_lengths: list[int],
    columns: Mapping[str, list[Any]],
    preds: Predictions,
    measured: Measured,
    baselines: Mapping[str, Baseline | None],
    created: str,
    git: Mapping[str, str | None],
    lineage: Mapping[str, Any] | None = None,
) -> Outcome:
    """lineage: whether the model's training data is ml.yaml's (`lineage_check.Freshness.to_json`)."""
    half = tasks.get(config.task).evaluation()
    ev = config.evaluate
    scores = half.score(config, preds.truth, preds.outputs)
    metrics: dict[str, float | None] = dict(scores.metrics)
    if measured.latencies_ms:
        metrics["latency_p50_ms"] = percentile(measured.latencies_ms, 50)
        metrics["latency_p95_ms"] = percentile(measured.latencies_ms, 95)
    metrics["size_mb"] = measured.size_mb
    results = evaluate_gates(
        ev.gates,
        metrics,
        undefined=scores.undefined,
        baselines=_scope_baselines(baselines, "overall"),
        test=_tester(half, config, preds, baselines),
        allow_missing_baseline=ev.allow_missing_baseline,
        lower_is_better=by_task.lower_is_better(config.task),
    )
    slice_records = []
    for s in select(ev.slices, texts_lengths, columns):
        slice_metrics: dict[str, float | None] = {}
        slice_results: list[GateResult] = []
        if s.rows:
            idx = np.asarray(s.rows, dtype=np.int64)
            sub = half.score(config, preds.truth, preds.outputs, idx)
            slice_metrics = sub.metrics
            if s.gated:
                slice_results = evaluate_gates(
                    s.gates,
                    sub.metrics,
                    scope=s.name,
                    undefined=sub.undefined,
                    baselines=_scope_baselines(baselines, s.name),
                    test=_tester(half, config, preds, baselines, idx),
                    allow_missing_baseline=ev.allow_missing_baseline,
                    lower_is_better=by_task.lower_is_better(config.task),
                )
                results.extend(slice_results)
        slice_records.append(SliceRecord(s.name, s.spec, len(s.rows), s.min_rows, s.gated, slice_metrics, tuple(slice_results)))
    record = EvalRecord(
        name=config.name,
        task=config.task,
        task_head=half.record_head(config),
        split=role,
        data_fingerprint=fingerprint,
        examples=len(preds.hashes),
        created=created,
        git=dict(git),
        model={
            "path": measured.model_path,
            "digest": measured.model_digest,
            "size_mb": measured.size_mb,
            "lineage": dict(lineage) if lineage is not None else None,
        },
        metrics=metrics,
        reported_metrics=tuple(ev.metrics),
        undefined=scores.undefined,
        task_scores=scores.record,
        latency={
            "samples": len(measured.latencies_ms),
            "p50_ms": metrics.get("latency_p50_ms"),
            "p95_ms": metrics.get("latency_p95_ms"),
            "method": measured.latency_method or None,
        },
        slices=tuple(slice_records),
        gates=tuple(r for r in results if r.scope == "overall"),
        verdict=verdict(results),
        baselines={k: (b.summary() if b is not None else None) for k, b in baselines.items()},
        history=tuple(_history(baselines)),
        predictions=tuple(
            {"index": i, "text_sha256": h, **row}
            for i, (h, row) in enumerate(zip(preds.hashes, half.prediction_rows(config, preds.truth, preds.outputs), strict=True))
        ),
    )
    return Outcome(record, results)


def _history(baselines: Mapping[str, Baseline | None]) -> list[dict[str, Any]]:
    """The metric history continues the `main` baseline's (the branch's line), else production's."""
    for against in ("main", "production"):
        b = baselines.get(against)
        if b is not None:
            return history(b.record)
    return []
