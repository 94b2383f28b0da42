"""A task's own routes through the generic server (ml_ci/serve/routes.py): whole and streamed replies, the route's
own error body for the server's framing refusals and the handler's, 503 while the model loads, a stream stopped
when its client goes away, and keep-alive after a chunked answer. The serving half is a stand-in (no model), so
that what is tested is the server's part alone; text-generation's real routes are tested in test_llm_serve*.py."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ml_ci.serve import server as server_module
from ml_ci.serve.limits import Limits
from ml_ci.serve.protocol import Refusal
from ml_ci.serve.routes import Call, Reply, Route, RouteContext, Stream

pytestmark = pytest.mark.integration


class _Model:
    record = SimpleNamespace(sha256="0" * 64, name="stand-in", task="stand-in", max_length=8)

    def predict(self, inputs: list[Any]) -> list[Any]:
        return [[1.0] for _ in inputs]


def _half(loaded: threading.Event, stopped: threading.Event) -> Any:
    def routes(context: RouteContext) -> Sequence[Route]:
        def echo(call: Call) -> Reply:
            context.model()  # 503 until loaded
            payload = json.loads(call.body)
            if payload.get("fail") == "refuse":
                raise Refusal(400, "invalid_request", "refused by the handler")
            if payload.get("fail") == "crash":
                raise RuntimeError("a bug")
            call.log["echoed"] = True
            return Reply(status=200, body=json.dumps({"echo": payload}).encode())

        def stream(call: Call) -> Stream:
            context.model()
            count = json.loads(call.body)["count"]

            def chunks() -> Iterator[bytes]:
                try:
                    for i in range(count):
                        yield f"data: {i}\n\n".encode()
                        time.sleep(0.05)
                finally:
                    stopped.set()

            return Stream(chunks=chunks(), headers={"Cache-Control": "no-cache"})

        def info(call: Call) -> Reply:
            return Reply(status=200, body=json.dumps({"query": call.query}).encode())

        def body(refusal: Refusal) -> bytes:
            return json.dumps({"error": {"message": refusal.message, "code": refusal.kind, "status": refusal.status}}).encode()

        return (
            Route(method="POST", path="/v1/echo", handle=echo, refusal_body=body),
            Route(method="POST", path="/v1/stream", handle=stream, refusal_body=body),
            Route(method="GET", path="/v1/info", handle=info),
        )

    def load(folder: Path, *, threads: int = 0, context: RouteContext | None = None) -> _Model:
        loaded.wait(30)
        return _Model()

    return SimpleNamespace(
        WARM_UP=["x"],
        routes=routes,
        load=load,
        check=lambda model, rows: None,
        parse=lambda body, limits: ["x"],
        answer=lambda model, rows, sha: b"{}",
    )


@pytest.fixture
def app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[server_module.InferenceServer, threading.Event, threading.Event]]:
    loaded, stopped = threading.Event(), threading.Event()
    half = _half(loaded, stopped)
    monkeypatch.setattr(server_module, "_serving_half", lambda model_dir, strict=False: half)
    monkeypatch.setattr(server_module, "_metadata", lambda record: {"name": record.name}, raising=False)
    app = server_module.InferenceServer(tmp_path, limits=Limits(drain_seconds=0), port=0)
    app.start_loading()
    thread = threading.Thread(target=app.serve, daemon=True)
    thread.start()
    try:
        yield app, loaded, stopped
    finally:
        loaded.set()
        app.stop(drain=False)
        thread.join(30)


def _post(port: int, path: str, payload: Any, content_type: str = "application/json") -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, body=json.dumps(payload), headers={"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_routes_refuse_in_their_own_shape_until_the_model_is_ready(app: Any) -> None:
    server, loaded, _ = app
    status, body = _post(server.port, "/v1/echo", {"a": 1})
    assert (status, body["error"]["code"], body["error"]["status"]) == (503, "not_ready", 503)
    loaded.set()
    assert server.ready.wait(30)
    assert _post(server.port, "/v1/echo", {"a": 1}) == (200, {"echo": {"a": 1}})
    # The server's framing refusal, in the route's shape.
    status, body = _post(server.port, "/v1/echo", {"a": 1}, content_type="text/plain")
    assert (status, body["error"]["code"]) == (415, "unsupported_media_type")
    status, body = _post(server.port, "/v1/echo", {"fail": "refuse"})
    assert (status, body["error"]) == (400, {"message": "refused by the handler", "code": "invalid_request", "status": 400})
    status, body = _post(server.port, "/v1/echo", {"fail": "crash"})
    assert (status, body["error"]["code"], body["error"]["message"]) == (500, "internal", "RuntimeError: a bug")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/v1/info?x=1")
    assert json.loads(connection.getresponse().read()) == {"query": "x=1"}
    connection.request("GET", "/")
    assert "/v1/echo" in json.loads(connection.getresponse().read())["endpoints"]
    connection.request("GET", "/metrics")
    metrics = connection.getresponse().read().decode()
    assert 'mlci_requests_total{path="/v1/echo",status="200"} 1.0' in metrics
    assert 'mlci_requests_total{path="/v1/echo",status="415"} 1.0' in metrics
    connection.close()


def test_a_stream_is_chunked_and_the_connection_stays_usable(app: Any) -> None:
    server, loaded, stopped = app
    loaded.set()
    assert server.ready.wait(30)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("POST", "/v1/stream", body=json.dumps({"count": 3}), headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert (response.status, response.getheader("Transfer-Encoding"), response.getheader("Content-Type")) == (
        200,
        "chunked",
        "text/event-stream",
    )
    assert response.getheader("Cache-Control") == "no-cache"
    assert response.read() == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert stopped.wait(5)
    connection.request("POST", "/v1/echo", body=json.dumps({"b": 2}), headers={"Content-Type": "application/json"})
    assert json.loads(connection.getresponse().read()) == {"echo": {"b": 2}}  # the same connection, kept alive
    connection.close()


def test_a_client_that_goes_away_stops_its_stream(app: Any) -> None:
    server, loaded, stopped = app
    loaded.set()
    assert server.ready.wait(30)
    body = json.dumps({"count": 10_000}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
            % (len(body), body)
        )
        # The head and the first chunk may come in separate segments: read until the first chunk is in.
        received = b""
        while b"data: 0" not in received:
            piece = sock.recv(4096)
            assert piece, f"the stream ended before its first chunk: {received!r}"
            received += piece
    # 10,000 chunks at 50 ms would take 500 s: the stream stops when a write finds the client gone.
    assert stopped.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "client_gone" not in json.dumps(server.metrics.exposition().decode()):
        time.sleep(0.1)
    assert 'mlci_errors_total{kind="client_gone"} 1.0' in server.metrics.exposition().decode()
