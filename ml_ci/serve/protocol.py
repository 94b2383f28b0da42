"""Check a request's framing (length, media type): pure functions, tested without a socket.

What the body holds is the task's (its serving half's `parse`). Every refusal is a `Refusal` with the
HTTP status and a message that says what to change; nothing here raises anything else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from ml_ci.serve.limits import Limits


class Refusal(Exception):
    """A request refused: the HTTP status, the `errors_total{kind=...}` label and what to change.

    A plain exception with attributes, not a frozen dataclass: raising sets `__traceback__` (and
    contextlib's @contextmanager sets it again when the exception passes through a `with`), which a
    frozen dataclass refuses with FrozenInstanceError, replacing the refusal with a crash."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message

    def __repr__(self) -> str:
        return f"Refusal(status={self.status!r}, kind={self.kind!r}, message={self.message!r})"

    def body(self) -> bytes:
        return json.dumps({"error": {"kind": self.kind, "message": self.message}}).encode()


_DIGITS = re.compile(r"[0-9]+")


def check_length(values: Sequence[str], limits: Limits) -> int:
    """The body size from the Content-Length header(s), refused before reading when absent, repeated,
    malformed or too large.

    A repeated Content-Length is refused even when the copies agree: two parsers in a chain that pick
    different copies are how request smuggling works. Only ASCII digits count as a number (Python's
    int() would also take "+1", " 1", "1_0" and other scripts' digits)."""
    if not values:
        raise Refusal(411, "length_required", "send the body with a Content-Length header")
    if len(values) > 1:
        raise Refusal(400, "bad_request", f"{len(values)} Content-Length headers; send exactly one")
    value = values[0].strip(" \t")
    if not _DIGITS.fullmatch(value):
        raise Refusal(400, "bad_request", f"Content-Length {value[:40]!r} is not a number")
    digits = value.lstrip("0") or "0"
    if len(digits) > len(str(limits.max_body_bytes)) or int(digits) > limits.max_body_bytes:
        raise Refusal(413, "body_too_large", f"the body is {digits[:40]} bytes; the limit is {limits.max_body_bytes}")
    return int(digits)


def check_content_type(value: str | None) -> None:
    """Only `application/json` (UTF-8) is accepted: the media types a web page may POST cross-site without
    a CORS preflight (text/plain, form-encoded, multipart) are refused, so no page can make a visitor's
    browser send predictions here; and a body declared as something else is not read as JSON by guess."""
    media, _, params = (value or "").partition(";")
    media = media.strip().lower()
    if media != "application/json":
        shown = f"Content-Type {media[:60]!r}" if media else "no Content-Type"
        raise Refusal(415, "unsupported_media_type", f"{shown}; send the body as Content-Type: application/json")
    for param in params.split(";"):
        name, _, charset = param.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise Refusal(415, "unsupported_media_type", f"charset {charset.strip()[:40]!r}; the body must be UTF-8")
