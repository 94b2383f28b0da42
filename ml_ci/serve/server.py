"""The HTTP layer: the standard library's threading server in front of the micro-batcher.

Why not an ASGI server: every request waits on the batcher thread and onnxruntime releases the
GIL while it computes, so threads cost little here, and the stdlib server adds no dependency to
the image. Measured (benchmarks/serve.py --http-layer, GET /healthz at concurrency 16, 2 shared
cores): this server 1,590 requests/s against 1,186 for uvicorn (h11) with a bare ASGI app, both far
above the model's own rate (about 10-25 ms of compute per text). One thread per connection,
keep-alive (HTTP/1.1).

Why not a well-kept server for the hardening either (issue 13): the three properties asked of the
server are not what uvicorn, gunicorn or waitress give. On SIGTERM they close the listening socket at
once (uvicorn, gunicorn) or stop outright (waitress), where a rolling update needs the opposite: keep
accepting while load balancers learn that the pod is going. uvicorn has no deadline on reading a
request (its `timeout_keep_alive` is reset by every byte received; the request-start timeout of
encode/uvicorn#157 was never added), so a slow client holds a connection for ever there too. Each
would need the same hand-written drain and deadline on top, plus h11 or httptools and an event loop
in the image. What is hand-written here is small and tested byte by byte in
tests/integration/test_serve.py: a per-request read deadline (`_DeadlineReader`), a connection cap
(`_HTTPServer.process_request`) and the drain (`InferenceServer.stop`).

Limits on clients (ml_ci/serve/limits.py): a connection waits at most idle_timeout_s for its next
request; from a request's first byte, its line, headers and body must arrive within
request_read_timeout_s (408 and close beyond); at most max_connections are open at once (a new one
beyond is answered 503 and closed, so threads are bounded); bodies must be `application/json` (415)
with one well-formed Content-Length (411, 400, 413); HTTP/0.9 requests are refused (505).

Probes under a flood (the probe port, `probe_port`): kubelet's liveness probe used to queue with the
clients. Once a flood filled max_connections, /healthz got the same 503 as any surplus client and
Kubernetes restarted a pod that was only busy, dropping every request in flight and pushing its share
onto the other pods (an overload made worse). Probes now have a listener of their own: a second port,
which the Deployment probes and the Service does not expose, so clients never reach it and cannot fill
it. It answers only GET /healthz and /readyz, one request per connection, each read whole within
PROBE_READ_TIMEOUT_S, from its own small pool (PROBE_CONNECTIONS; 503 beyond). Why not the other ways
to the same end: answering /healthz over the cap means reading each surplus connection's request line
first, under a deadline, so a flood of silent connections buys that deadline from the accept loop (or
from a pool it fills); a reserve of slots for probes cannot tell a probe from a client before reading
it either; and over one listener, a flood also fills its accept backlog (request_queue_size), where a
probe's SYN waits unanswered past its timeout before any cap is consulted. A separate listener has its
own backlog. What it does not give by itself is a liveness that means something: a side thread that
always says 200 would keep a wedged server alive for ever. So /healthz (both ports) fails when the main
accept loop has not turned for probes.LOOP_STALL_S, and /readyz stays independent of load: probes.py
argues both. The main port keeps /healthz and /readyz for docker, compose and scripts, capped like any
request.

Shutdown (SIGTERM/SIGINT): /readyz turns 503 at once; for drain_seconds the server keeps accepting
and answering, each answer with `Connection: close` so that keep-alive clients reconnect elsewhere;
then it accepts what is already queued, closes the listening socket, closes idle keep-alive
connections, answers every request already read, drains the batcher and exits 0. A second signal
ends the drain period early.
"""

from __future__ import annotations

import abc
import contextlib
import ctypes
import io
import json
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ml_ci.serve import device
from ml_ci.serve.batcher import MicroBatcher
from ml_ci.serve.limits import Limits
from ml_ci.serve.metrics import ServerMetrics
from ml_ci.serve.probes import HEALTH_PATH, READY_PATH, probe_answer
from ml_ci.serve.protocol import Refusal, check_content_type, check_length
from ml_ci.serve.routes import Call, Route, RouteContext, Stream, find, index, paths

if TYPE_CHECKING:
    from ml_ci.records.model import ModelRecord
    from ml_ci.tasks.protocols.serving import ServedModel, ServingHalf

