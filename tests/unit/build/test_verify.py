"""The image check's comparison: the golden answers and evaluate's predictions, through the serving client
(stubbed here: no socket in unit tests), in the build's wording; and where a CUDA image is checked (Docker stubbed;
tests/integration/test_build_gpu.py asks the real engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ml_ci import serving_client, tasks
from ml_ci.build import docker_ops
from ml_ci.build.verify import check_server, start
from ml_ci.records.golden import GoldenRecord
from ml_ci.records.texts import text_hash
from tests.unit.build.test_accelerator import config as accelerated

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


class Started:
    """docker_ops.run_detached's stand-in: the calls, and NoGpu when a GPU is asked of an engine without one."""

    def __init__(self, gpu: bool) -> None:
        self.gpu = gpu
        self.calls: list[tuple[dict[str, str], bool]] = []

    def __call__(self, c: Any, image: str, environment: Any, *, gpus: bool = False) -> str:
        self.calls.append((dict(environment), gpus))
        if gpus and not self.gpu:
            raise docker_ops.NoGpu('could not select device driver "" with capabilities: [[gpu]]')
        return "container"


@pytest.mark.parametrize("gpu", [True, False])
def test_a_cpu_image_is_checked_as_it_always_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gpu: bool) -> None:
    started, lines = Started(gpu), list[str]()
    monkeypatch.setattr(docker_ops, "run_detached", started)
    assert start(None, "img", {"ML_CI_SERVE_PORT": "1"}, accelerated(tmp_path, "text-classification", None), lines.append) == (
        "container",
        None,
    )
    assert started.calls == [({"ML_CI_SERVE_PORT": "1"}, False)] and lines == []


def test_a_cuda_image_is_checked_on_the_gpu_when_docker_has_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started, lines = Started(True), list[str]()
    monkeypatch.setattr(docker_ops, "run_detached", started)
    assert start(None, "img", {"ML_CI_SERVE_PORT": "1"}, accelerated(tmp_path, "text-classification", "cuda"), lines.append) == (
        "container",
        "cuda",
    )
    assert started.calls == [({"ML_CI_SERVE_PORT": "1"}, True)]
    assert lines == ["checking the CUDA image on the GPU (docker run --gpus all)"]


def test_without_a_gpu_a_cuda_image_is_checked_on_the_cpu_and_the_log_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, lines = Started(False), list[str]()
    monkeypatch.setattr(docker_ops, "run_detached", started)
    assert start(None, "img", {"ML_CI_SERVE_PORT": "1"}, accelerated(tmp_path, "text-classification", "cuda"), lines.append) == (
        "container",
        "cpu",
    )
    assert started.calls == [({"ML_CI_SERVE_PORT": "1"}, True), ({"ML_CI_SERVE_PORT": "1", "ML_CI_SERVE_DEVICE": "cpu"}, False)]
    (line,) = lines
    assert "could not select device driver" in line and "GPU path (onnxruntime's CUDA provider) was NOT exercised" in line
