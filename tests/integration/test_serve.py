"""The inference server as a local process on a tiny exported model: endpoints, faults, load, SIGTERM.

The container is covered by test_image.py; these run the same `python -m ml_ci.serve` directly to
save time. ML_CI_SOAK_SECONDS sets the soak's length (default 10 s; run 60 for the full soak).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ml_ci.serve.model import Classifier
from tests.integration.test_serve_support import exported_repo, raw_request, server, wait_exit

pytestmark = pytest.mark.integration
TEXTS = ["the film was great .", "this movie is simply awful", "honestly , the plot felt tedious to me .", "lovely"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serve-repo")
    exported_repo(root)
    return root / ".ml-ci/artifacts/export"


def predict(port: int, payload: Any) -> tuple[int, Any]:
    status, _, body = raw_request(port, "POST", "/v1/predict", json.dumps(payload).encode(), {"Content-Type": "application/json"})
    return status, json.loads(body)


def test_endpoints_answer_as_the_exported_model(model_dir: Path, tmp_path: Path) -> None:
    expected = Classifier(model_dir).probabilities(TEXTS)
    with server(model_dir, tmp_path) as s:
        status, body = predict(s.port, {"texts": TEXTS})
        assert status == 200
        labels = Classifier(model_dir).labels
        for row, prediction in zip(expected, body["predictions"], strict=True):
            assert prediction["label"] == labels[int(row.argmax())]
            assert [prediction["probabilities"][label] for label in labels] == pytest.approx(row.tolist(), abs=1e-5)
        status, single = predict(s.port, {"text": TEXTS[0]})
        assert status == 200 and single["predictions"][0] == body["predictions"][0]

        assert raw_request(s.port, "GET", "/healthz")[0] == 200
        assert raw_request(s.port, "GET", "/readyz")[0] == 200
        meta = json.loads(raw_request(s.port, "GET", "/")[2])
        manifest = json.loads((model_dir / "model.json").read_text())
        assert meta["model"]["sha256"] == manifest["sha256"] == body["model_sha256"]
        assert meta["model"]["labels"] == list(labels)
        status, headers, metrics = raw_request(s.port, "GET", "/metrics")
        text = metrics.decode()
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert 'mlci_requests_total{path="/v1/predict",status="200"} 2.0' in text
        assert "mlci_batch_size_bucket" in text and "mlci_request_latency_seconds_count 2.0" in text
    requests = [r for r in s.log() if r.get("path") == "/v1/predict"]
    assert [(r["method"], r["status"], r["texts"]) for r in requests] == [("POST", 200, 4), ("POST", 200, 1)]


def test_malformed_requests_get_4xx_and_the_server_keeps_serving(model_dir: Path, tmp_path: Path) -> None:
    cases: list[tuple[str, bytes, dict[str, str], int, str]] = [
        ("malformed JSON", b'{"texts": ["a",', {}, 400, "invalid_json"),
        ("wrong types", b'{"texts": [1, 2]}', {}, 422, "invalid_request"),
        ("a 10 MB body", b'{"texts": ["' + b"a" * 10_000_000 + b'"]}', {}, 413, "body_too_large"),
        ("100,000 texts", json.dumps({"texts": ["a"] * 100_000}).encode(), {}, 422, "too_many_texts"),
        ("a text too long", json.dumps({"text": "a" * 20_000}).encode(), {}, 422, "text_too_long"),
        ("invalid UTF-8", b'{"text": "\xff\xfe"}', {}, 400, "invalid_utf8"),
        ("not an object", b"[]", {}, 422, "invalid_request"),
        ("an unknown path", b"{}", {}, 404, "not_found"),
    ]
    with server(model_dir, tmp_path) as s:
        for what, body, headers, status, kind in cases:
            path = "/nope" if kind == "not_found" else "/v1/predict"
            got, _, answer = raw_request(s.port, "POST", path, body, headers)
            assert (got, json.loads(answer)["error"]["kind"]) == (status, kind), what
            assert predict(s.port, {"text": "still serving"})[0] == 200, f"after {what}"
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        conn.putrequest("POST", "/v1/predict")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        conn.send(b"5\r\nhello\r\n0\r\n\r\n")
        assert conn.getresponse().status == 411
        conn.close()
        assert raw_request(s.port, "PUT", "/v1/predict", b"{}")[0] == 405
        assert s.process.poll() is None
    errors = {r["error"] for r in s.log() if "error" in r}
    assert {"invalid_json", "invalid_request", "body_too_large", "too_many_texts", "invalid_utf8"} <= errors


def load(port: int, stop: threading.Event, texts: list[str]) -> tuple[int, list[str]]:
    """Keep-alive client loop until stop: (successful requests, problems)."""
    ok, problems = 0, []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"texts": texts}).encode()
    while not stop.is_set():
        try:
            conn.request("POST", "/v1/predict", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as e:
            problems.append(f"{type(e).__name__}: {e}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        if response.status != 200 or len(json.loads(data)["predictions"]) != len(texts):
            problems.append(f"{response.status}: {data[:200]!r}")
        else:
            ok += 1
    conn.close()
    return ok, problems


def test_concurrency_32_soak_has_no_errors_and_bounded_memory(model_dir: Path, tmp_path: Path) -> None:
    seconds = float(os.environ.get("ML_CI_SOAK_SECONDS", "10"))
    with server(model_dir, tmp_path) as s:
        stop = threading.Event()
        with ThreadPoolExecutor(32) as pool:
            futures = [pool.submit(load, s.port, stop, TEXTS[: 1 + i % 4]) for i in range(32)]
            time.sleep(min(2.0, seconds / 4))
            rss_before = s.rss_kb()  # after warm-up: allocator pools and batches of every size exist
            time.sleep(seconds)
            stop.set()
            results = [f.result() for f in futures]
        rss_after = s.rss_kb()
        metrics = raw_request(s.port, "GET", "/metrics")[2].decode()
    total = sum(ok for ok, _ in results)
    problems = [p for _, ps in results for p in ps]
    print(f"soak {seconds:.0f} s at concurrency 32: {total} requests, {total / seconds:.0f}/s, "
          f"RSS {rss_before / 1024:.0f} -> {rss_after / 1024:.0f} MB")
    assert problems == []
    assert total > 0
    assert rss_after - rss_before < 64 * 1024, "RSS grew by more than 64 MB under steady load"
    batches = [line for line in metrics.splitlines() if line.startswith("mlci_batch_size_count")]
    assert float(batches[0].split()[1]) < total, "concurrent requests were batched together"


def test_sigterm_under_load_answers_every_accepted_request(model_dir: Path, tmp_path: Path) -> None:
    with server(model_dir, tmp_path) as s:
        stop = threading.Event()
        with ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(load, s.port, stop, TEXTS) for _ in range(16)]
            time.sleep(1.5)
            s.process.send_signal(signal.SIGTERM)
            code = wait_exit(s.process)
            stop.set()
            results = [f.result() for f in futures]
    assert code == 0
    served = sum(ok for ok, _ in results)
    problems = [p for _, ps in results for p in ps]
    # After the listening socket closes, clients can only fail to connect or find their idle
    # keep-alive connection closed; never an error status or a cut-off answer.
    assert all(p.split(":")[0] in {"ConnectionRefusedError", "ConnectionResetError", "RemoteDisconnected", "BrokenPipeError"}
               for p in problems), problems[:5]
    log = s.log()
    stopped = next(r for r in log if r.get("event") == "stopped")
    assert stopped["accepted"] == stopped["answered"], stopped
    assert served == sum(1 for r in log if r.get("path") == "/v1/predict" and r.get("status") == 200)
    assert served > 0
