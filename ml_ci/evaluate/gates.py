"""Quality gates: pure decisions on numbers, tested on toy values.

One result per condition of a gate: `min`, `max`, and the drop against a baseline. A relative gate
with `significance` fails only when the drop is past max_drop *and* the paired test says it is real
(p < significance); a drop within noise passes and says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ml_ci.config.model import LOWER_IS_BETTER, Gate
from ml_ci.evaluate.significance import PairedTest
from ml_ci.records.evaluation import GateResult

# Float tolerance, so that 0.80 - 0.78 (0.020000000000000018) is not a drop past 0.02.
EPS = 1e-9


@dataclass(frozen=True)
class BaselineMetrics:
    """What a gate needs from a baseline: its metric values and where they came from."""

    against: str
    source: str
    metrics: Mapping[str, float | None]


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _missing_value(value: float | None, undefined: Mapping[str, str], metric: str) -> str | None:
    if value is None:
        return f"{metric} has no value: {undefined.get(metric, 'it was not computed')}"
    if math.isnan(value):
        return f"{metric} is NaN"
    return None


def _absolute(gate: Gate, scope: str, value: float | None, undefined: Mapping[str, str]) -> list[GateResult]:
    out = []
    for condition, threshold in (("min", gate.min), ("max", gate.max)):
        if threshold is None:
            continue
        base = GateResult(scope, gate.metric, condition, threshold, value, "pass", True, "")
        missing = _missing_value(value, undefined, gate.metric)
        if missing:
            out.append(_replace(base, status="fail", passed=False, message=f"{base.name} failed: {missing}"))
            continue
        assert value is not None
        ok = value >= threshold if condition == "min" else value <= threshold
        sign = ">=" if condition == "min" else "<="
        if ok:
            out.append(_replace(base, message=f"{base.name} passed: {fmt(value)} {sign} {threshold:g}"))
        else:
            bad = "<" if condition == "min" else ">"
            out.append(
                _replace(base, status="fail", passed=False, message=f"{base.name} failed: {fmt(value)} {bad} {threshold:g}")
            )
    return out


def _replace(result: GateResult, **changes: Any) -> GateResult:
    return GateResult(**{**asdict(result), **changes})


def _relative(
    gate: Gate,
    scope: str,
    value: float | None,
    undefined: Mapping[str, str],
    baseline: BaselineMetrics | None,
    test: Callable[[], PairedTest | None],
    allow_missing_baseline: bool,
    lower_is_better: frozenset[str] = LOWER_IS_BETTER,
) -> GateResult:
    assert gate.against is not None
    max_drop = gate.max_drop if gate.max_drop is not None else 0.0
    base = GateResult(scope, gate.metric, "drop", max_drop, value, "pass", True, "", against=gate.against)
    if baseline is None or baseline.metrics.get(gate.metric) is None:
        why = (
            f"no baseline for `against: {gate.against}`"
            if baseline is None
            else f"the {gate.against} baseline ({baseline.source}) has no {gate.metric}"
        )
        if allow_missing_baseline:
            return _replace(base, status="no-baseline", message=f"{base.name}: {why}; passes (evaluate.allow_missing_baseline)")
        return _replace(
            base,
            status="no-baseline",
            passed=False,
            message=f"{base.name} failed: {why}, and evaluate.allow_missing_baseline is false",
        )
    missing = _missing_value(value, undefined, gate.metric)
    if missing:
        return _replace(base, status="fail", passed=False, message=f"{base.name} failed: {missing}")
    assert value is not None
    reference = baseline.metrics[gate.metric]
    assert reference is not None
    delta = value - reference
    drop = delta if gate.metric in lower_is_better else -delta
    base = _replace(base, baseline=reference, delta=delta)
    numbers = f"{fmt(value)} vs baseline {fmt(reference)} ({baseline.source}), delta {delta:+.4f}"
    if drop <= max_drop + EPS:
        return _replace(base, message=f"{base.name} passed: {numbers}")
    if gate.significance is None:
        return _replace(
            base, status="fail", passed=False, message=f"{base.name} failed: {numbers}, a drop of {drop:.4f} > {max_drop:g}"
        )
    result = test()
    if result is None:
        return _replace(
            base,
            status="fail",
            passed=False,
            message=f"{base.name} failed: {numbers}, a drop of {drop:.4f} > {max_drop:g}; no paired test was "
            "possible (the baseline has no per-example predictions on this test split, or the metric "
            "is not per-example), so the drop is judged on its size alone",
        )
    base = _replace(base, p_value=result.p_value, test=result.test, paired_examples=result.n)
    stats = f"p={result.p_value:.4g} ({result.test} on {result.n} paired examples)"
    if result.p_value < gate.significance:
        return _replace(
            base,
            status="fail",
            passed=False,
            message=f"{base.name} failed: {numbers}, {stats} < {gate.significance:g}: a real regression",
        )
    return _replace(
        base,
        status="noise",
        message=f"{base.name} passed: {numbers} is past the max drop, but {stats} >= {gate.significance:g}: "
        "within noise, not a real regression",
    )


def _bind(test: Callable[[str, str], PairedTest | None] | None, metric: str, against: str) -> Callable[[], PairedTest | None]:
    return (lambda: test(metric, against)) if test is not None else (lambda: None)


def evaluate_gates(
    gates: Sequence[Gate],
    metrics: Mapping[str, float | None],
    *,
    scope: str = "overall",
    undefined: Mapping[str, str] | None = None,
    baselines: Mapping[str, BaselineMetrics | None] | None = None,
    test: Callable[[str, str], PairedTest | None] | None = None,
    allow_missing_baseline: bool = True,
    lower_is_better: frozenset[str] = LOWER_IS_BETTER,
) -> list[GateResult]:
    """Check each gate; `test(metric, against)` runs the paired test only when a verdict needs it. A rise of a
    metric of `lower_is_better` (the task's: ml_ci.config.by_task.lower_is_better) is its drop."""
    undefined = undefined or {}
    baselines = baselines or {}
    results: list[GateResult] = []
    for gate in gates:
        value = metrics.get(gate.metric)
        results.extend(_absolute(gate, scope, value, undefined))
        if gate.against is not None:
            against = gate.against
            results.append(
                _relative(
                    gate,
                    scope,
                    value,
                    undefined,
                    baselines.get(against),
                    _bind(test, gate.metric, against),
                    allow_missing_baseline,
                    lower_is_better,
                )
            )
    return results


def verdict(results: Sequence[GateResult]) -> Literal["pass", "fail"]:
    return "pass" if all(r.passed for r in results) else "fail"
