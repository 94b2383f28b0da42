"""The HTTP layer: the standard library's threading server in front of the micro-batcher.

Why not an ASGI server: every request waits on the batcher thread and onnxruntime releases the
GIL while it computes, so threads cost little here, and the stdlib server adds no dependency to
the image. Measured (benchmarks/serve.py --http-layer, GET /healthz at concurrency 16, 2 shared
cores): this server 1,590 requests/s against 1,186 for uvicorn (h11) with a bare ASGI app, both far
above the model's own rate (about 10-25 ms of compute per text). One thread per connection,
keep-alive (HTTP/1.1).

Shutdown (SIGTERM/SIGINT): /readyz turns 503, the listening socket closes (nothing new is
accepted), idle keep-alive connections are closed, every request already read is answered, the
batcher drains, and the process exits 0.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sys
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from ml_ci.serve.batcher import MicroBatcher
from ml_ci.serve.limits import Limits
from ml_ci.serve.metrics import ServerMetrics
from ml_ci.serve.protocol import Refusal, check_length, parse_texts, predictions_body

PREDICT_PATH = "/v1/predict"
# A too-large body up to this size is read and discarded before the 413, so that clients which send
# the whole body before reading (most do) get the answer instead of a broken pipe. Beyond it the
# connection is closed unread. Reading in small chunks keeps memory flat either way.
DISCARD_LIMIT = 64 * 1024 * 1024


class _HTTPServer(ThreadingHTTPServer):
    # Handler threads are joined on close, so that shutdown waits for requests in flight.
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128


class InferenceServer:
    def __init__(self, model_dir: Path, *, limits: Limits, host: str = "127.0.0.1", port: int = 8080,
                 log: IO[str] | None = None) -> None:
        self.model_dir = model_dir
        self.limits = limits
        self.metrics = ServerMetrics()
        self.ready = threading.Event()
        self.draining = threading.Event()
        self.exit_code = 0
        self.metadata: dict[str, Any] = {}
        self.labels: tuple[str, ...] = ()
        self.model_sha256 = ""
        self.batcher: MicroBatcher | None = None
        self._log_stream = log or sys.stderr
        self._log_lock = threading.Lock()
        self._connections: dict[int, _Handler] = {}
        # Requests read vs answered, logged on exit: equal numbers mean no accepted request was dropped.
        self.accepted = 0
        self.answered = 0
        self.predicting = 0  # POST /v1/predict requests being handled: the batcher waits only for these
        self._connections_lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"app": self})
        self.httpd = _HTTPServer((host, port), handler)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    # --- lifecycle -------------------------------------------------------------------------

    def load(self) -> None:
        """Load the model, start the batcher and pass one warm-up prediction; then ready."""
        from ml_ci.serve.model import Classifier

        try:
            classifier = Classifier(self.model_dir, threads=self.limits.threads)
            self.labels = classifier.labels
            self.model_sha256 = classifier.manifest.sha256
            self.metadata = _metadata(classifier.manifest.raw)
            self.batcher = MicroBatcher(classifier.probabilities, max_batch_size=self.limits.max_batch_size,
                                        max_batch_delay_ms=self.limits.max_batch_delay_ms, on_batch=self.metrics.observe_batch,
                                        active=lambda: self.predicting)
            rows = self.batcher.predict(["warm up"], timeout=60)
            if len(rows) != 1 or len(rows[0]) != len(self.labels):
                raise RuntimeError(f"the warm-up prediction has shape {len(rows)}x{len(rows[0]) if rows else 0}")
        except Exception as e:
            self.log({"event": "load_failed", "error": f"{type(e).__name__}: {e}"})
            self.exit_code = 1
            self.stop()
            return
        self.ready.set()
        self.metrics.ready.set(1)
        self.log({"event": "ready", "model_sha256": self.model_sha256, "port": self.port})

    def start_loading(self) -> threading.Thread:
        thread = threading.Thread(target=self.load, name="model-loader", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Begin the drain; safe from a signal handler (the blocking part runs in a thread)."""
        if self.draining.is_set():
            return
        self.draining.set()
        self.metrics.ready.set(0)
        threading.Thread(target=self.httpd.shutdown, name="shutdown", daemon=True).start()

    def serve(self) -> int:
        """Serve until stop(); then finish what is in flight and return the exit code."""
        self.log({"event": "listening", "port": self.port})
        self.httpd.serve_forever(poll_interval=0.1)
        self.httpd.socket.close()  # stop accepting: new connections are refused from here on
        self._close_idle_connections()
        self.httpd.server_close()  # joins the handler threads: every accepted request is answered
        if self.batcher is not None:
            self.batcher.close()
        self.log({"event": "stopped", "exit_code": self.exit_code, "accepted": self.accepted, "answered": self.answered})
        return self.exit_code

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())

    # --- connections -----------------------------------------------------------------------

    def _track(self, handler: _Handler, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections[id(handler)] = handler
            else:
                self._connections.pop(id(handler), None)

    def _close_idle_connections(self) -> None:
        """A connection waiting for its next request gets EOF; one reading a request finishes it."""
        with self._connections_lock:
            for handler in self._connections.values():
                if not handler.busy:
                    handler.shutdown_read()

    def log(self, record: dict[str, Any]) -> None:
        line = json.dumps({"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **record})
        with self._log_lock:
            self._log_stream.write(line + "\n")
            self._log_stream.flush()


def _metadata(manifest: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "labels", "max_length", "sha256", "quantize", "opset", "source_sha256", "lineage", "metrics", "ml_ci_version")
    return {k: manifest[k] for k in keys if k in manifest}


class _Handler(BaseHTTPRequestHandler):
    app: InferenceServer
    protocol_version = "HTTP/1.1"
    server_version = "ml-ci-serve"
    sys_version = ""
    # Headers and body leave in two writes; with Nagle's algorithm the second waits for the client's
    # delayed ACK (40 ms on Linux) on every keep-alive request. TCP_NODELAY sends both at once.
    disable_nagle_algorithm = True
    busy = False
    _started = 0.0
    _log_extra: dict[str, Any]

    def setup(self) -> None:
        # StreamRequestHandler applies `timeout` to the socket: idle keep-alive connections end.
        self.request.settimeout(self.app.limits.idle_timeout_s)
        super().setup()
        self._busy_lock = threading.Lock()
        self.app._track(self, alive=True)

    def finish(self) -> None:
        self.app._track(self, alive=False)
        with contextlib.suppress(OSError):  # the client went away; nothing left to flush to
            super().finish()

    def shutdown_read(self) -> None:
        with self._busy_lock:
            if not self.busy:
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RD)

    def parse_request(self) -> bool:
        with self._busy_lock:
            self.busy = True
        with self.app._connections_lock:
            self.app.accepted += 1
        self._started = time.perf_counter()
        self._log_extra = {}
        return super().parse_request()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        finally:
            with self._busy_lock:
                self.busy = False
            if self.app.draining.is_set():
                self.close_connection = True

    # BaseHTTPRequestHandler logs in Apache format to stderr; we write one JSON line per request instead.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors found by the stdlib parser (bad request line, headers) answer JSON too."""
        self.close_connection = True
        refusal = Refusal(code, "bad_request", message or explain or "malformed request")
        self._send(code, refusal.body())
        self._finish_log(code, error=refusal.kind)

    # --- routes ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        app, path = self.app, self.path.split("?", 1)[0]
        if path == "/healthz":
            self._json(200, {"status": "ok"})
        elif path == "/readyz":
            ready = app.ready.is_set() and not app.draining.is_set()
            state = "ready" if ready else "draining" if app.draining.is_set() else "loading"
            self._json(200 if ready else 503, {"status": state})
        elif path == "/metrics":
            self._send(200, app.metrics.exposition(), content_type=app.metrics.content_type)
            self._finish_log(200)
        elif path == "/":
            endpoints = [PREDICT_PATH, "/healthz", "/readyz", "/metrics"]
            self._json(200, {"model": app.metadata, "ready": app.ready.is_set(), "endpoints": endpoints})
        else:
            self._refuse(Refusal(404, "not_found", f"no such path {path!r}; predictions are POST {PREDICT_PATH}"))

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != PREDICT_PATH:
            self._drain_body()
            self._refuse(Refusal(404, "not_found", f"no such path; predictions are POST {PREDICT_PATH}"))
            return
        app = self.app
        app.metrics.in_flight.inc()
        with app._connections_lock:
            app.predicting += 1
        try:
            self._predict()
        finally:
            with app._connections_lock:
                app.predicting -= 1
            app.metrics.in_flight.dec()
            app.metrics.latency.observe(time.perf_counter() - self._started)

    def _predict(self) -> None:
        app = self.app
        try:
            if self.headers.get("Transfer-Encoding"):
                self.close_connection = True
                raise Refusal(411, "length_required", "chunked bodies are not accepted; send a Content-Length")
            size = check_length(self.headers.get("Content-Length"), app.limits)
            body = self.rfile.read(size)
            if len(body) < size:
                self.close_connection = True
                raise Refusal(400, "bad_request", f"the body ended after {len(body)} of {size} bytes")
            texts = parse_texts(body, app.limits)
            self._log_extra["texts"] = len(texts)
            if not app.ready.is_set() or app.batcher is None:
                raise Refusal(503, "not_ready", "the model is still loading; retry when /readyz answers 200")
            rows = app.batcher.predict(texts, timeout=app.limits.request_timeout_s)
        except Refusal as refusal:
            if refusal.status == 413:
                self._discard_body(int(self.headers["Content-Length"]))
            self._refuse(refusal)
            return
        except FutureTimeout:
            self._refuse(Refusal(503, "timeout", f"no prediction within {app.limits.request_timeout_s} s"))
            return
        except Exception as e:
            self._refuse(Refusal(500, "internal", f"{type(e).__name__}: {e}"))
            return
        self._send(200, predictions_body(app.labels, rows, app.model_sha256))
        self._finish_log(200)

    def do_PUT(self) -> None:
        self._method_not_allowed()

    def do_DELETE(self) -> None:
        self._method_not_allowed()

    def do_PATCH(self) -> None:
        self._method_not_allowed()

    # --- helpers ---------------------------------------------------------------------------

    def _method_not_allowed(self) -> None:
        self.close_connection = True
        self._refuse(Refusal(405, "method_not_allowed", f"{self.command} is not allowed; predictions are POST {PREDICT_PATH}"))

    def _discard_body(self, size: int) -> None:
        if size > DISCARD_LIMIT:
            self.close_connection = True  # the body was not read: the stream cannot be reused
            return
        try:
            while size > 0:
                chunk = self.rfile.read(min(size, 1 << 16))
                if not chunk:
                    break
                size -= len(chunk)
        except OSError:
            pass
        if size > 0:
            self.close_connection = True

    def _drain_body(self) -> None:
        try:
            size = check_length(self.headers.get("Content-Length"), self.app.limits)
        except Refusal:
            self.close_connection = True
            return
        self.rfile.read(size)

    def _refuse(self, refusal: Refusal) -> None:
        self.app.metrics.errors.labels(refusal.kind).inc()
        self._send(refusal.status, refusal.body())
        self._finish_log(refusal.status, error=refusal.kind, message=refusal.message)

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode())
        self._finish_log(status)

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection or self.app.draining.is_set():
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)
            with self.app._connections_lock:
                self.app.answered += 1
        except OSError:
            self.close_connection = True  # the client hung up; its answer has nowhere to go

    def _finish_log(self, status: int, **extra: Any) -> None:
        path = getattr(self, "path", "")
        route = path.split("?", 1)[0] if path in ("/", "/healthz", "/readyz", "/metrics", PREDICT_PATH) else "other"
        self.app.metrics.requests.labels(route, str(status)).inc()
        started = self._started or time.perf_counter()
        self.app.log({"method": getattr(self, "command", None), "path": path[:200], "status": status,
                      "ms": round((time.perf_counter() - started) * 1000, 3), **getattr(self, "_log_extra", {}), **extra})


def run(model_dir: Path, *, limits: Limits, host: str, port: int) -> int:
    """Listen at once (liveness answers while the model loads), load, serve until SIGTERM; the exit code."""
    server = InferenceServer(model_dir, limits=limits, host=host, port=port)
    server.install_signal_handlers()
    server.start_loading()
    return server.serve()
