"""The image check's comparison: the golden answers and evaluate's predictions, through the serving client
(stubbed here: no socket in unit tests), in the build's wording."""

from __future__ import annotations

from typing import Any

import pytest

from ml_ci import serving_client, tasks
from ml_ci.build.verify import check_server
from ml_ci.records.golden import GoldenRecord
from ml_ci.records.texts import text_hash

SERVING = tasks.get("text-classification").serving()
ROWS = (("good", "pos", 0.9), ("bad", "neg", 0.2))  # text, label, p(pos)
GOLDEN = GoldenRecord.from_data(
    {
        "labels": ["neg", "pos"],
        "tolerance": 1e-3,
        "examples": [
            {"text": text, "expected": {"label": label, "probabilities": {"neg": round(1 - pos, 7), "pos": pos}}}
            for text, label, pos in ROWS
        ],
    },
    "golden.json",
)
EVAL = {
    "labels": ["neg", "pos"],
    "predictions": [{"text_sha256": text_hash("good"), "predicted": "neg", "probabilities": [0.6, 0.4]}],
}


def serving(monkeypatch: pytest.MonkeyPatch, answers: dict[str, dict[str, Any]]) -> list[int]:
    """The server answers `answers[text]`, in requests whose sizes are returned."""
    sizes: list[int] = []

    def http_json(url: str, payload: Any = None, timeout: float = 30.0) -> tuple[int, Any]:
        assert url == "http://s/v1/predict"
        sizes.append(len(payload["texts"]))
        return 200, {"predictions": [answers[t] for t in payload["texts"]], "model_sha256": "x"}

    monkeypatch.setattr(serving_client, "http_json", http_json)
    return sizes


def test_a_server_that_answers_as_exported_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = serving(monkeypatch, {e["text"]: e["expected"] for e in GOLDEN.examples})
    assert check_server("http://s", GOLDEN, SERVING, 1) == ([], 0)
    assert sizes == [1, 1], "requests of at most serve.max_texts"


def test_golden_and_evaluate_differences_are_named_in_the_builds_words(monkeypatch: pytest.MonkeyPatch) -> None:
    serving(
        monkeypatch,
        {
            "good": {"label": "pos", "probabilities": {"neg": 0.1, "pos": 0.9}},
            "bad": {"label": "pos", "probabilities": {"neg": 0.3, "pos": 0.7}},
        },
    )
    problems, compared = check_server("http://s", GOLDEN, SERVING, 64, EVAL)
    assert compared == 1
    assert problems == ["example 1 ('bad'): label 'pos', expected 'neg'", "'good': label 'pos', evaluated 'neg'"]


def test_an_error_answer_stops_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serving_client, "http_json", lambda url, payload=None, timeout=30.0: (503, {"error": "busy"}))
    with pytest.raises(RuntimeError, match=r"^POST /v1/predict answered 503: \{'error': 'busy'\}$"):
        check_server("http://s", GOLDEN, SERVING, 64)
