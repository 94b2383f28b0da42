"""Request framing: every malformed length or media type is a Refusal with the right status, never another
exception; a Refusal passes through a @contextmanager as itself."""

from __future__ import annotations

import json

import pytest

from ml_ci.serve.limits import Limits
from ml_ci.serve.protocol import Refusal, check_content_type, check_length
from ml_ci.tasks.text_classification.serving import parse as parse_texts

LIMITS = Limits(max_body_bytes=2048, max_texts=3, max_text_chars=10)


@pytest.mark.parametrize(
    ("headers", "status", "words"),
    [
        ([], 411, "Content-Length"),
        (["12x"], 400, "not a number"),
        (["-1"], 400, "not a number"),
        (["+12"], 400, "not a number"),
        (["1_0"], 400, "not a number"),
        (["\u0661\u0662"], 400, "not a number"),  # Arabic-Indic digits: int() reads them, HTTP does not
        (["2049"], 413, "the limit is 2048"),
        (["9" * 5000], 413, "the limit is 2048"),
        # Issue 13: a repeated Content-Length is refused, equal or not (request smuggling).
        (["12", "12"], 400, "2 Content-Length headers"),
        (["12", "40"], 400, "2 Content-Length headers"),
    ],
)
def test_content_length_is_checked_before_reading(headers: list[str], status: int, words: str) -> None:
    with pytest.raises(Refusal) as caught:
        check_length(headers, LIMITS)
    assert caught.value.status == status and words in caught.value.message


def test_content_length_within_the_limit() -> None:
    assert check_length(["2048"], LIMITS) == 2048
    assert check_length(["0012"], LIMITS) == 12


@pytest.mark.parametrize(
    "value", ["application/json", "Application/JSON", "application/json; charset=utf-8", 'application/json;charset="UTF-8"']
)
def test_json_content_types_are_accepted(value: str) -> None:
    check_content_type(value)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        # The three types a web page may POST cross-site without a CORS preflight, and none at all.
        ("text/plain", "Content-Type 'text/plain'"),
        ("application/x-www-form-urlencoded", "Content-Type 'application/x-www-form-urlencoded'"),
        ("multipart/form-data; boundary=x", "Content-Type 'multipart/form-data'"),
        (None, "no Content-Type"),
        ("application/jsonx", "Content-Type 'application/jsonx'"),
        ("application/json; charset=latin-1", "charset 'latin-1'; the body must be UTF-8"),
    ],
)
def test_other_content_types_are_refused_with_415(value: str | None, words: str) -> None:
    with pytest.raises(Refusal) as caught:
        check_content_type(value)
    assert (caught.value.status, caught.value.kind) == (415, "unsupported_media_type")
    assert words in caught.value.message


def test_a_refusal_passes_through_a_contextmanager_as_itself() -> None:
    """contextlib's @contextmanager sets __traceback__ on an exception thrown into its generator; a frozen
    dataclass exception refused that with FrozenInstanceError, and the client got a 500 instead."""
    from collections.abc import Iterator
    from contextlib import contextmanager

    @contextmanager
    def guarded() -> Iterator[None]:
        yield

    with pytest.raises(Refusal) as caught, guarded():
        parse_texts(b"[", LIMITS)
    assert (caught.value.status, caught.value.kind) == (400, "invalid_json")
    assert json.loads(caught.value.body()) == {"error": {"kind": "invalid_json", "message": caught.value.message}}
