"""The latency gate times the model as it is served, with a statistic that load barely moves (issue 20, item 9)."""

from __future__ import annotations

from ml_ci.config import Config
from ml_ci.evaluate import latency
from ml_ci.evaluate.stage import wants_latency
from ml_ci.records.evaluation import EvalRecord
from ml_ci.report.markdown import evaluation, latency_note
from ml_ci.tasks.protocols.evaluation import ReportParts
from ml_ci.tasks.text_classification import evaluation as tc
from tests.unit.evaluate.conftest import MakeConfig


class Machine:
    """A fake clock and model: each text costs its own time, and some requests are slowed by neighbours."""

    def __init__(self, cost_ms: dict[str, float], interference_ms: list[float]) -> None:
        self.now = 0.0
        self.cost_ms = cost_ms
        self.interference = iter(interference_ms)
        self.calls: list[str] = []

    def clock(self) -> float:
        return self.now

    def predict(self, texts: list[str]) -> None:
        self.calls.append(texts[0])
        self.now += (self.cost_ms[texts[0]] + next(self.interference, 0.0)) / 1000.0


def test_a_busy_machine_slows_some_requests_but_not_the_measured_latency() -> None:
    texts = ["short", "a much longer text"]
    # The warm-up requests are slow (first runs), and a neighbour takes 900 ms from one request per text.
    busy = Machine({"short": 5.0, "a much longer text": 20.0}, [500.0] * latency.WARMUP + [900.0, 0, 0, 0, 0, 900.0] * 2)
    timings = latency.measure_texts(busy.predict, texts, 4, clock=busy.clock)
    assert [round(t, 6) for t in timings] == [5.0, 20.0, 5.0, 20.0]
    assert len(busy.calls) == latency.WARMUP + 4 * latency.REPEATS
    idle = Machine({"short": 5.0, "a much longer text": 20.0}, [])
    assert [round(t, 6) for t in latency.measure_texts(idle.predict, texts, 4, clock=idle.clock)] == [5.0, 20.0, 5.0, 20.0]


def test_latency_is_measured_only_when_reported_or_gated(make_config: MakeConfig) -> None:
    def config(**evaluate: object) -> Config:
        return make_config(evaluate=evaluate)

    assert wants_latency(config(metrics=["accuracy", "latency_p95_ms"], gates=[]))
    assert wants_latency(config(metrics=["accuracy", "latency_p50_ms"], gates=[{"metric": "latency_p50_ms", "max": 100}]))
    assert not wants_latency(config(metrics=["accuracy", "size_mb"], gates=[{"metric": "accuracy", "min": 0.5}]))


def test_the_report_says_how_latency_was_measured() -> None:
    data = {
        "name": "m",
        "examples": 1,
        "split": "test",
        "labels": ["a", "b"],
        "metrics": {"latency_p95_ms": 7.5},
        "latency": {
            "samples": 50,
            "p50_ms": 6.0,
            "p95_ms": 7.5,
            "method": {
                "runtime": tc.LATENCY_RUNTIME,
                "quantize": "int8",
                "warmup": 5,
                "statistic": latency.STATISTIC,
                "load_average": 6.5,
                "seconds": {"export": 4.2, "timing": 1.1},
            },
        },
    }
    record = EvalRecord.from_json(data)
    assert latency_note(record) == (
        "Latency: the model exported to ONNX (package.quantize int8), run by onnxruntime, through ml-ci serve's "
        "Classifier (the serving image's code path), one text per request; 50 texts after 5 warm-up requests, each "
        "sampled text sent 3 times, its fastest kept (load only ever slows a request); p50/p95 over the sampled texts; "
        "load average 6.5; it cost 4.2 s of export and 1.1 s of timing."
    )
    assert latency_note(record) in evaluation(record, ReportParts())
    format_1 = EvalRecord.from_json({**data, "latency": {"samples": 50, "p50_ms": 6.0}})
    assert latency_note(format_1) == ""  # no method to tell
