"""The smoke test's flow (readiness, batches, another model still served, the comparison's verdict), with the
server's answers stubbed: no socket in unit tests. The comparison itself: tests/unit/tasks/text_classification."""

from __future__ import annotations

from typing import Any

import pytest

from ml_ci import tasks
from ml_ci.deploy import smoke
from ml_ci.errors import OperationalError
from ml_ci.records.golden import GoldenRecord
from ml_ci.serving_client import NotReady
from tests.unit.deploy.helpers import golden_record

SERVING = tasks.get("text-classification").serving()


def answering(monkeypatch: pytest.MonkeyPatch, answer: Any, *, ready: bool = True) -> list[Any]:
    """Stub the server: /readyz (ready or not) and /v1/predict answering `answer(request)`; the requests sent."""
    sent: list[Any] = []

    def wait_ready(base: str, timeout: float, **_: Any) -> float:
        if not ready:
            raise NotReady(f"/readyz at {base} was not ready within {timeout:.0f} s (last: HTTP 503)", stopped=False)
        return 0.0

    def post_predict(base: str, request: Any, timeout: float) -> tuple[Any, str | None]:
        sent.append(request)
        return answer(request), None

    monkeypatch.setattr(smoke, "wait_ready", wait_ready)
    monkeypatch.setattr(smoke, "post_predict", post_predict)
    return sent


def echo(flip: bool = False) -> Any:
    """The golden answers of tests.unit.deploy.helpers.golden_record for the texts asked (labels swapped when flip)."""
    examples = {e["text"]: e["expected"] for e in golden_record(8, flip=flip)["examples"]}
    return lambda request: {"predictions": [examples[t] for t in request["texts"]], "model_sha256": "m"}


def run(**kwargs: Any) -> smoke.SmokeReport:
    golden = GoldenRecord.from_data(golden_record(8), "golden.json")
    return smoke.run("http://127.0.0.1:9/", golden, kwargs.pop("count", 5), 5, serving=SERVING, sleep=lambda s: None, **kwargs)


def test_the_golden_examples_match_in_batches_of_max_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = answering(monkeypatch, echo())
    report = run(batch=2)
    assert report == smoke.SmokeReport(True, 5, ())
    assert report.summary() == "smoke test passed: /readyz ready, 5 golden examples match"
    assert [len(r["texts"]) for r in sent] == [2, 2, 1]


def test_another_models_answers_fail_with_the_recorded_labels_named(monkeypatch: pytest.MonkeyPatch) -> None:
    answering(monkeypatch, echo(flip=True))
    report = run(count=2)
    assert report.summary() == (
        "smoke test failed: example 0 ('text number 0'): label 'negative', recorded 'positive'; "
        "example 1 ('text number 1'): label 'positive', recorded 'negative'"
    )


def test_not_ready_is_the_whole_report(monkeypatch: pytest.MonkeyPatch) -> None:
    answering(monkeypatch, echo(), ready=False)
    assert run().problems == ("/readyz at http://127.0.0.1:9 was not ready within 5 s (last: HTTP 503)",)


def test_a_rollout_that_never_arrives_fails_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    answering(monkeypatch, lambda request: {"predictions": [], "model_sha256": "0" * 64})
    golden = GoldenRecord.from_data(golden_record(2), "golden.json")
    report = smoke.run("http://x", golden, 2, 0, serving=SERVING, model_sha256="f" * 64, sleep=lambda s: None)
    assert report.problems == (
        "http://x still serves model 000000000000, not ffffffffffff, after 0 s (the rollout did not reach it)",
    )


def test_an_answer_of_another_shape_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    answering(monkeypatch, lambda request: {"oops": 1})
    assert run().problems == (
        '/v1/predict: unrecognized /v1/predict answer (expected {"predictions": [{"label", "probabilities"}]})',
    )


def test_a_malformed_golden_json_is_refused_before_asking(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = answering(monkeypatch, echo())
    bad = GoldenRecord.from_data({"examples": [{"text": "t"}]}, "golden.json")
    with pytest.raises(OperationalError, match=r"^golden.json: golden example 0 is malformed"):
        smoke.run("http://x", bad, 1, 5, serving=SERVING)
    assert sent == []
    with pytest.raises(OperationalError, match=r"^golden.json: no golden examples in it"):
        GoldenRecord.from_data({"examples": []}, "golden.json")
