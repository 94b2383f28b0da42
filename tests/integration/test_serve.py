"""The inference server as a local process on a tiny exported model: endpoints, faults, load, SIGTERM.

The container is covered by test_image.py; these run the same `python -m ml_ci.serve` directly to
save time. ML_CI_SOAK_SECONDS sets the soak's length (default 10 s; run 60 for the full soak).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ml_ci.net import free_port
from ml_ci.serve.server import PROBE_CONNECTIONS
from ml_ci.tasks.text_classification.serving import Classifier
from tests.integration.test_serve_support import (
    Case,
    Tally,
    client_loop,
    exported_repo,
    metric,
    raw_exchange,
    raw_request,
    server,
    thread_count,
    wait_exit,
)

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
    [ready] = [r for r in s.log() if r.get("event") == "ready"]
    assert (ready["model_sha256"], ready["port"], ready["device"]) == (manifest["sha256"], s.port, "cpu"), ready


JSON = {"Content-Type": "application/json"}


def test_malformed_requests_get_4xx_and_the_server_keeps_serving(model_dir: Path, tmp_path: Path) -> None:
    cases: list[tuple[str, bytes, dict[str, str], int, str]] = [
        ("malformed JSON", b'{"texts": ["a",', JSON, 400, "invalid_json"),
        ("wrong types", b'{"texts": [1, 2]}', JSON, 422, "invalid_request"),
        ("a 10 MB body", b'{"texts": ["' + b"a" * 10_000_000 + b'"]}', JSON, 413, "body_too_large"),
        ("100,000 texts", json.dumps({"texts": ["a"] * 100_000}).encode(), JSON, 422, "too_many_texts"),
        ("a text too long", json.dumps({"text": "a" * 20_000}).encode(), JSON, 422, "text_too_long"),
        ("invalid UTF-8", b'{"text": "\xff\xfe"}', JSON, 400, "invalid_utf8"),
        ("not an object", b"[]", JSON, 422, "invalid_request"),
        ("an unknown path", b"{}", JSON, 404, "not_found"),
        # Issue 13 (these answered 500, 500, 200, 200 and 200 before).
        ("a lone surrogate", b'{"text": "\\ud800"}', JSON, 400, "invalid_text"),
        ("a 5,000-digit number", b'{"texts": ["a"], "n": ' + b"7" * 5000 + b"}", JSON, 400, "invalid_json"),
        ("text/plain", b'{"text": "a simple cross-site POST"}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        ("a form", b'{"text": "x"}', {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
        ("no Content-Type", b'{"text": "x"}', {}, 415, "unsupported_media_type"),
        # Issue 22 (answered 200, a label with 0.73 confidence, before).
        ("an empty text", b'{"text": ""}', JSON, 422, "empty_text"),
        ("a blank text", b'{"texts": ["fine", "  \\n "]}', JSON, 422, "empty_text"),
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
    assert {
        "invalid_json",
        "invalid_request",
        "body_too_large",
        "too_many_texts",
        "invalid_utf8",
        "invalid_text",
        "unsupported_media_type",
        "empty_text",
    } <= errors


def test_ambiguous_framing_and_http_0_9_are_refused(model_dir: Path, tmp_path: Path) -> None:
    """Issue 13: a repeated Content-Length was accepted (the first won), and `GET /` alone (HTTP/0.9) was
    answered with a bare body, without a status line."""
    body = b'{"text": "a"}'
    with server(model_dir, tmp_path) as s:
        for lengths in ((len(body), len(body)), (len(body), 3)):
            head = b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            head += b"".join(b"Content-Length: %d\r\n" % n for n in lengths)
            answer = raw_exchange(s.port, head + b"\r\n" + body)
            assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
            assert b"2 Content-Length headers" in answer
        answer = raw_exchange(s.port, b"GET /\r\n")
        assert answer.startswith(b"HTTP/1.1 505 "), answer[:200]
        assert b"HTTP/0.9" in answer
        answer = raw_exchange(s.port, b"POST /v1/predict\r\n")
        assert answer.startswith(b"HTTP/1.1 505 "), answer[:200]
        assert predict(s.port, {"text": "still serving"})[0] == 200


def test_one_unencodable_client_in_sixteen_fails_nobody_else(model_dir: Path, tmp_path: Path) -> None:
    """Issue 13: with one client in sixteen sending a lone surrogate, 85% of the others' requests failed
    with 500 (the batcher gave the tokenizer's exception to the whole batch)."""
    with server(model_dir, tmp_path) as s:
        stop = threading.Event()
        good = [Case(json.dumps({"texts": TEXTS}).encode(), texts=len(TEXTS))]
        with ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(client_loop, s.port, stop, good) for _ in range(15)]
            bad = pool.submit(client_loop, s.port, stop, [Case(b'{"texts": ["fine", "\\udc80"]}', expect=400)])
            time.sleep(4)
            stop.set()
            tallies = [f.result() for f in futures]
            wrong = bad.result()
    total = Tally()
    for t in tallies:
        total.add(t)
    assert total.bad == [] and total.lost == [], (total.bad[:3], total.lost[:3])
    assert total.answered[200] > 0
    assert wrong.answered[400] > 0 and wrong.bad == [], wrong.bad[:3]


