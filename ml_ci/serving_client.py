"""The one client of a served model: readiness, predictions in batches, and the golden check.

`ml-ci build` (verify the image before the push), `ml-ci deploy` (the smoke test) and the tests ask a
server the same way through here. What a request and an answer look like, and how answers are compared
with golden examples, is the task's (its serving half, `ml_ci.tasks.protocols.serving`); this module
knows HTTP, /readyz and batching only. Standard library only, so that it imports nothing heavy.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml_ci.tasks.protocols.serving import ServingHalf

READY_PATH = "/readyz"
PREDICT_PATH = "/v1/predict"


class NotReady(Exception):
    """The server did not answer /readyz with 200 in time, or stopped first; str() says which and what it last said."""

    def __init__(self, message: str, *, stopped: bool) -> None:
        super().__init__(message)
        self.stopped = stopped


def http(url: str, data: bytes | None = None, timeout: float = 10) -> tuple[int, bytes]:
    """GET (or POST `data` as JSON); the status and the body, error statuses included."""
    req = urllib.request.Request(
        url,
        data=data,
        method="POST" if data is not None else "GET",
        headers={"Content-Type": "application/json"} if data is not None else {},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()


def http_json(url: str, payload: Any = None, timeout: float = 30.0) -> tuple[int, Any]:
    """As `http`, the body parsed as JSON (an error body that is not JSON comes back as text)."""
    status, body = http(url, None if payload is None else json.dumps(payload).encode(), timeout)
    try:
        return status, json.loads(body or b"null")
    except ValueError:
        if status < 400:
            raise
        return status, body.decode(errors="replace")


def wait_ready(
    base: str,
    timeout: float,
    *,
    alive: Callable[[], bool] = lambda: True,
    interval: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> float:
    """Poll /readyz every `interval` s until it answers 200; the seconds it took. NotReady when `timeout`
    passes first or `alive()` turns false (the container or process stopped)."""
    start = clock()
    deadline = start + timeout
    last = "no answer"
    while clock() < deadline:
        if not alive():
            raise NotReady(f"the server stopped before it was ready (last: {last})", stopped=True)
        try:
            status, _ = http(f"{base}{READY_PATH}", timeout=5)
            if status == 200:
                return clock() - start
            last = f"HTTP {status}"
        except (urllib.error.URLError, OSError) as e:
            last = str(getattr(e, "reason", e))
        sleep(interval)
    raise NotReady(f"{READY_PATH} at {base} was not ready within {timeout:.0f} s (last: {last})", stopped=False)


def ready_problem(base: str, timeout: float, *, alive: Callable[[], bool] = lambda: True) -> str | None:
    """`wait_ready` for callers that report rather than raise: None when ready, else why not."""
    try:
        wait_ready(base, timeout, alive=alive)
    except NotReady as e:
        return str(e)
    return None


def post_predict(base: str, request: Any, timeout: float) -> tuple[Any, str | None]:
    """One POST /v1/predict: the parsed JSON answer, or None and why there is none."""
    body = json.dumps(request).encode()
    try:
        status, raw = http(f"{base}{PREDICT_PATH}", body, timeout=timeout)
    except (urllib.error.URLError, OSError) as e:
        return None, f"{PREDICT_PATH} did not answer ({getattr(e, 'reason', e)})"
    if status != 200:
        return None, f"{PREDICT_PATH} answered HTTP {status}: {raw[:200].decode('utf-8', 'replace')}"
    try:
        return json.loads(raw), None
    except ValueError as e:
        return None, f"{PREDICT_PATH}: not JSON ({e})"


def batches(inputs: list[Any], size: int) -> list[list[Any]]:
    """`inputs` in requests of at most `size` (the server's serve.max_texts), in order."""
    return [inputs[i : i + size] for i in range(0, len(inputs), size)]


def predict(base: str, inputs: list[Any], max_inputs: int, serving: ServingHalf) -> list[Any]:
    """The server's answers for `inputs`, in requests of at most `max_inputs`; RuntimeError on an answer
    other than 200."""
    answers: list[Any] = []
    for chunk in batches(inputs, max_inputs):
        status, body = http_json(f"{base}{PREDICT_PATH}", serving.request(chunk))
        if status != 200:
            raise RuntimeError(f"POST {PREDICT_PATH} answered {status}: {body}")
        answers.extend(serving.answers(body))
    return answers
