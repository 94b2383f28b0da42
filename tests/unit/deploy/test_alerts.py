"""Alert rules come from ml.yaml's monitoring section and the server's real metric names."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_ci.config.model import Monitoring
from ml_ci.deploy import alerts


def test_rules_name_the_servers_metrics_and_thresholds() -> None:
    rules = alerts.rules(
        "tiny", "ml-staging", Monitoring(enabled=True, p95_latency_ms=250, error_rate=0.01, no_traffic_minutes=30, for_minutes=5)
    )
    by_name = {r["alert"]: r for r in rules}
    assert set(by_name) == {"ModelLatencyP95High", "ModelErrorRateHigh", "ModelNoTraffic"}
    assert by_name["ModelLatencyP95High"]["expr"] == (
        'histogram_quantile(0.95, sum by (le) (rate(mlci_request_latency_seconds_bucket{namespace="ml-staging", '
        'job="tiny"}[5m]))) > 0.25'
    )
    assert by_name["ModelErrorRateHigh"]["expr"] == (
        'sum(rate(mlci_requests_total{namespace="ml-staging", job="tiny", path="/v1/predict", status=~"5.."}[5m]))'
        ' / sum(rate(mlci_requests_total{namespace="ml-staging", job="tiny", path="/v1/predict"}[5m])) > 0.01'
    )
    assert by_name["ModelNoTraffic"]["expr"] == (
        '(sum(increase(mlci_requests_total{namespace="ml-staging", job="tiny", path="/v1/predict"}[30m])) or vector(0)) == 0'
    )
    assert all(r["for"] == "5m" for r in rules)


def test_no_traffic_alert_is_off_at_zero() -> None:
    rules = alerts.rules(
        "tiny", "ns", Monitoring(enabled=True, p95_latency_ms=500, error_rate=0.01, no_traffic_minutes=0, for_minutes=5)
    )
    assert [r["alert"] for r in rules] == ["ModelLatencyP95High", "ModelErrorRateHigh"]


def test_metric_names_match_the_server() -> None:
    from ml_ci.serve.metrics import ServerMetrics

    exposition = ServerMetrics().exposition().decode()
    assert f"# TYPE {alerts.LATENCY_HISTOGRAM} histogram" in exposition
    assert "# TYPE mlci_requests_total counter" in exposition or "# TYPE mlci_requests counter" in exposition


def test_token_alerts_read_the_engines_histograms() -> None:
    monitoring = Monitoring(
        enabled=True,
        p95_latency_ms=500,
        error_rate=0.01,
        no_traffic_minutes=0,
        for_minutes=10,
        time_to_first_token_p95_ms=1500,
        min_tokens_per_second=7.5,
    )
    by_name = {r["alert"]: r for r in alerts.rules("chat", "ml-production", monitoring)}
    assert list(by_name) == [
        "ModelLatencyP95High",
        "ModelErrorRateHigh",
        "ModelTimeToFirstTokenP95High",
        "ModelTokensPerSecondLow",
    ]
    assert by_name["ModelTimeToFirstTokenP95High"]["expr"] == (
        "histogram_quantile(0.95, sum by (le) (rate(mlci_time_to_first_token_seconds_bucket"
        '{namespace="ml-production", job="chat"}[5m]))) > 1.5'
    )
    # The median sequence's speed under the floor (a NaN quantile, with nothing finished, compares false).
    assert by_name["ModelTokensPerSecondLow"]["expr"] == (
        'histogram_quantile(0.5, sum by (le) (rate(mlci_tokens_per_second_bucket{namespace="ml-production", job="chat"}[5m])))'
        " < 7.5"
    )
    assert by_name["ModelTimeToFirstTokenP95High"]["for"] == by_name["ModelTokensPerSecondLow"]["for"] == "10m"
    assert by_name["ModelTokensPerSecondLow"]["annotations"]["summary"] == "chat: median decode speed below 7.5 tokens per second"


def test_unset_token_keys_add_no_rule() -> None:
    monitoring = Monitoring(enabled=True, p95_latency_ms=500, error_rate=0.01, no_traffic_minutes=0, for_minutes=5)
    assert [r["alert"] for r in alerts.rules("tiny", "ns", monitoring)] == ["ModelLatencyP95High", "ModelErrorRateHigh"]


def test_a_tasks_own_routes_count_as_traffic_and_errors() -> None:
    monitoring = Monitoring(enabled=True, p95_latency_ms=500, error_rate=0.01, no_traffic_minutes=30, for_minutes=5)
    rules = alerts.rules("chat", "ns", monitoring, ("/v1/completions", "/v1/chat/completions"))
    by_name = {r["alert"]: r for r in rules}
    served = 'path=~"/v1/predict|/v1/completions|/v1/chat/completions"'
    assert by_name["ModelNoTraffic"]["expr"] == (
        f'(sum(increase(mlci_requests_total{{namespace="ns", job="chat", {served}}}[30m])) or vector(0)) == 0'
    )
    assert by_name["ModelErrorRateHigh"]["expr"].count(served) == 2


def test_token_alerts_are_refused_for_a_task_without_token_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ml_ci.cli.main import main

    case = Path(__file__).parents[1] / "config" / "cases" / "negative" / "token_alerts_on_a_classifier.yaml"
    (tmp_path / "ml.yaml").write_text(case.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["validate", "-c", str(tmp_path / "ml.yaml")]) == 2
    err = capsys.readouterr().err
    for key in ("monitoring.time_to_first_token_p95_ms", "monitoring.min_tokens_per_second"):
        assert f"{key}: a text-classification server measures no generated tokens" in err, err


def test_the_token_metric_names_are_the_engines() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from ml_ci.tasks.text_generation.metrics import GenerationMetrics

    registry = CollectorRegistry()
    GenerationMetrics(registry)
    exposition = generate_latest(registry).decode()
    for name in (alerts.TTFT_HISTOGRAM, alerts.SPEED_HISTOGRAM):
        assert f"# TYPE {name} histogram" in exposition, name


def test_text_generations_client_paths_are_its_generation_routes() -> None:
    """CLIENT_PATHS (what the alerts count beside /v1/predict) are the POST routes its serving half adds."""
    from typing import cast

    from ml_ci import tasks
    from ml_ci.serve.routes import RouteContext

    task = tasks.get("text-generation")
    routes = task.serving().routes(cast(RouteContext, None))  # made before the model loads: the context is kept, unused
    assert {r.path for r in routes if r.method == "POST"} == set(task.config().CLIENT_PATHS)
