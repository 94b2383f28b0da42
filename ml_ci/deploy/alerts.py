"""Alerting rules from ml.yaml's `monitoring` section, as PromQL over the server's metrics.

The metric names are those `ml-ci serve` exposes on /metrics; ServiceMonitor scrapes give each
series the `namespace` and `job` (the Service's name) labels that scope these rules to one
environment.
"""

from __future__ import annotations

from typing import Any

from ml_ci.config.model import Monitoring

# What the inference server exports (ml_ci/serve/metrics.py): a latency histogram of prediction
# requests in seconds and a request counter labelled by route and HTTP status.
LATENCY_HISTOGRAM = "mlci_request_latency_seconds"
REQUESTS_TOTAL = "mlci_requests_total"
STATUS_LABEL = "status"
PREDICT = 'path="/v1/predict"'
WINDOW = "5m"


def _fmt(number: float) -> str:
    return f"{number:g}"


def rules(name: str, namespace: str, monitoring: Monitoring) -> list[dict[str, Any]]:
    """The alerting rules for one environment's deployment of model `name`."""
    scope = f'namespace="{namespace}", job="{name}"'
    predict = f"{scope}, {PREDICT}"
    hold = f"{monitoring.for_minutes}m"
    labels = {"severity": "warning", "model": name}
    out: list[dict[str, Any]] = [
        {
            "alert": "ModelLatencyP95High",
            "expr": (
                f"histogram_quantile(0.95, sum by (le) (rate({LATENCY_HISTOGRAM}_bucket{{{scope}}}[{WINDOW}])))"
                f" > {_fmt(monitoring.p95_latency_ms / 1000)}"
            ),
            "for": hold,
            "labels": {**labels, "severity": "warning"},
            "annotations": {
                "summary": f"{name}: p95 latency above {_fmt(monitoring.p95_latency_ms)} ms",
                "description": f"p95 of {LATENCY_HISTOGRAM} over {WINDOW} in {namespace} is {{{{ $value | humanizeDuration }}}}.",
            },
        },
        {
            "alert": "ModelErrorRateHigh",
            "expr": (
                f'sum(rate({REQUESTS_TOTAL}{{{predict}, {STATUS_LABEL}=~"5.."}}[{WINDOW}]))'
                f" / sum(rate({REQUESTS_TOTAL}{{{predict}}}[{WINDOW}])) > {_fmt(monitoring.error_rate)}"
            ),
            "for": hold,
            "labels": {**labels, "severity": "critical"},
            "annotations": {
                "summary": f"{name}: more than {_fmt(monitoring.error_rate * 100)}% of requests fail",
                "description": f"Share of 5xx answers over {WINDOW} in {namespace} is {{{{ $value | humanizePercentage }}}}.",
            },
        },
    ]
    if monitoring.no_traffic_minutes > 0:
        quiet = f"{monitoring.no_traffic_minutes}m"
        out.append(
            {
                "alert": "ModelNoTraffic",
                # `or vector(0)`: a server that was never scraped has no series at all, which is also no traffic.
                "expr": f"(sum(increase({REQUESTS_TOTAL}{{{predict}}}[{quiet}])) or vector(0)) == 0",
                "for": hold,
                "labels": {**labels, "severity": "warning"},
                "annotations": {
                    "summary": f"{name}: no request in {monitoring.no_traffic_minutes} minutes",
                    "description": f"No request reached {name} in {namespace} for {quiet}.",
                },
            }
        )
    return out
