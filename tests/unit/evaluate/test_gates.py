from __future__ import annotations

import pytest

from ml_ci.config.model import Gate
from ml_ci.evaluate.gates import BaselineMetrics, evaluate_gates, verdict
from ml_ci.evaluate.significance import PairedTest

PROD = {
    "production": BaselineMetrics(
        "production", "gitops/eval.json", {"accuracy": 0.90, "f1_macro": 0.88, "ece": 0.05, "latency_p95_ms": 20.0}
    )
}


def test_absolute_min_and_max() -> None:
    results = evaluate_gates(
        [Gate(metric="accuracy", min=0.8, max=0.99), Gate(metric="latency_p95_ms", max=25)],
        {"accuracy": 0.75, "latency_p95_ms": 30.5},
    )
    assert [(r.condition, r.passed) for r in results] == [("min", False), ("max", True), ("max", False)]
    assert results[0].message == "accuracy >= 0.8 failed: 0.7500 < 0.8"
    assert results[1].message == "accuracy <= 0.99 passed: 0.7500 <= 0.99"
    assert results[2].message == "latency_p95_ms <= 25 failed: 30.5000 > 25"
    assert verdict(results) == "fail"


def test_a_metric_without_a_value_fails_its_gate_and_says_why() -> None:
    results = evaluate_gates(
        [Gate(metric="roc_auc", min=0.5)],
        {"roc_auc": None},
        undefined={"roc_auc": "ROC AUC needs both classes among the true labels"},
    )
    assert results[0].message == "roc_auc >= 0.5 failed: roc_auc has no value: ROC AUC needs both classes among the true labels"
    nan = evaluate_gates([Gate(metric="ece", max=0.1)], {"ece": float("nan")})
    assert nan[0].message == "ece <= 0.1 failed: ece is NaN"


def test_relative_drop_within_max_drop_passes_with_float_tolerance() -> None:
    [r] = evaluate_gates([Gate(metric="accuracy", against="production", max_drop=0.02)], {"accuracy": 0.88}, baselines=PROD)
    assert r.passed
    assert r.delta == pytest.approx(-0.02)
    assert r.message == (
        "accuracy vs production (max drop 0.02) passed: 0.8800 vs baseline 0.9000 (gitops/eval.json), delta -0.0200"
    )


def test_relative_drop_without_significance_fails_on_size() -> None:
    [r] = evaluate_gates([Gate(metric="accuracy", against="production", max_drop=0.01)], {"accuracy": 0.85}, baselines=PROD)
    assert not r.passed
    assert r.message == (
        "accuracy vs production (max drop 0.01) failed: 0.8500 vs baseline 0.9000 (gitops/eval.json), "
        "delta -0.0500, a drop of 0.0500 > 0.01"
    )


def test_significance_separates_a_real_regression_from_noise() -> None:
    gate = Gate(metric="f1_macro", against="production", max_drop=0.01, significance=0.05)
    calls: list[tuple[str, str]] = []

    def real(metric: str, against: str) -> PairedTest:
        calls.append((metric, against))
        return PairedTest("paired-bootstrap", 0.004, 500)

    [r] = evaluate_gates([gate], {"f1_macro": 0.80}, baselines=PROD, test=real)
    assert calls == [("f1_macro", "production")]
    assert (r.status, r.passed, r.p_value, r.paired_examples) == ("fail", False, 0.004, 500)
    assert r.message == (
        "f1_macro vs production (max drop 0.01) failed: 0.8000 vs baseline 0.8800 (gitops/eval.json), "
        "delta -0.0800, p=0.004 (paired-bootstrap on 500 paired examples) < 0.05: a real regression"
    )
    [n] = evaluate_gates([gate], {"f1_macro": 0.86}, baselines=PROD, test=lambda m, a: PairedTest("paired-bootstrap", 0.31, 500))
    assert (n.status, n.passed) == ("noise", True)
    assert n.message.endswith("p=0.31 (paired-bootstrap on 500 paired examples) >= 0.05: within noise, not a real regression")


def test_the_paired_test_runs_only_when_the_drop_is_past_max_drop() -> None:
    def boom(metric: str, against: str) -> PairedTest:
        raise AssertionError("not needed")

    [r] = evaluate_gates(
        [Gate(metric="f1_macro", against="production", max_drop=0.01, significance=0.05)],
        {"f1_macro": 0.95},
        baselines=PROD,
        test=boom,
    )
    assert r.passed


def test_significance_without_paired_predictions_judges_the_drop_alone() -> None:
    [r] = evaluate_gates(
        [Gate(metric="f1_macro", against="production", max_drop=0.01, significance=0.05)],
        {"f1_macro": 0.80},
        baselines=PROD,
        test=lambda m, a: None,
    )
    assert not r.passed
    assert "no paired test was possible" in r.message


def test_lower_is_better_drop_is_an_increase() -> None:
    gates = [
        Gate(metric="ece", against="production", max_drop=0.02),
        Gate(metric="latency_p95_ms", against="production", max_drop=5),
    ]
    ece, lat = evaluate_gates(gates, {"ece": 0.03, "latency_p95_ms": 26.0}, baselines=PROD)
    assert ece.passed  # lower ECE is an improvement
    assert not lat.passed
    assert lat.message.endswith("delta +6.0000, a drop of 6.0000 > 5")


def test_missing_baseline_passes_only_when_allowed() -> None:
    gate = Gate(metric="accuracy", against="main", max_drop=0.0)
    [ok] = evaluate_gates([gate], {"accuracy": 0.5}, baselines={"main": None})
    assert (ok.status, ok.passed) == ("no-baseline", True)
    assert ok.message == (
        "accuracy vs main (max drop 0): no baseline for `against: main`; passes (evaluate.allow_missing_baseline)"
    )
    [bad] = evaluate_gates([gate], {"accuracy": 0.5}, baselines={}, allow_missing_baseline=False)
    assert (bad.status, bad.passed) == ("no-baseline", False)
    assert bad.message == (
        "accuracy vs main (max drop 0) failed: no baseline for `against: main`, and evaluate.allow_missing_baseline is false"
    )


def test_slice_results_are_named_by_scope() -> None:
    [r] = evaluate_gates([Gate(metric="accuracy", min=0.6)], {"accuracy": 0.5}, scope="short-texts")
    assert r.name == "[short-texts] accuracy >= 0.6"
    assert r.to_json()["name"] == "[short-texts] accuracy >= 0.6"