def test_a_body_cut_short_is_the_clients_408(model_dir: Path, tmp_path: Path) -> None:
    """Issue 13: a body shorter than its Content-Length was answered after 15 s with `503 timeout: no
    prediction within 30 s`, and counted as a server timeout."""
    with server(model_dir, tmp_path, "--request-read-timeout-s", "1") as s:
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(
                b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n" + b'{"text": "only part'
            )
            answer = b""
            while chunk := sock.recv(65536):  # headers and body may come apart; the server then closes
                answer += chunk
            elapsed = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b'"kind": "request_timeout"' in answer and b"Connection: close" in answer
        assert elapsed < 5
        assert metric(s.port, 'mlci_errors_total{kind="request_timeout"}') == 1
        assert metric(s.port, 'mlci_errors_total{kind="timeout"}') == 0
        assert metric(s.port, 'mlci_requests_total{path="/v1/predict",status="408"}') == 1
        assert predict(s.port, {"text": "still serving"})[0] == 200


def test_slow_and_surplus_connections_are_bounded(model_dir: Path, tmp_path: Path) -> None:
    """Issue 13: 2,000 connections sending a byte every 10 s held 1,865 threads for 45 s, none closed
    (the idle timeout restarted with every byte). Now each request must arrive whole within
    request_read_timeout_s, and connections beyond max_connections are answered 503 at once."""
    cap, deadline = 8, 1.5
    with server(model_dir, tmp_path, "--max-connections", str(cap), "--request-read-timeout-s", str(deadline)) as s:
        threads_before = thread_count(s.process.pid)
        socks = [socket.create_connection(("127.0.0.1", s.port), timeout=10) for _ in range(40)]
        started = time.monotonic()
        answers = {i: b"" for i in range(len(socks))}
        open_ = set(answers)
        request = b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n"
        sent = 0
        peak_threads = 0
        while open_ and time.monotonic() - started < 10:  # a byte every 0.2 s on each connection still open
            time.sleep(0.2)
            peak_threads = max(peak_threads, thread_count(s.process.pid))
            for i in list(open_):  # read before writing: a write to a closed connection resets it
                socks[i].setblocking(False)
                try:
                    while chunk := socks[i].recv(65536):
                        answers[i] += chunk
                    open_.discard(i)  # closed by the server
                except BlockingIOError:
                    pass
                except OSError:
                    open_.discard(i)
                socks[i].setblocking(True)
            for i in open_:
                if sent < len(request):
                    with contextlib.suppress(OSError):
                        socks[i].sendall(request[sent : sent + 1])
            sent += 1
        elapsed = time.monotonic() - started
        for sock in socks:
            sock.close()
        statuses = Counter(a[:12] for a in answers.values())
        assert not open_, f"{len(open_)} connections still open after {elapsed:.1f} s"
        assert statuses == {b"HTTP/1.1 408": cap, b"HTTP/1.1 503": len(socks) - cap}, statuses
        assert elapsed < deadline + 3
        assert peak_threads <= threads_before + cap, (threads_before, peak_threads)
        assert predict(s.port, {"text": "still serving"})[0] == 200
        assert metric(s.port, 'mlci_errors_total{kind="too_many_connections"}') == len(socks) - cap
        give_up = time.monotonic() + 10  # the handlers of closed connections end as they see the EOF
        while metric(s.port, "mlci_open_connections") != 1 and time.monotonic() < give_up:  # 1: the /metrics request
            time.sleep(0.1)
        sockets = subprocess.run(["ss", "-tn", f"sport = :{s.port}"], capture_output=True, text=True).stdout
        assert metric(s.port, "mlci_open_connections") == 1, sockets


