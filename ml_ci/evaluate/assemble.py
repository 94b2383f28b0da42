"""From predictions and measurements to the evaluation record and the gate results. Pure.

Everything effectful (the model, the clock, git) is measured elsewhere and passed in, so this
is tested on toy arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ml_ci.config.model import Config
from ml_ci.evaluate.baseline import Baseline, pair
from ml_ci.evaluate.gates import BaselineMetrics, GateResult, evaluate_gates, verdict
from ml_ci.evaluate.metrics import percentile, score
from ml_ci.evaluate.record import FORMAT, KIND, Predictions, history
from ml_ci.evaluate.significance import Paired, PairedTest, regression_test
from ml_ci.evaluate.slices import select


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
    record: dict[str, Any]
    results: list[GateResult]

    @property
    def verdict(self) -> Literal["pass", "fail"]:
        return verdict(self.results)

    @property
    def failures(self) -> list[GateResult]:
        return [r for r in self.results if not r.passed]


def _tester(
    preds: Predictions,
    baselines: Mapping[str, Baseline | None],
    labels: tuple[str, ...],
    rows: np.ndarray[Any, Any] | None = None,
) -> Any:
    cache: dict[str, Paired] = {}

    def test(metric: str, against: str) -> PairedTest | None:
        base = baselines.get(against)
        if base is None:
            return None
        if against not in cache:
            cache[against] = pair(preds, base.record, labels, rows)
        return regression_test(cache[against], metric)

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
    labels = config.data.labels
    ev = config.evaluate
    scores = score(preds.y_true, preds.probs, labels)
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
        test=_tester(preds, baselines, labels),
        allow_missing_baseline=ev.allow_missing_baseline,
    )
    slice_records = []
    for s in select(ev.slices, texts_lengths, columns):
        entry: dict[str, Any] = {
            "name": s.name,
            "selection": s.spec,
            "rows": len(s.rows),
            "min_rows": s.min_rows,
            "gated": s.gated,
            "metrics": {},
            "gates": [],
        }
        if s.rows:
            idx = np.asarray(s.rows, dtype=np.int64)
            sub = score(preds.y_true[idx], preds.probs[idx], labels)
            entry["metrics"] = sub.metrics
            if s.gated:
                slice_results = evaluate_gates(
                    s.gates,
                    sub.metrics,
                    scope=s.name,
                    undefined=sub.undefined,
                    baselines=_scope_baselines(baselines, s.name),
                    test=_tester(preds, baselines, labels, idx),
                    allow_missing_baseline=ev.allow_missing_baseline,
                )
                entry["gates"] = [r.to_json() for r in slice_results]
                results.extend(slice_results)
        slice_records.append(entry)
    record: dict[str, Any] = {
        "kind": KIND,
        "format": FORMAT,
        "name": config.name,
        "task": config.task,
        "labels": list(labels),
        "split": role,
        "data_fingerprint": fingerprint,
        "examples": len(preds.hashes),
        "created": created,
        "git": dict(git),
        "model": {
            "path": measured.model_path,
            "digest": measured.model_digest,
            "size_mb": measured.size_mb,
            "lineage": dict(lineage) if lineage is not None else None,
        },
        "metrics": metrics,
        "reported_metrics": list(ev.metrics),
        "undefined": scores.undefined,
        "per_class": {k: vars(v) for k, v in scores.per_class.items()},
        "confusion_matrix": scores.confusion,
        "latency": {
            "samples": len(measured.latencies_ms),
            "p50_ms": metrics.get("latency_p50_ms"),
            "p95_ms": metrics.get("latency_p95_ms"),
            "method": measured.latency_method or None,
        },
        "slices": slice_records,
        "gates": [r.to_json() for r in results if r.scope == "overall"],
        "verdict": verdict(results),
        "baselines": {k: (b.summary() if b is not None else None) for k, b in baselines.items()},
        "history": _history(baselines),
        "predictions": preds.to_json(labels),
    }
    return Outcome(record, results)


def _history(baselines: Mapping[str, Baseline | None]) -> list[dict[str, Any]]:
    """The metric history continues the `main` baseline's (the branch's line), else production's."""
    for against in ("main", "production"):
        b = baselines.get(against)
        if b is not None:
            return history(b.record)
    return []
