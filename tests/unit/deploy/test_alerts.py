"""Alert rules come from ml.yaml's monitoring section and the server's real metric names."""

from __future__ import annotations

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
