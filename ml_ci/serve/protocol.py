"""Check a request's framing (length, media type): pure functions, tested without a socket.

What the body holds is the task's (its serving half's `parse`). Every refusal is a `Refusal` with the
HTTP status and a message that says what to change; nothing here raises anything else.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ml_ci.serve.limits import Limits


class Refusal(Exception):
    """A request refused: the HTTP status, the `errors_total{kind=...}` label and what to change.

    A plain exception with attributes, not a frozen dataclass: raising sets `__traceback__` (and
    contextlib's @contextmanager sets it again when the exception passes through a `with`), which a
    frozen dataclass refuses with FrozenInstanceError, replacing the refusal with a crash."""

    def __init__(self, status: int, kind: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = dict(headers or {})  # sent with the answer (a 429's Retry-After)

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


def json_body(body: bytes) -> Any:
    """A request body as JSON: a Refusal (400) for bytes that are not UTF-8 or not JSON. What the JSON must
    hold is the task's (its serving half's `parse`)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Refusal(400, "invalid_utf8", f"the body is not valid UTF-8 (byte {e.start})") from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        where = f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        raise Refusal(400, "invalid_json", f"the body is not valid JSON{where}") from None
    except ValueError:
        # What the decoder itself refuses once the syntax is right: Python will not convert an integer of
        # more digits than sys.get_int_max_str_digits() (quadratic time), whatever key holds it.
        raise Refusal(
            400,
            "invalid_json",
            f"the body has a number of more than {sys.get_int_max_str_digits()} digits; send texts as strings",
        ) from None


def check_encodable(text: str, where: str) -> None:
    """JSON's \\u escapes can name a lone UTF-16 surrogate (\\ud800), which is no character: Python keeps
    it in a str, but it has no UTF-8 form, and the tokenizer (Rust) refuses the whole batch it is in.
    `where` names the field (`texts[3]`)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise Refusal(
            400,
            "invalid_text",
            f"{where} has a lone surrogate \\u{ord(text[e.start]):04x} at character "
            f"{e.start}, which is not a character; send valid Unicode",
        ) from None


def kind(value: Any) -> str:
    """A JSON value's kind, as a refusal names it ("a number", "null")."""
    return {
        type(None): "null",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def check_text(item: Any, where: str, limits: Limits, purpose: str) -> str:
    """One text of a request at `where` (`texts[3]`): a string of at most serve.max_text_chars characters, not
    blank, that the tokenizer can encode; else the Refusal naming it. `purpose` ends the message for a blank one
    ("send text to classify"): a model answers every input, the empty one too, with confidence."""
    if not isinstance(item, str):
        raise Refusal(422, "invalid_request", f"{where} must be a string, not {kind(item)}")
    if len(item) > limits.max_text_chars:
        raise Refusal(422, "text_too_long", f"{where} has {len(item)} characters; the limit is {limits.max_text_chars}")
    if not item.strip():
        what = "empty" if not item else "only whitespace"
        raise Refusal(422, "empty_text", f"{where} is {what}; send text to {purpose}")
    check_encodable(item, where)
    return item