def test_a_flood_that_fills_max_connections_does_not_fail_the_probes(model_dir: Path, tmp_path: Path) -> None:
    """Kubelet's liveness probe queued with the clients: once trickling connections filled max_connections,
    /healthz got the surplus 503 and Kubernetes restarted a pod that was only busy. The probe port answers
    /healthz and /readyz whatever the clients hold, while a surplus client still gets its 503 at once."""
    cap = 4
    probe_port = free_port()
    with server(
        model_dir,
        tmp_path,
        "--max-connections",
        str(cap),
        "--request-read-timeout-s",
        "30",
        "--probe-port",
        str(probe_port),
        "--drain-seconds",
        "2",
    ) as s:
        request = b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n"
        trickling = [socket.create_connection(("127.0.0.1", s.port), timeout=10) for _ in range(cap)]
        try:
            for sock in trickling:
                sock.sendall(request[:1])
            give_up = time.monotonic() + 10  # the server takes the connections in as its accept loop turns
            while metric_or_503(s.port) is not None and time.monotonic() < give_up:
                time.sleep(0.1)
            assert metric_or_503(s.port) is None, "the trickling connections did not fill max_connections"
            probes: Counter[tuple[str, int]] = Counter()
            surplus: Counter[bytes] = Counter()
            for k in range(10):  # 2 s of a trickle: a byte every 0.2 s on each held connection
                for sock in trickling:
                    sock.sendall(request[1 + k : 2 + k])
                for path in ("/healthz", "/readyz"):
                    probes[path, raw_request(probe_port, "GET", path, timeout=2)[0]] += 1
                surplus[_answer_of(s.port, request + b'{"x": 10}')[:12]] += 1
                time.sleep(0.2)
            main_port_healthz = _answer_of(s.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            held = [sock for sock in trickling if not _closed(sock)]
        finally:
            for sock in trickling:
                sock.close()
        assert probes == {("/healthz", 200): 10, ("/readyz", 200): 10}, probes
        assert surplus == {b"HTTP/1.1 503": 10}, surplus
        assert main_port_healthz.startswith(b"HTTP/1.1 503 ") and b"too_many_connections" in main_port_healthz
        assert len(held) == cap, "the flood's connections were dropped to make room"
        # Each slot frees when its handler reads the client's close: not at once, so wait for it (bounded).
        give_up = time.monotonic() + 10
        while (status := predict(s.port, {"text": "still serving"})[0]) == 503 and time.monotonic() < give_up:
            time.sleep(0.1)
        assert status == 200
        status, _, body = raw_request(probe_port, "GET", "/metrics")
        assert status == 404 and b"not_found" in body  # the probe port serves the probes, nothing else
        # Its own bounds: silent connections there are closed at its 1 s deadline; beyond 16 at once, 503.
        silent = [socket.create_connection(("127.0.0.1", probe_port), timeout=10) for _ in range(PROBE_CONNECTIONS)]
        try:
            started = time.monotonic()
            over = _answer_of(probe_port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert [sock.recv(1024) for sock in silent] == [b""] * len(silent)
            elapsed = time.monotonic() - started
        finally:
            for sock in silent:
                sock.close()
        assert over.startswith(b"HTTP/1.1 503 ") and b"too_many_probe_connections" in over, over[:200]
        assert elapsed < 4
        give_up = time.monotonic() + 5  # the probe threads end as their connections close
        while (
            not _answer_of(probe_port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200 ")
            and time.monotonic() < give_up
        ):
            time.sleep(0.1)
        assert raw_request(probe_port, "GET", "/healthz", timeout=2)[0] == 200

        # SIGTERM: unready at once, alive all through the drain (a failing liveness would cut it short).
        s.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        while raw_request(probe_port, "GET", "/readyz", timeout=2)[0] == 200 and time.monotonic() - signalled < 1:
            time.sleep(0.02)  # the signal is handled between two turns of the accept loop
        draining: Counter[tuple[str, int]] = Counter()
        while time.monotonic() - signalled < 1.5:
            for path in ("/healthz", "/readyz"):
                draining[path, raw_request(probe_port, "GET", path, timeout=2)[0]] += 1
            time.sleep(0.1)
        assert wait_exit(s.process) == 0
    assert set(draining) == {("/healthz", 200), ("/readyz", 503)}, draining


def metric_or_503(port: int) -> float | None:
    """mlci_open_connections through a fresh connection; None when that connection gets the surplus 503."""
    answer = _answer_of(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    if answer.startswith(b"HTTP/1.1 503 "):
        return None
    return next(float(line.rsplit(b" ", 1)[1]) for line in answer.splitlines() if line.startswith(b"mlci_open_connections "))


def _answer_of(port: int, data: bytes) -> bytes:
    """Like raw_exchange, but a reset after the answer (a surplus 503 closes with the request unread) is no error."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
    return answer


def _closed(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


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
    print(
        f"soak {seconds:.0f} s at concurrency 32: {total} requests, {total / seconds:.0f}/s, "
        f"RSS {rss_before / 1024:.0f} -> {rss_after / 1024:.0f} MB"
    )
    assert problems == []
    assert total > 0
    assert rss_after - rss_before < 64 * 1024, "RSS grew by more than 64 MB under steady load"
    batches = [line for line in metrics.splitlines() if line.startswith("mlci_batch_size_count")]
    assert float(batches[0].split()[1]) < total, "concurrent requests were batched together"


def test_sigterm_under_load_drains_and_loses_no_request(model_dir: Path, tmp_path: Path) -> None:
    """Issue 13: on SIGTERM under load, 8, 0 and 17 requests already sent were reset unanswered in three
    trials, and every connection opened after the signal was refused. Now: not ready at once, still
    accepting and answering for the drain period, then exit 0 with every request sent answered."""
    drain = 2.0
    with server(model_dir, tmp_path, "--drain-seconds", str(drain)) as s:
        stop = threading.Event()
        cases = [Case(json.dumps({"texts": TEXTS}).encode(), texts=len(TEXTS))]
        with ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(client_loop, s.port, stop, cases) for _ in range(16)]
            time.sleep(1.5)
            signalled = time.monotonic()
            s.process.send_signal(signal.SIGTERM)
            readyz = 200
            while readyz == 200 and time.monotonic() - signalled < 1:
                readyz = raw_request(s.port, "GET", "/readyz")[0]
            new_connection = predict(s.port, {"text": "a connection opened after SIGTERM"})[0]
            code = wait_exit(s.process)
            exited = time.monotonic()
            stop.set()
            total = Tally()
            for f in futures:
                total.add(f.result())
    assert code == 0
    assert readyz == 503
    assert new_connection == 200
    assert exited - signalled >= drain
    assert total.lost == [] and total.bad == [], (total.lost[:5], total.bad[:5])
    log = s.log()
    stopped = next(r for r in log if r.get("event") == "stopped")
    assert stopped["accepted"] == stopped["answered"], stopped
    draining = next(i for i, r in enumerate(log) if r.get("event") == "draining")
    after = [r for r in log[draining:] if r.get("path") == "/v1/predict" and r.get("status") == 200]
    assert len(after) > 16, "the clients kept being answered during the drain"
    logged = sum(1 for r in log if r.get("path") == "/v1/predict" and r.get("status") == 200)
    assert total.answered[200] + 1 == logged  # + the request on a new connection
