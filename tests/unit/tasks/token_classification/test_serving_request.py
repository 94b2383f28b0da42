"""token-classification's request parsing: raw texts or pre-split words, the classifier's limits, and every
malformed request a 400 or 422 that names the field and its index."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ml_ci.serve.limits import Limits
from ml_ci.serve.protocol import Refusal
from ml_ci.tasks.token_classification.serving import Sentence, answer, check, parse, request

LIMITS = Limits(max_texts=3, max_text_chars=20)


def body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def refusal(raw: bytes) -> tuple[int, str, str]:
    with pytest.raises(Refusal) as e:
        parse(raw, LIMITS)
    return e.value.status, e.value.kind, e.value.message


def test_raw_texts_are_split_into_words_with_offsets() -> None:
    [s] = parse(body({"texts": [" EU's (U.S.) ban"]}), LIMITS)
    assert s == Sentence(
        " EU's (U.S.) ban", ("EU", "'s", "(", "U.S.", ")", "ban"), ((1, 3), (3, 5), (6, 7), (7, 11), (11, 12), (13, 16))
    )


def test_tokens_are_joined_by_single_spaces() -> None:
    [s, t] = parse(body({"tokens": [["EU", "rejects"], ["Peter"]]}), LIMITS)
    assert s == Sentence("EU rejects", ("EU", "rejects"), ((0, 2), (3, 10)))
    assert t.text == "Peter"


def test_a_joined_text_at_the_limit_passes_one_past_it_is_refused() -> None:
    assert parse(body({"tokens": [["a" * 9, "b" * 10]]}), LIMITS)[0].text == "a" * 9 + " " + "b" * 10
    assert refusal(body({"tokens": [["a" * 10, "b" * 10]]})) == (
        422,
        "text_too_long",
        "tokens[0] joined by spaces has more than 20 characters, the limit",
    )


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ([], (422, "invalid_request", 'send an object: {"texts": ["..."]} or {"tokens": [["word", ...]]}')),
        (
            {"text": "a"},
            (
                422,
                "invalid_request",
                "unknown key 'text'; send 'texts' (a list of strings) or 'tokens' (a list of lists of words)",
            ),
        ),
        (
            {"texts": ["a"], "tokens": [["a"]]},
            (422, "invalid_request", "send exactly one of 'texts' (a list of strings) or 'tokens' (a list of lists of words)"),
        ),
        ({"texts": "a"}, (422, "invalid_request", "'texts' must be a list of strings, not a string")),
        ({"tokens": ["a", "b"]}, (422, "invalid_request", "tokens[0] must be a list of words (strings), not a string")),
        ({"tokens": {"a": 1}}, (422, "invalid_request", "'tokens' must be a list of lists of words, not an object")),
        ({"texts": []}, (422, "invalid_request", "'texts' is empty; send at least one text")),
        ({"texts": ["a"] * 4}, (422, "too_many_texts", "4 texts in one request; the limit is 3")),
        ({"tokens": [["a"]] * 4}, (422, "too_many_texts", "4 texts in one request; the limit is 3")),
        ({"texts": ["a", 3]}, (422, "invalid_request", "texts[1] must be a string, not a number")),
        ({"texts": ["a", " \n"]}, (422, "empty_text", "texts[1] is only whitespace; send text to tag")),
        ({"texts": ["x" * 21]}, (422, "text_too_long", "texts[0] has 21 characters; the limit is 20")),
        ({"tokens": [["a"], []]}, (422, "empty_text", "tokens[1] is empty; send at least one word")),
        ({"tokens": [["a", None]]}, (422, "invalid_request", "tokens[0][1] must be a string, not null")),
        ({"tokens": [["a"], ["b", ""]]}, (422, "empty_text", "tokens[1][1] is empty; a word has at least one character")),
        ({"tokens": [["New York"]]}, (422, "invalid_request", "tokens[0][0] contains whitespace; send each word apart")),
    ],
)
def test_malformed_requests_name_the_field(payload: Any, expected: tuple[int, str, str]) -> None:
    assert refusal(body(payload)) == expected


def test_bytes_that_are_not_json_or_unicode_are_400() -> None:
    assert refusal(b"\xff") == (400, "invalid_utf8", "the body is not valid UTF-8 (byte 0)")
    assert refusal(b'{"texts": [')[:2] == (400, "invalid_json")
    surrogate = refusal(b'{"tokens": [["ok", "\\ud800"]]}')
    assert surrogate == (
        400,
        "invalid_text",
        "tokens[0][1] has a lone surrogate \\ud800 at character 0, which is not a character; send valid Unicode",
    )
    assert refusal(b'{"texts": ["a\\udfff"]}')[2].startswith("texts[0] has a lone surrogate \\udfff at character 1")


def test_request_and_answer_shapes() -> None:
    assert request([["EU", "rejects"]]) == {"tokens": [["EU", "rejects"]]}
    assert request(["EU rejects"]) == {"texts": ["EU rejects"]}
    row = [{"type": "ORG", "start": 0, "end": 2, "text": "EU", "score": 0.5}]
    assert json.loads(answer(None, [row, []], "abc")) == {  # type: ignore[arg-type]
        "predictions": [{"entities": row}, {"entities": []}],
        "model_sha256": "abc",
    }
    check(None, [row])  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="not one list of entities"):
        check(None, [[{"type": "ORG"}]])  # type: ignore[arg-type]
