"""Request parsing: every malformed input is a Refusal with the right status, never another exception."""

from __future__ import annotations

import json

import pytest

from ml_ci.serve.limits import Limits
from ml_ci.serve.protocol import Refusal, check_length, parse_texts, predictions_body

LIMITS = Limits(max_body_bytes=2048, max_texts=3, max_text_chars=10)


def refusal(body: bytes) -> Refusal:
    with pytest.raises(Refusal) as caught:
        parse_texts(body, LIMITS)
    return caught.value


def test_texts_and_text_are_accepted() -> None:
    assert parse_texts(b'{"texts": ["a", "b"]}', LIMITS) == ["a", "b"]
    assert parse_texts('{"text": "héllo"}'.encode(), LIMITS) == ["héllo"]


@pytest.mark.parametrize(("body", "status", "kind", "words"), [
    (b"\xff\xfe{", 400, "invalid_utf8", "not valid UTF-8"),
    (b'{"texts": [', 400, "invalid_json", "not valid JSON at line 1"),
    (b"[" * 100_000, 400, "invalid_json", "not valid JSON"),
    (b'["a"]', 422, "invalid_request", "send an object"),
    (b'{"texts": "a"}', 422, "invalid_request", "'texts' must be a list of strings, not a string"),
    (b'{"texts": [1]}', 422, "invalid_request", "texts[0] must be a string, not a number"),
    (b'{"texts": ["a", null]}', 422, "invalid_request", "texts[1] must be a string, not null"),
    (b'{"text": {"a": 1}}', 422, "invalid_request", "texts[0] must be a string, not an object"),
    (b'{"texts": []}', 422, "invalid_request", "'texts' is empty"),
    (b'{"texts": ["a"], "text": "b"}', 422, "invalid_request", "exactly one of"),
    (b'{}', 422, "invalid_request", "exactly one of"),
    (b'{"textz": ["a"]}', 422, "invalid_request", "unknown key 'textz'"),
    (b'{"texts": ["a", "b", "c", "d"]}', 422, "too_many_texts", "4 texts in one request; the limit is 3"),
    (b'{"texts": ["01234567890"]}', 422, "text_too_long", "texts[0] has 11 characters; the limit is 10"),
])
def test_malformed_requests_are_refused(body: bytes, status: int, kind: str, words: str) -> None:
    r = refusal(body)
    assert (r.status, r.kind) == (status, kind)
    assert words in r.message
    assert json.loads(r.body()) == {"error": {"kind": kind, "message": r.message}}


@pytest.mark.parametrize(("header", "status"), [(None, 411), ("12x", 400), ("-1", 400), ("2049", 413)])
def test_content_length_is_checked_before_reading(header: str | None, status: int) -> None:
    with pytest.raises(Refusal) as caught:
        check_length(header, LIMITS)
    assert caught.value.status == status


def test_content_length_within_the_limit() -> None:
    assert check_length("2048", LIMITS) == 2048


def test_predictions_body_keys_probabilities_by_label() -> None:
    body = json.loads(predictions_body(("neg", "pos"), [[0.2, 0.8], [0.9, 0.1]], "abc"))
    assert body == {"predictions": [{"label": "pos", "probabilities": {"neg": 0.2, "pos": 0.8}},
                                    {"label": "neg", "probabilities": {"neg": 0.9, "pos": 0.1}}], "model_sha256": "abc"}
