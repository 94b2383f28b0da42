"""text-classification's request and answer: every malformed body is a Refusal with the right status, never
another exception; the answer keys probabilities by label."""

from __future__ import annotations

import json

import pytest

from ml_ci.serve.limits import Limits
from ml_ci.serve.protocol import Refusal
from ml_ci.tasks.text_classification.serving import parse as parse_texts
from ml_ci.tasks.text_classification.serving import predictions_body

LIMITS = Limits(max_body_bytes=2048, max_texts=3, max_text_chars=10)


def refusal(body: bytes) -> Refusal:
    with pytest.raises(Refusal) as caught:
        parse_texts(body, LIMITS)
    return caught.value


def test_texts_and_text_are_accepted() -> None:
    assert parse_texts(b'{"texts": ["a", "b"]}', LIMITS) == ["a", "b"]
    assert parse_texts('{"text": "héllo"}'.encode(), LIMITS) == ["héllo"]


@pytest.mark.parametrize(
    ("body", "status", "kind", "words"),
    [
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
        (b"{}", 422, "invalid_request", "exactly one of"),
        (b'{"textz": ["a"]}', 422, "invalid_request", "unknown key 'textz'"),
        (b'{"texts": ["a", "b", "c", "d"]}', 422, "too_many_texts", "4 texts in one request; the limit is 3"),
        (b'{"texts": ["01234567890"]}', 422, "text_too_long", "texts[0] has 11 characters; the limit is 10"),
        # Issue 13: JSON escapes that name no character (lone UTF-16 surrogates) have no UTF-8 form.
        (b'{"text": "\\ud800"}', 400, "invalid_text", "texts[0] has a lone surrogate \\ud800 at character 0"),
        (b'{"texts": ["ok", "a\\udfffb"]}', 400, "invalid_text", "texts[1] has a lone surrogate \\udfff at character 1"),
        (b'{"texts": ["\\udbff\\udbff"]}', 400, "invalid_text", "texts[0] has a lone surrogate \\udbff at character 0"),
        # Issue 13: an integer too long for Python to convert is bad JSON for this server, wherever it is.
        (b'{"texts": ["a"], "n": ' + b"9" * 5000 + b"}", 400, "invalid_json", "a number of more than 4300 digits"),
        (b'{"text": ' + b"1" * 4301 + b"}", 400, "invalid_json", "a number of more than 4300 digits"),
        # Issue 22: nothing to classify, refused as an empty list is.
        (b'{"text": ""}', 422, "empty_text", "texts[0] is empty"),
        (b'{"texts": ["a", " \\t\\n\\u00a0\\u3000"]}', 422, "empty_text", "texts[1] is only whitespace"),
    ],
)
def test_malformed_requests_are_refused(body: bytes, status: int, kind: str, words: str) -> None:
    r = refusal(body)
    assert (r.status, r.kind) == (status, kind)
    assert words in r.message
    assert json.loads(r.body()) == {"error": {"kind": kind, "message": r.message}}


def test_surrogate_pairs_are_characters() -> None:
    """A pair of surrogates escapes one character beyond the BMP: accepted, unlike a lone one."""
    assert parse_texts(b'{"text": "\\ud83d\\ude00 fine"}', LIMITS) == ["\U0001f600 fine"]


def test_predictions_body_keys_probabilities_by_label() -> None:
    body = json.loads(predictions_body(("neg", "pos"), [[0.2, 0.8], [0.9, 0.1]], "abc"))
    assert body == {
        "predictions": [
            {"label": "pos", "probabilities": {"neg": 0.2, "pos": 0.8}},
            {"label": "neg", "probabilities": {"neg": 0.9, "pos": 0.1}},
        ],
        "model_sha256": "abc",
    }
