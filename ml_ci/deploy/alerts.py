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
PREDICT_PATH = "/v1/predict"
PREDICT = f'path="{PREDICT_PATH}"'
WINDOW = "5m"
# What the server of a task with token metrics (ConfigHalf.TOKEN_METRICS) also exports: histograms of each
# sequence's time from its submission to its first token (queueing included, as users wait for it) and of each
# finished sequence's decode speed.
TTFT_HISTOGRAM = "mlci_time_to_first_token_seconds"
SPEED_HISTOGRAM = "mlci_tokens_per_second"


def _fmt(number: float) -> str:
    return f"{number:g}"


def _requests(paths: tuple[str, ...]) -> str:
    """The label matcher of the requests clients send: /v1/predict's, and the task's own routes' (ConfigHalf.CLIENT_PATHS)
    where it has some. The paths are fixed strings of ml-ci's, not regular expressions to escape."""
    return PREDICT if not paths else f'path=~"{"|".join((PREDICT_PATH, *paths))}"'


def rules(name: str, namespace: str, monitoring: Monitoring, paths: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The alerting rules for one environment's deployment of model `name`; `paths`: the task's own routes that clients
    call beside /v1/predict, whose failures and traffic count too."""
    scope = f'namespace="{namespace}", job="{name}"'
    predict = f"{scope}, {_requests(paths)}"
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
    if monitoring.time_to_first_token_p95_ms is not None:
        out.append(
            {
                "alert": "ModelTimeToFirstTokenP95High",
                "expr": (
                    f"histogram_quantile(0.95, sum by (le) (rate({TTFT_HISTOGRAM}_bucket{{{scope}}}[{WINDOW}])))"
                    f" > {_fmt(monitoring.time_to_first_token_p95_ms / 1000)}"
                ),
                "for": hold,
                "labels": {**labels, "severity": "warning"},
                "annotations": {
                    "summary": f"{name}: p95 time to first token above {_fmt(monitoring.time_to_first_token_p95_ms)} ms",
                    "description": (
                        f"p95 of {TTFT_HISTOGRAM} over {WINDOW} in {namespace} is {{{{ $value | humanizeDuration }}}}"
                        " (queueing included: more sequences than the engine's batch wait for it)."
                    ),
                },
            }
        )
    if monitoring.min_tokens_per_second is not None:
        # The median sequence, not the mean: one long or one stalled sequence should not decide. Without finished
        # sequences in the window the quantile is NaN and the comparison false: no traffic is another alert's.
        out.append(
            {
                "alert": "ModelTokensPerSecondLow",
                "expr": (
                    f"histogram_quantile(0.5, sum by (le) (rate({SPEED_HISTOGRAM}_bucket{{{scope}}}[{WINDOW}])))"
                    f" < {_fmt(monitoring.min_tokens_per_second)}"
                ),
                "for": hold,
                "labels": {**labels, "severity": "warning"},
                "annotations": {
                    "summary": f"{name}: median decode speed below {_fmt(monitoring.min_tokens_per_second)} tokens per second",
                    "description": (
                        f"Median of {SPEED_HISTOGRAM} over {WINDOW} in {namespace} is {{{{ $value | humanize }}}}"
                        " tokens per second."
                    ),
                },
            }
        )
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