PREDICT_PATH = "/v1/predict"
SERVER_PATHS = (PREDICT_PATH, HEALTH_PATH, READY_PATH, "/metrics", "/")
# A too-large body up to this size is read and discarded before the 413, so that clients which send
# the whole body before reading (most do) get the answer instead of a broken pipe. Beyond it the
# connection is closed unread. Reading in small chunks keeps memory flat either way.
DISCARD_LIMIT = 64 * 1024 * 1024


def _overflow_answer(kind: str, message: str) -> bytes:
    body = json.dumps({"error": {"kind": kind, "message": message}}).encode()
    return (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


TOO_MANY_CONNECTIONS = _overflow_answer("too_many_connections", "the server has as many connections as it takes; retry")
TOO_MANY_PROBES = _overflow_answer("too_many_probe_connections", "the probe port has as many connections as it takes")
# The probe port: its own pool of threads, and a deadline within kubelet's default probe timeout (1 s; the
# Deployment sets 2 s). A probe is one short request on a fresh connection; nothing legitimate needs more.
PROBE_CONNECTIONS = 16
PROBE_READ_TIMEOUT_S = 1.0


class _CappedServer(ThreadingHTTPServer, abc.ABC):
    """One thread per connection, up to capacity(); beyond, a canned 503 at once instead of a thread."""

    allow_reuse_address = True
    overflow = TOO_MANY_CONNECTIONS
    app: InferenceServer

    @abc.abstractmethod
    def capacity(self) -> int:
        """How many connections may hold a thread at once."""

    def server_activate(self) -> None:
        super().server_activate()
        self.slots = threading.BoundedSemaphore(self.capacity())

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.refused()
            with contextlib.suppress(OSError):
                request.setblocking(False)  # a fresh socket's send buffer takes these bytes; never wait here
                request.send(self.overflow)
            self.shutdown_request(request)
            return
        self.opened(+1)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        self.opened(-1)
        self.slots.release()

    def refused(self) -> None:
        pass

    def opened(self, change: int) -> None:
        pass


class _HTTPServer(_CappedServer):
    # Handler threads are joined on close, so that shutdown waits for requests in flight.
    daemon_threads = False
    block_on_close = True
    request_queue_size = 128

    def capacity(self) -> int:
        return self.app.limits.max_connections

    def refused(self) -> None:
        self.app.metrics.errors.labels("too_many_connections").inc()
        self.app.metrics.requests.labels("other", "503").inc()

    def opened(self, change: int) -> None:
        if change > 0:
            self.app.metrics.connections.inc()
        else:
            self.app.metrics.connections.dec()

    def service_actions(self) -> None:
        """Called by serve_forever after every poll (0.1 s) and every accept: the heartbeat that liveness reads."""
        super().service_actions()
        self.app.loop_beat = time.monotonic()


class _ProbeServer(_CappedServer):
    # A probe's thread lives at most PROBE_READ_TIMEOUT_S plus one answer: nothing to wait for on shutdown.
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64
    overflow = TOO_MANY_PROBES

    def capacity(self) -> int:
        return PROBE_CONNECTIONS

    def refused(self) -> None:
        self.app.metrics.errors.labels("too_many_probe_connections").inc()


class _DeadlineReader(io.RawIOBase):
    """The connection's reads, with a deadline on each request as a whole.

    A socket timeout bounds one read, so a client that sends a byte every few seconds would hold its
    thread for ever. Here, waiting for a request's first byte is bounded by idle_timeout_s, and from that
    byte on, every read gets only what is left of request_read_timeout_s: the request line, headers and
    body must all arrive in that time. `expired` tells a timed-out request (408) from an idle
    connection (closed quietly)."""

    def __init__(self, sock: socket.socket, limits: Limits) -> None:
        super().__init__()
        self._sock = sock
        self._limits = limits
        self.deadline: float | None = None  # None: between requests
        self.expired = False

    def readable(self) -> bool:
        return True

    def begin_idle(self) -> None:
        self.deadline = None
        self.expired = False

    def in_request(self) -> bool:
        return self.deadline is not None

    def readinto(self, buffer: Any) -> int:
        if self.deadline is None:
            self._sock.settimeout(self._limits.idle_timeout_s)
            n = self._sock.recv_into(buffer)
            if n:
                self.deadline = time.monotonic() + self._limits.request_read_timeout_s
            return n
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.expired = True
            raise TimeoutError("the request was not read within its deadline")
        self._sock.settimeout(remaining)
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:
            self.expired = True
            raise


class InferenceServer:
    def __init__(
        self, model_dir: Path, *, limits: Limits, host: str = "127.0.0.1", port: int = 8080, log: IO[str] | None = None
    ) -> None:
        self.model_dir = model_dir
        self.limits = limits
        self.metrics = ServerMetrics()
        self.ready = threading.Event()
        self.draining = threading.Event()
        self.exit_code = 0
        self.metadata: dict[str, Any] = {}
        # The task's serving half (what a request holds, what an answer is), named by model.json; None when
        # model.json cannot say, and then the load fails and says why.
        self.serving: ServingHalf | None = _serving_half(model_dir)
        self.model: ServedModel | None = None
        # The task's own routes (ml_ci/serve/routes.py), known from model.json before the model loads.
        self.routes: dict[tuple[str, str], Route] = {}
        self.context: RouteContext | None = None
        if self.serving is not None:
            self.context = RouteContext(
                limits=limits,
                model=self._loaded_model,
                registry=self.metrics.registry,
                log=self.log,
                draining=self.draining.is_set,
            )
            self.routes = index(self.serving.routes(self.context), reserved=SERVER_PATHS)
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
        self._drain_over = threading.Event()
        handler = type("Handler", (_Handler,), {"app": self})
        server_class = type("HTTPServer", (_HTTPServer,), {"app": self})
        self.httpd = server_class((host, port), handler)
        # The accept loop's last turn (time.monotonic()); None while it is not meant to run. Liveness reads it.
        self.loop_beat: float | None = None
        self.probes: _ProbeServer | None = None
        if limits.probe_port:
            probe_handler = type("ProbeHandler", (_ProbeHandler,), {"app": self})
            self.probes = type("ProbeServer", (_ProbeServer,), {"app": self})((host, limits.probe_port), probe_handler)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def _loaded_model(self) -> ServedModel:
        if not self.ready.is_set() or self.model is None:
            raise Refusal(503, "not_ready", "the model is still loading; retry when /readyz answers 200")
        return self.model

    def probe(self, path: str) -> tuple[int, dict[str, Any]]:
        beat = self.loop_beat
        return probe_answer(
            path,
            ready=self.ready.is_set(),
            draining=self.draining.is_set(),
            loop_silent_s=None if beat is None else time.monotonic() - beat,
        )

    # --- lifecycle -------------------------------------------------------------------------

    def load(self) -> None:
        """Load the model, start the batcher and pass one warm-up prediction; then ready."""
        try:
            # Where the model runs, said when ready: a CUDA image told ML_CI_SERVE_DEVICE=cpu (the image check of a
            # machine without a GPU) says so in its log. A value that names no device fails here, for every task.
            where = device.selected()
            serving = self.serving or _serving_half(self.model_dir, strict=True)
            assert serving is not None  # strict: it raised otherwise
            model = self.model = serving.load(self.model_dir, threads=self.limits.threads, context=self.context)
            self.model_sha256 = model.record.sha256
            self.metadata = _metadata(model.record)
            self.batcher = MicroBatcher(
                model.predict,
                max_batch_size=self.limits.max_batch_size,
                max_batch_delay_ms=self.limits.max_batch_delay_ms,
                on_batch=self.metrics.observe_batch,
                active=lambda: self.predicting,
            )
            serving.check(model, self.batcher.predict(serving.WARM_UP, timeout=60))
        except Exception as e:
            self.log({"event": "load_failed", "error": f"{type(e).__name__}: {e}"})
            self.exit_code = 1
            self.stop(drain=False)
            return
        self.ready.set()
        self.metrics.ready.set(1)
        self.log({"event": "ready", "model_sha256": self.model_sha256, "port": self.port, "device": where})

    def start_loading(self) -> threading.Thread:
        thread = threading.Thread(target=self.load, name="model-loader", daemon=True)
        thread.start()
        return thread

    def stop(self, *, drain: bool = True) -> None:
        """Begin the shutdown; safe from a signal handler (the waiting runs in a thread).

        Not ready at once; keep accepting and answering for drain_seconds (requests routed here before
        the load balancer saw /readyz fail still get answers); then stop accepting. A second call ends
        the drain period early."""
        if self.draining.is_set():
            self._drain_over.set()
            return
        self.draining.set()
        self.metrics.ready.set(0)
        seconds = self.limits.drain_seconds if drain else 0.0
        self.log({"event": "draining", "seconds": seconds})

        def end_of_drain() -> None:
            self._drain_over.wait(seconds)
            self.httpd.shutdown()

        threading.Thread(target=end_of_drain, name="drain", daemon=True).start()

    def serve(self) -> int:
        """Serve until stop() and its drain period; then finish what is in flight and return the exit code."""
        self.log(
            {
                "event": "listening",
                "port": self.port,
                **({"probe_port": int(self.probes.server_address[1])} if self.probes else {}),
            }
        )
        if self.probes is not None:
            threading.Thread(target=self.probes.serve_forever, kwargs={"poll_interval": 0.5}, name="probes", daemon=True).start()
        self.loop_beat = time.monotonic()
        self.httpd.serve_forever(poll_interval=0.1)
        self.loop_beat = None  # the drain is over: the loop stopped on purpose, which is no sign of a stall
        self._accept_queued()
        self.httpd.socket.close()  # stop accepting: new connections are refused from here on
        self._close_idle_connections()
        self.httpd.server_close()  # joins the handler threads: every accepted request is answered
        if self.batcher is not None:
            self.batcher.close()
        if self.probes is not None:  # probes answer until the end: liveness must not fail during a long drain
            self.probes.shutdown()
            self.probes.server_close()
        self.log({"event": "stopped", "exit_code": self.exit_code, "accepted": self.accepted, "answered": self.answered})
        return self.exit_code

    def _accept_queued(self) -> None:
        """Connections the kernel completed but nobody accepted yet: their clients may have sent a request
        already, and closing the listening socket would reset them unanswered. Take them all first.

        Between the last accept() and close(), the kernel keeps completing handshakes (and this thread may
        wait milliseconds for the GIL): each would be reset, its request sent and lost. So first the
        listening socket drops every new SYN (a one-instruction socket filter, Linux): such a client
        retries its SYN a second later, finds the port closed and knows nothing was sent."""
        listener = self.httpd.socket
        _drop_new_connections(listener)
        listener.setblocking(False)
        while True:
            try:
                request, address = listener.accept()
            except OSError:  # BlockingIOError: nothing left in the queue
                return
            request.setblocking(True)
            self.httpd.process_request(request, address)

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
            handlers = list(self._connections.values())
        for handler in handlers:
            handler.shutdown_read()

    def log(self, record: dict[str, Any]) -> None:
        line = json.dumps({"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **record})
        with self._log_lock:
            self._log_stream.write(line + "\n")
            self._log_stream.flush()


SO_ATTACH_FILTER = 26  # Linux, <asm-generic/socket.h>; the socket module does not name it


def _drop_new_connections(listener: socket.socket) -> None:
    """Attach the classic BPF program `ret #0` (drop every packet) to the listening socket. Best effort:
    elsewhere than Linux, the window it closes stays open."""
    if sys.platform != "linux":
        return
    program = ctypes.create_string_buffer(struct.pack("HBBI", 0x06, 0, 0, 0))  # BPF_RET | BPF_K, 0: drop
    fprog = struct.pack("HP", 1, ctypes.addressof(program))  # struct sock_fprog {len; filter*}, native alignment
    with contextlib.suppress(OSError):
        listener.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)  # the kernel copies the program


def _read_timeout(limits: Limits) -> Refusal:
    return Refusal(
        408,
        "request_timeout",
        f"the request (line, headers and body) did not arrive within {limits.request_read_timeout_s} s of its first byte",
    )


def _serving_half(model_dir: Path, *, strict: bool = False) -> ServingHalf | None:
    """The serving half of the task model.json names; None when it cannot be read (strict: the error)."""
    from ml_ci import tasks
    from ml_ci.records import model as model_record

    try:
        task = model_record.read(model_dir / model_record.FILE).task
        if task is None:
            raise ValueError(f"{model_dir / model_record.FILE} names no task")
        return tasks.get(task).serving()
    except Exception:
        if strict:
            raise
        return None


def _metadata(record: ModelRecord) -> dict[str, Any]:
    """What GET / says of the model: model.json but what only the server and the export need."""
    data = record.data()
    keys = (
        "name",
        *record.payload,
        "max_length",
        "sha256",
        "quantize",
        "opset",
        "source_sha256",
        "lineage",
        "metrics",
        "ml_ci_version",
    )
    return {k: data[k] for k in keys if k in data}


class _Handler(BaseHTTPRequestHandler):
    app: InferenceServer
    protocol_version = "HTTP/1.1"
    server_version = "ml-ci-serve"
    sys_version = ""
    # Headers and body leave in two writes; with Nagle's algorithm the second waits for the client's
    # delayed ACK (40 ms on Linux) on every keep-alive request. TCP_NODELAY sends both at once.
    disable_nagle_algorithm = True
    busy = False  # a request is being read or answered: shutdown must let it finish
    served = 0  # requests read on this connection
    answered = False  # this request got its answer (a timed-out one that did not gets a 408)
    _started = 0.0
    _log_extra: dict[str, Any]

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the stdlib's reader has no deadline per request; ours replaces it
        self._reader = _DeadlineReader(self.connection, self.app.limits)
        self.rfile = io.BufferedReader(self._reader, 1 << 16)
        self._busy_lock = threading.Lock()
        self.app._track(self, alive=True)

    def finish(self) -> None:
        self.app._track(self, alive=False)
        with contextlib.suppress(OSError):  # the client went away; nothing left to flush to
            super().finish()

    def shutdown_read(self) -> None:
        """EOF for a keep-alive connection between requests. One whose request has begun to arrive is left
        to finish; so is a new one that has not sent its first request yet: its client connected to send
        one, likely already on its way (it ends at idle_timeout_s if not)."""
        with self._busy_lock:
            if self.served and not self.busy and not self._reader.in_request():
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RD)

    def parse_request(self) -> bool:
        with self._busy_lock:
            self.busy = True
        with self.app._connections_lock:
            self.app.accepted += 1
        self._started = time.perf_counter()
        self._log_extra = {}
        if len(getattr(self, "raw_requestline", b"").split()) == 2:
            # `GET /` alone is HTTP/0.9, whose answer is a bare body: no status line, no headers. No client
            # of this server speaks it (the stdlib would answer it so, after waiting for headers that never
            # come). Refused before parsing, with a status line.
            self.command, self.path, self.request_version = "", "", "HTTP/1.1"
            self.send_error(505, "HTTP/0.9 requests are not served; send HTTP/1.1 (or 1.0)")
            return False
        return super().parse_request()

    def handle_one_request(self) -> None:
        self._reader.begin_idle()
        self.answered = False
        try:
            super().handle_one_request()  # a read past the request's deadline ends it here, unanswered
            if self._reader.expired and not self.answered:
                if not self.busy:  # it expired before its request line was whole: count it read, as answered
                    with self.app._connections_lock:
                        self.app.accepted += 1
                self.close_connection = True
                self._refuse(_read_timeout(self.app.limits))
        finally:
            with self._busy_lock:
                self.served += self.busy or self._reader.in_request()
                self.busy = False
                self._reader.begin_idle()  # between requests: shutdown may close this connection now
            # Not "close if draining" here: an answer sent just before SIGTERM promised keep-alive, and its
            # client may be sending the next request already. That one is answered with `Connection: close`.

    # BaseHTTPRequestHandler logs in Apache format to stderr; we write one JSON line per request instead.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors found by the stdlib parser (bad request line, headers) answer JSON too."""
        self.close_connection = True
        if self._reader.expired:
            return  # the parser met the deadline (a header line cut short): handle_one_request answers 408
        refusal = Refusal(code, "bad_request", message or explain or "malformed request")
        self._send(code, refusal.body())
        self._finish_log(code, error=refusal.kind)

    # --- routes ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        app, path = self.app, self.path.split("?", 1)[0]
        if path in (HEALTH_PATH, READY_PATH):
            self._json(*app.probe(path))
        elif path == "/metrics":
            self._send(200, app.metrics.exposition(), content_type=app.metrics.content_type)
            self._finish_log(200)
        elif path == "/":
            endpoints = [PREDICT_PATH, *paths(app.routes), "/healthz", "/readyz", "/metrics"]
            self._json(200, {"model": app.metadata, "ready": app.ready.is_set(), "endpoints": endpoints})
        elif (route := find(app.routes, "GET", path)) is not None:
            self._route(route)
        else:
            self._refuse(Refusal(404, "not_found", f"no such path {path!r}; predictions are POST {PREDICT_PATH}"))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if (route := find(self.app.routes, "POST", path)) is not None:
            self._route(route)
            return
        if path != PREDICT_PATH:
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
            body = self._read_body()
            if app.serving is None:  # model.json says no task: the load fails, and says why in the log
                raise Refusal(503, "not_ready", "the model is still loading; retry when /readyz answers 200")
            inputs = app.serving.parse(body, app.limits)
        except Refusal as refusal:
            self._refuse(refusal)
            return
        self._log_extra["texts"] = len(inputs)
        if not app.ready.is_set() or app.batcher is None or app.model is None:
            self._refuse(Refusal(503, "not_ready", "the model is still loading; retry when /readyz answers 200"))
            return
        try:
            rows = app.batcher.predict(inputs, timeout=app.limits.request_timeout_s)
        except FutureTimeout:
            self._refuse(Refusal(503, "timeout", f"no prediction within {app.limits.request_timeout_s} s"))
            return
        except Exception as e:
            self._refuse(Refusal(500, "internal", f"{type(e).__name__}: {e}"))
            return
        self._send(200, app.serving.answer(app.model, rows, app.model_sha256))
        self._finish_log(200)

    def _route(self, route: Route) -> None:
        """A task's route: read the body under the server's framing rules, call the handler, send its reply."""
        app = self.app
        app.metrics.in_flight.inc()
        try:
            try:
                body = self._read_body() if route.method == "POST" else b""
            except Refusal as refusal:
                self._refuse(refusal, route)
                return
            query = self.path.partition("?")[2]
            call = Call(body=body, query=query, headers=dict(self.headers.items()), gone=self._client_gone)
            try:
                reply = route.handle(call)
            except Refusal as refusal:
                self._log_extra.update(call.log)
                self._refuse(refusal, route)
                return
            except Exception as e:
                self._log_extra.update(call.log)
                self._refuse(Refusal(500, "internal", f"{type(e).__name__}: {e}"), route)
                return
            self._log_extra.update(call.log)
            if isinstance(reply, Stream):
                self._stream(reply)
            else:
                self._send(reply.status, reply.body, content_type=reply.content_type)
                self._finish_log(reply.status)
        finally:
            app.metrics.in_flight.dec()
            app.metrics.latency.observe(time.perf_counter() - self._started)

    def _client_gone(self) -> bool:
        """Whether the client closed its side of the connection (EOF waiting to be read); not whether it sent a next
        request (that is data, pipelined, and says it is still there)."""
        sock = self.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
            return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"")
        except BlockingIOError:
            return False
        except (OSError, ValueError):
            return True

    def _stream(self, stream: Stream) -> None:
        """Send chunks as they come: HTTP/1.1 chunked (the connection stays usable), or to the close for HTTP/1.0.
        A client that goes away closes the iterator, which stops the handler's work (cancellation)."""
        chunked = self.request_version == "HTTP/1.1"
        self.answered = True
        sent, cut = 0, False
        try:
            try:
                self.connection.settimeout(self.app.limits.idle_timeout_s)
                self.send_response(200)
                self.send_header("Content-Type", stream.content_type)
                for name, value in stream.headers.items():
                    self.send_header(name, value)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                if not chunked or self.close_connection or self.app.draining.is_set():
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                for chunk in stream.chunks:
                    if not chunk:
                        continue  # an empty chunk would end a chunked body
                    self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                    sent += 1
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:
                cut = True  # the client hung up: the handler stops at its next chunk (close() below)
                self.close_connection = True
        finally:
            close = getattr(stream.chunks, "close", None)
            if close is not None:
                close()
        with self.app._connections_lock:
            self.app.answered += 1
        if cut:
            self.app.metrics.errors.labels("client_gone").inc()
            self._finish_log(200, chunks=sent, error="client_gone")
        else:
            self._finish_log(200, chunks=sent)

    def _read_body(self) -> bytes:
        """The request's body, or a Refusal; the stream is left at the next request, or marked to close."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise Refusal(411, "length_required", "chunked bodies are not accepted; send a Content-Length")
        try:
            size = check_length(self.headers.get_all("Content-Length") or [], self.app.limits)
        except Refusal as refusal:
            if refusal.status == 413:
                self._discard_body(self.headers.get("Content-Length", "0"))
            else:
                self.close_connection = True  # where this request ends is unknown
            raise
        try:
            check_content_type(self.headers.get("Content-Type"))
        except Refusal:
            self._discard_body(str(size))
            raise
        try:
            body = self.rfile.read(size)
        except TimeoutError:
            self.close_connection = True
            raise _read_timeout(self.app.limits) from None
        if len(body) < size:
            self.close_connection = True
            raise Refusal(400, "bad_request", f"the body ended after {len(body)} of {size} bytes")
        return body

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

    def _discard_body(self, length: str) -> None:
        """Read and drop a body that will not be used, so that the connection can serve the next request."""
        size = int(length) if length.isascii() and length.isdigit() and len(length) < 19 else DISCARD_LIMIT + 1
        if size > DISCARD_LIMIT:
            self.close_connection = True  # the body was not read: the stream cannot be reused
            return
        try:
            while size > 0:
                chunk = self.rfile.read(min(size, 1 << 16))
                if not chunk:
                    break
                size -= len(chunk)
        except OSError:  # TimeoutError included: the deadline passed; the refusal already says what was wrong
            pass
        if size > 0:
            self.close_connection = True

    def _drain_body(self) -> None:
        try:
            size = check_length(self.headers.get_all("Content-Length") or [], self.app.limits)
        except Refusal:
            self.close_connection = True
            return
        self._discard_body(str(size))

    def _refuse(self, refusal: Refusal, route: Route | None = None) -> None:
        self.app.metrics.errors.labels(refusal.kind).inc()
        self._send(refusal.status, refusal.body() if route is None else route.refusal_body(refusal), headers=refusal.headers)
        self._finish_log(refusal.status, error=refusal.kind, message=refusal.message)

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode())
        self._finish_log(status)

    def _send(
        self, status: int, body: bytes, content_type: str = "application/json", headers: Mapping[str, str] | None = None
    ) -> None:
        self.answered = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # the stdlib leaves out the status line for 0.9: never answer so
        try:
            self.connection.settimeout(self.app.limits.idle_timeout_s)  # reads left it at the request's remaining time
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
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
        route = path.split("?", 1)[0]
        if route not in SERVER_PATHS and not any(p == route for _, p in self.app.routes):
            route = "other"  # a label per path sent would let any client grow the metrics without bound
        self.app.metrics.requests.labels(route, str(status)).inc()
        started = self._started or time.perf_counter()
        self.app.log(
            {
                "method": getattr(self, "command", None),
                "path": path[:200],
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 3),
                **getattr(self, "_log_extra", {}),
                **extra,
            }
        )


class _ProbeHandler(BaseHTTPRequestHandler):
    """The probe port: GET /healthz and /readyz, one request per connection (kubelet opens one per probe),
    read whole within PROBE_READ_TIMEOUT_S of the connection's start; anything else is refused."""

    app: InferenceServer
    protocol_version = "HTTP/1.1"
    server_version = "ml-ci-serve"
    sys_version = ""
    disable_nagle_algorithm = True
    _limits = Limits(idle_timeout_s=PROBE_READ_TIMEOUT_S, request_read_timeout_s=PROBE_READ_TIMEOUT_S)

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self._limits), 1 << 12)

    def handle(self) -> None:
        self.handle_one_request()  # a silent or slow connection ends here, at its deadline

    def finish(self) -> None:
        with contextlib.suppress(OSError):  # the prober went away; nothing left to flush to
            super().finish()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in (HEALTH_PATH, READY_PATH):
            self._answer(*self.app.probe(path))
        else:
            message = f"the probe port answers {HEALTH_PATH} and {READY_PATH} only"
            self._answer(404, {"error": {"kind": "not_found", "message": message}})

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self._answer(code, {"error": {"kind": "bad_request", "message": message or explain or "malformed request"}})

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        if status != 200:  # a failing probe is news; the steady 200s every few seconds are not logged
            self.app.log({"probe_port": True, "path": getattr(self, "path", "")[:200], "status": status, **payload})
        self.request_version = "HTTP/1.1"  # never the bare body of an HTTP/0.9 answer
        body = json.dumps(payload).encode()
        with contextlib.suppress(OSError):  # the prober gave up; nothing to tell it
            self.connection.settimeout(PROBE_READ_TIMEOUT_S)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


def run(model_dir: Path, *, limits: Limits, host: str, port: int) -> int:
    """Listen at once (liveness answers while the model loads), load, serve until SIGTERM; the exit code."""
    server = InferenceServer(model_dir, limits=limits, host=host, port=port)
    server.install_signal_handlers()
    server.start_loading()
    return server.serve()
