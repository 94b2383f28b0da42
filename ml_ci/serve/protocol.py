"""Parse and check a prediction request: pure functions, tested without a socket.

A request is `{"texts": ["...", ...]}` or `{"text": "..."}`. Every refusal is a `Refusal` with
the HTTP status and a message that says what to change; nothing here raises anything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ml_ci.serve.limits import Limits


@dataclass(frozen=True)
class Refusal(Exception):
    status: int
    kind: str  # the `errors_total{kind=...}` label
    message: str

    def body(self) -> bytes:
        return json.dumps({"error": {"kind": self.kind, "message": self.message}}).encode()


def check_length(content_length: str | None, limits: Limits) -> int:
    """The body size from Content-Length, refused before reading when absent, malformed or too large."""
    if content_length is None:
        raise Refusal(411, "length_required", "send the body with a Content-Length header")
    try:
        size = int(content_length)
    except ValueError:
        raise Refusal(400, "bad_request", f"Content-Length {content_length[:40]!r} is not a number") from None
    if size < 0:
        raise Refusal(400, "bad_request", "Content-Length is negative")
    if size > limits.max_body_bytes:
        raise Refusal(413, "body_too_large", f"the body is {size} bytes; the limit is {limits.max_body_bytes}")
    return size


def parse_texts(body: bytes, limits: Limits) -> list[str]:
    """The texts of a request body, or a Refusal (400 for bytes that are not JSON, 422 for JSON of the wrong shape)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Refusal(400, "invalid_utf8", f"the body is not valid UTF-8 (byte {e.start})") from None
    try:
        payload: Any = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        where = f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        raise Refusal(400, "invalid_json", f"the body is not valid JSON{where}") from None
    if not isinstance(payload, dict):
        raise Refusal(422, "invalid_request", 'send an object: {"texts": ["..."]} or {"text": "..."}')
    unknown = sorted(set(payload) - {"texts", "text"})
    if unknown:
        raise Refusal(422, "invalid_request",
                      f"unknown key {unknown[0]!r}; send 'texts' (a list of strings) or 'text' (a string)")
    if ("texts" in payload) == ("text" in payload):
        raise Refusal(422, "invalid_request", "send exactly one of 'texts' (a list of strings) or 'text' (a string)")
    texts: Any = payload["texts"] if "texts" in payload else [payload["text"]]
    if not isinstance(texts, list):
        raise Refusal(422, "invalid_request", f"'texts' must be a list of strings, not {_kind(texts)}")
    if not texts:
        raise Refusal(422, "invalid_request", "'texts' is empty; send at least one text")
    if len(texts) > limits.max_texts:
        raise Refusal(422, "too_many_texts", f"{len(texts)} texts in one request; the limit is {limits.max_texts}")
    for i, item in enumerate(texts):
        if not isinstance(item, str):
            raise Refusal(422, "invalid_request", f"texts[{i}] must be a string, not {_kind(item)}")
        if len(item) > limits.max_text_chars:
            raise Refusal(422, "text_too_long", f"texts[{i}] has {len(item)} characters; the limit is {limits.max_text_chars}")
    return texts


def _kind(value: Any) -> str:
    return {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def predictions_body(labels: tuple[str, ...], probabilities: list[list[float]], model_sha256: str) -> bytes:
    """The response: one prediction per text, in order; probabilities keyed by label."""
    predictions = []
    for row in probabilities:
        best = max(range(len(row)), key=row.__getitem__)
        predictions.append({"label": labels[best], "probabilities": dict(zip(labels, row, strict=True))})
    return json.dumps({"predictions": predictions, "model_sha256": model_sha256}).encode()
