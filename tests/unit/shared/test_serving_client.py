"""The one serving client: readiness (one wait_ready for the build and deploy), batching, HTTP answers.
HTTP is stubbed (no socket in unit tests); tests/integration/test_serve.py and test_image.py use it for real."""

from __future__ import annotations

import urllib.error
from typing import Any

import pytest

from ml_ci import serving_client, tasks
from ml_ci.serving_client import NotReady, batches, predict, ready_problem, wait_ready


class Clock:
    """A monotonic clock advanced by the sleeps of the code under test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def readyz(monkeypatch: pytest.MonkeyPatch, answers: list[Any]) -> Clock:
    """/readyz answers these in turn (a status, or an exception raised), the last one for ever."""
    clock = Clock()

    def http(url: str, data: bytes | None = None, timeout: float = 10) -> tuple[int, bytes]:
        assert url.endswith("/readyz") and data is None
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer, b"{}"

    monkeypatch.setattr(serving_client, "http", http)
    return clock


def test_ready_after_a_refused_connection_and_a_503(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = readyz(monkeypatch, [urllib.error.URLError("Connection refused"), 503, 200])
    assert wait_ready("http://s", 10, interval=0.1, sleep=clock.sleep, clock=clock) == pytest.approx(0.2)


def test_not_ready_in_time_says_what_it_last_heard(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = readyz(monkeypatch, [urllib.error.URLError("Connection refused"), 503])
    with pytest.raises(NotReady) as caught:
        wait_ready("http://s", 3, sleep=clock.sleep, clock=clock)
    assert str(caught.value) == "/readyz at http://s was not ready within 3 s (last: HTTP 503)"
    assert not caught.value.stopped


def test_a_server_that_stops_is_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = readyz(monkeypatch, [urllib.error.URLError("Connection refused")])
    with pytest.raises(NotReady) as caught:
        wait_ready("http://s", 60, alive=lambda: clock.now < 1, sleep=clock.sleep, clock=clock)
    assert str(caught.value) == "the server stopped before it was ready (last: Connection refused)"
    assert caught.value.stopped and clock.now == 1.0


def test_ready_problem_reports_instead_of_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    readyz(monkeypatch, [200])
    assert ready_problem("http://s", 1) is None

    def never(base: str, timeout: float, **_: object) -> float:
        raise NotReady(f"/readyz at {base} was not ready within {timeout:.0f} s (last: HTTP 503)", stopped=False)

    monkeypatch.setattr(serving_client, "wait_ready", never)
    assert ready_problem("http://s", 1) == "/readyz at http://s was not ready within 1 s (last: HTTP 503)"


def test_batches_keep_the_order() -> None:
    assert batches([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert batches([], 2) == []


def test_predict_asks_in_the_tasks_request_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[Any] = []

    def http_json(url: str, payload: Any = None, timeout: float = 30.0) -> tuple[int, Any]:
        sent.append(payload)
        return 200, {"predictions": [{"label": t, "probabilities": {t: 1.0}} for t in payload["texts"]]}

    monkeypatch.setattr(serving_client, "http_json", http_json)
    answers = predict("http://s", ["a", "b", "c"], 2, tasks.get("text-classification").serving())
    assert [a.label for a in answers] == ["a", "b", "c"]
    assert sent == [{"texts": ["a", "b"]}, {"texts": ["c"]}]
