"""A task's own HTTP routes beside /v1/predict (text-generation's OpenAI-compatible API), and what the server
hands them. Pure data: the server (ml_ci/serve/server.py) reads the request, calls the handler, writes its reply.

Every task has POST /v1/predict (its serving half's `parse` and `answer`, through the micro-batcher). A task whose
clients already speak another API adds routes for it: `ServingHalf.routes(context)` returns them once the model
is named (model.json says the task), before it loads: a handler asks `context.model()` for the loaded model,
which refuses with 503 until it is ready. The server keeps what every route shares: framing (Content-Length,
application/json, the body limit, the read deadline), the connection cap, the drain, the request log, and the
metrics `mlci_requests_total{path}` and `mlci_request_latency_seconds`. The handler owns what the body means.

A reply is whole (`Reply`) or streamed (`Stream`, e.g. server-sent events): each chunk is written and flushed as it
comes, with HTTP/1.1 chunked transfer coding, so the connection stays usable after the last one. A client that
goes away ends the stream: the server closes the iterator (a generator sees GeneratorExit at its `yield`), which is
how a handler learns to stop generating. A handler waiting for a whole reply asks `call.gone()` instead.

Refusals: a handler raises ml_ci.serve.protocol.Refusal for what the client must change; the route's
`refusal_body` shapes its JSON (an API has its own error object), also for the refusals the server makes before
the handler runs (413, 415, 408, 503 while loading).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from ml_ci.serve.limits import Limits
    from ml_ci.serve.protocol import Refusal
    from ml_ci.tasks.protocols.serving import ServedModel


@dataclass(frozen=True, kw_only=True)
class Call:
    """One request, read whole, as a handler gets it."""

    body: bytes  # b"" for a GET
    query: str  # the part of the path after "?", "" when none
    headers: Mapping[str, str]  # the request's headers (the last value of a repeated one)
    # True once the client has closed its side of the connection: a handler waiting for a whole answer gives up.
    gone: Callable[[], bool]
    # Fields added to the request's log line (e.g. {"prompt_tokens": 12}); the handler may fill it.
    log: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Reply:
    """A whole answer."""

    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass(frozen=True, kw_only=True)
class Stream:
    """A 200 answer sent as it is made. Closing `chunks` (when the client is gone, or the server stops it) must
    release what the handler holds (a generator's `finally`)."""

    chunks: Iterator[bytes]
    content_type: str = "text/event-stream"
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. {"Cache-Control": "no-cache"}


Handler = Callable[[Call], Union[Reply, Stream]]


def default_refusal_body(refusal: Refusal) -> bytes:
    return refusal.body()


@dataclass(frozen=True, kw_only=True)
class Route:
    method: Literal["GET", "POST"]
    path: str  # exact, e.g. "/v1/chat/completions"
    handle: Handler
    # The JSON of a refusal on this route (the handler's own, and the server's framing ones).
    refusal_body: Callable[[Refusal], bytes] = default_refusal_body


@dataclass(frozen=True, kw_only=True)
class RouteContext:
    """What a task's routes may use of the server."""

    limits: Limits
    # The loaded model (the serving half's own `load` result); Refusal 503 `not_ready` while it loads.
    model: Callable[[], ServedModel]
    # The server's metrics registry: a task registers its own series here (mlci_* names), so that /metrics
    # exposes them beside the generic ones.
    registry: CollectorRegistry
    # One JSON line in the server's log (the server adds the timestamp).
    log: Callable[[dict[str, Any]], None]
    # True once SIGTERM came: a long stream may want to know (it is still finished, not cut).
    draining: Callable[[], bool]


def index(routes: Sequence[Route], reserved: Sequence[str]) -> dict[tuple[str, str], Route]:
    """The routes by (method, path); a bug (ValueError) when two share one, or one takes a path the server keeps."""
    out: dict[tuple[str, str], Route] = {}
    for route in routes:
        key = (route.method, route.path)
        if key in out or route.path in reserved:
            raise ValueError(f"route {route.method} {route.path} is defined twice or is the server's own")
        out[key] = route
    return out


def paths(routes: Mapping[tuple[str, str], Route]) -> list[str]:
    return sorted({path for _, path in routes})


def find(routes: Mapping[tuple[str, str], Route], method: str, path: str) -> Optional[Route]:
    return routes.get((method, path))
