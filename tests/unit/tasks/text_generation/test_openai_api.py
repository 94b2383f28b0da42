"""The OpenAI-compatible API's requests and answers (openai_api): what a valid request becomes, each malformed one's
400 naming the field in OpenAI's error shape, and the answers and stream chunks in OpenAI's shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ml_ci.serve.limits import Limits
from ml_ci.serve.protocol import Refusal
from ml_ci.tasks.text_generation import openai_api as A

LIMITS = Limits(max_tokens=100)
CHAT = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]


def chat(**fields: Any) -> bytes:
    return json.dumps({"messages": CHAT, **fields}).encode()


def completion(**fields: Any) -> bytes:
    return json.dumps({"prompt": "Once", **fields}).encode()


def refused(body: bytes, endpoint: A.Endpoint = "chat", limits: Limits = LIMITS) -> dict[str, Any]:
    with pytest.raises(A.ApiError) as caught:
        A.parse(body, endpoint, limits)
    error: dict[str, Any] = json.loads(A.error_body(caught.value))["error"]
    assert caught.value.status == 400 and error["type"] == "invalid_request_error"
    return error


def test_a_full_chat_request_is_read() -> None:
    body = chat(
        model="m",
        max_completion_tokens=7,
        temperature=0.5,
        top_p=0.9,
        seed=3,
        stop=["\n", "END"],
        stream=True,
        stream_options={"include_usage": True},
        n=1,
        user="u",
        logprobs=False,
        tools=[],
        response_format={"type": "text"},
        presence_penalty=0.0,
    )
    request = A.parse(body, "chat", LIMITS)
    assert request == A.Request(
        endpoint="chat",
        model="m",
        messages=(A.Message("system", "be brief"), A.Message("user", "hi")),
        max_tokens=7,
        temperature=0.5,
        top_p=0.9,
        seed=3,
        stop=("\n", "END"),
        stream=True,
        include_usage=True,
    )


def test_a_minimal_request_leaves_every_setting_to_the_model() -> None:
    assert A.parse(completion(), "completion", LIMITS) == A.Request(endpoint="completion", prompt="Once")
    # null is "not given", as OpenAI reads it
    assert A.parse(completion(temperature=None, stop=None, logprobs=None), "completion", LIMITS).temperature is None


def test_prompts_messages_and_stop_in_their_other_forms() -> None:
    assert A.parse(completion(prompt=["Once"], stop="\n"), "completion", LIMITS).prompt == "Once"
    assert A.parse(completion(prompt=[5, 6, 7]), "completion", LIMITS).prompt == (5, 6, 7)
    assert A.parse(completion(stop="\n"), "completion", LIMITS).stop == ("\n",)
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    messages = [{"role": "developer", "content": "sys"}, {"role": "user", "content": parts, "name": "x"}]
    request = A.parse(json.dumps({"messages": messages, "max_tokens": 5}).encode(), "chat", LIMITS)
    assert request.messages == (A.Message("system", "sys"), A.Message("user", "a\nb")) and request.max_tokens == 5


@pytest.mark.parametrize(
    ("body", "endpoint", "param", "code", "words"),
    [
        (chat(messages=[{"role": "robot", "content": "x"}]), "chat", "messages[0].role", "invalid_value", "'robot'"),
        (chat(messages=[*CHAT, {"role": "tool", "content": "x"}]), "chat", "messages[2].role", "unsupported_parameter", "tool"),
        (chat(messages=[{"role": "user", "content": "x", "mood": 1}]), "chat", "messages[0].mood", "unknown_parameter", "mood"),
        (chat(messages=[{"role": "user"}]), "chat", "messages[0].content", "missing_required_parameter", "missing"),
        (chat(messages=[{"role": "user", "content": 5}]), "chat", "messages[0].content", "invalid_type", "not a number"),
        (
            chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]),
            "chat",
            "messages[0].content[0].type",
            "unsupported_parameter",
            "'image_url'",
        ),
        (chat(messages=[]), "chat", "messages", "invalid_value", "empty"),
        (chat(messages="hi"), "chat", "messages", "invalid_type", "not a string"),
        (json.dumps({"model": "m"}).encode(), "chat", "messages", "missing_required_parameter", "required"),
        (chat(frobnicate=1), "chat", "frobnicate", "unknown_parameter", "'frobnicate'"),
        (completion(max_completion_tokens=3), "completion", "max_completion_tokens", "unknown_parameter", "not a field"),
        (chat(max_tokens=101), "chat", "max_tokens", "invalid_value", "between 1 and 100 (serve.max_tokens)"),
        (chat(max_completion_tokens=0), "chat", "max_completion_tokens", "invalid_value", "between 1 and 100"),
        (chat(max_tokens="5"), "chat", "max_tokens", "invalid_type", "not a string"),
        (chat(max_tokens=True), "chat", "max_tokens", "invalid_type", "not a boolean"),
        (chat(n=2), "chat", "n", "invalid_value", "n: 1"),
        (chat(stop=["a", "b", "c", "d", "e"]), "chat", "stop", "invalid_value", "5 sequences; at most 4"),
        (chat(stop=["a", ""]), "chat", "stop[1]", "invalid_value", "empty"),
        (chat(stop=7), "chat", "stop", "invalid_type", "not a number"),
        (chat(temperature=2.5), "chat", "temperature", "invalid_value", "between 0 and 2"),
        (chat(temperature="hot"), "chat", "temperature", "invalid_type", "not a string"),
        (chat(top_p=0), "chat", "top_p", "invalid_value", "above 0"),
        (chat(seed=1.5), "chat", "seed", "invalid_type", "not a number"),
        (chat(stream="yes"), "chat", "stream", "invalid_type", "true or false"),
        (chat(stream=True, stream_options={"include_usage": 1}), "chat", "stream_options.include_usage", "invalid_type", ""),
        (chat(stream_options={"x": 1}), "chat", "stream_options.x", "unknown_parameter", "include_usage"),
        (chat(logprobs=True), "chat", "logprobs", "unsupported_parameter", "not supported"),
        (chat(tools=[{"type": "function"}]), "chat", "tools", "unsupported_parameter", "not supported"),
        (chat(response_format={"type": "json_object"}), "chat", "response_format", "unsupported_parameter", "not supported"),
        (chat(frequency_penalty=0.5), "chat", "frequency_penalty", "unsupported_parameter", "not supported"),
        (completion(logprobs=2), "completion", "logprobs", "unsupported_parameter", "not supported"),
        (completion(echo=True), "completion", "echo", "unsupported_parameter", "not supported"),
        (completion(best_of=2), "completion", "best_of", "unsupported_parameter", "not supported"),
        (completion(prompt=["a", "b"]), "completion", "prompt", "invalid_value", "2 prompts"),
        (completion(prompt=""), "completion", "prompt", "invalid_value", "empty"),
        (completion(prompt=[]), "completion", "prompt", "invalid_value", "prompt is empty"),
        (completion(prompt=[""]), "completion", "prompt[0]", "invalid_value", "empty"),
        (completion(prompt=[1, -2]), "completion", "prompt[1]", "invalid_value", "not negative"),
        (completion(prompt={"text": "x"}), "completion", "prompt", "invalid_type", "not an object"),
        (b'{"prompt": "a\\ud800b"}', "completion", "prompt", "invalid_text", "lone surrogate \\ud800 at character 1"),
        (
            b'{"messages": [{"role": "user", "content": "x\\udfff"}]}',
            "chat",
            "messages[0].content",
            "invalid_text",
            "lone surrogate",
        ),
        (b'{"prompt": "a", "stop": ["\\ud800"]}', "completion", "stop[0]", "invalid_text", "lone surrogate"),
        (b'{"prompt": "a", "user": 3}', "completion", "user", "invalid_type", "not a number"),
    ],
)
def test_a_malformed_request_is_refused_naming_the_field(
    body: bytes, endpoint: A.Endpoint, param: str, code: str, words: str
) -> None:
    error = refused(body, endpoint)
    assert (error["param"], error["code"]) == (param, code)
    assert words in error["message"]


@pytest.mark.parametrize(
    ("body", "code"), [(b"\xff{", "invalid_utf8"), (b"{", "invalid_json"), (b"[1]", "invalid_type"), (b"null", "invalid_type")]
)
def test_a_body_that_is_no_json_object_is_refused(body: bytes, code: str) -> None:
    error = refused(body)
    assert (error["code"], error["param"]) == (code, None)


def test_another_model_is_404_naming_the_served_one() -> None:
    request = A.parse(chat(model="gpt-4o"), "chat", LIMITS)
    with pytest.raises(A.ApiError) as caught:
        A.check_model(request, "assistant")
    assert caught.value.status == 404
    assert json.loads(A.error_body(caught.value))["error"] == {
        "message": "the model 'gpt-4o' does not exist here; this server serves 'assistant'",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    A.check_model(A.parse(chat(model="assistant"), "chat", LIMITS), "assistant")
    A.check_model(A.parse(chat(), "chat", LIMITS), "assistant")


def test_a_prompt_too_long_names_both_numbers() -> None:
    request = A.parse(chat(), "chat", LIMITS)
    A.check_length(request, 90, 10, 100, LIMITS)
    with pytest.raises(A.ApiError) as caught:
        A.check_length(request, 91, 10, 100, LIMITS)
    assert (caught.value.kind, caught.value.param) == ("context_length_exceeded", "messages")
    assert "the prompt has 91 tokens and 10 new ones are asked; the model's context is 100 tokens" in caught.value.message
    with pytest.raises(A.ApiError, match=r"the prompt has 41 tokens; the limit is 40 \(serve.max_prompt_tokens\)"):
        A.check_length(request, 41, 10, 100, Limits(max_prompt_tokens=40))


def test_any_refusal_has_openai_s_error_shape() -> None:
    assert json.loads(A.error_body(Refusal(503, "not_ready", "loading"))) == {
        "error": {"message": "loading", "type": "server_error", "param": None, "code": "not_ready"}
    }
    busy = A.ApiError(429, "rate_limit_exceeded", "busy", headers={"Retry-After": "1"})
    assert json.loads(A.error_body(busy))["error"]["type"] == "requests" and busy.headers == {"Retry-After": "1"}


def test_whole_answers_have_openai_s_shapes() -> None:
    answer = A.Answer(endpoint="completion", id="cmpl-1", created=5, model="m")
    assert json.loads(answer.whole("text", "eos", 3, 2)) == {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 5,
        "model": "m",
        "choices": [{"index": 0, "text": "text", "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    answer = A.Answer(endpoint="chat", id="chatcmpl-1", created=5, model="m")
    body = json.loads(answer.whole("hé", "length", 3, 4))
    assert body["object"] == "chat.completion" and body["usage"]["total_tokens"] == 7
    assert body["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "hé"}, "logprobs": None, "finish_reason": "length"}
    ]
    assert [A.finish_reason(f) for f in ("eos", "stop", "length")] == ["stop", "stop", "length"]


def events(*chunks: bytes | None) -> list[Any]:
    out = []
    for chunk in chunks:
        assert chunk is not None and chunk.startswith(b"data: ") and chunk.endswith(b"\n\n")
        out.append(json.loads(chunk[6:]))
    return out


def test_chat_stream_chunks_have_openai_s_shapes() -> None:
    answer = A.Answer(endpoint="chat", id="chatcmpl-1", created=5, model="m", include_usage=True)
    first, delta, last, usage = events(answer.first(), answer.delta("Hi"), answer.last("stop"), answer.usage_chunk(3, 1))
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 5, "model": "m"}
    assert first == {
        **head,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}],
        "usage": None,
    }
    assert delta["choices"][0]["delta"] == {"content": "Hi"} and delta["usage"] is None
    assert last["choices"] == [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]
    assert usage == {**head, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
    assert A.DONE == b"data: [DONE]\n\n"


def test_completion_stream_chunks_have_openai_s_shapes() -> None:
    answer = A.Answer(endpoint="completion", id="cmpl-1", created=5, model="m")
    assert answer.first() is None
    delta, last = events(answer.delta("Hi"), answer.last("length"))
    assert delta == {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 5,
        "model": "m",
        "choices": [{"index": 0, "text": "Hi", "logprobs": None, "finish_reason": None}],
    }
    assert last["choices"][0]["finish_reason"] == "length" and "usage" not in last
    (error,) = events(answer.error(A.ApiError(500, "generation_failed", "boom")))
    assert error["error"]["code"] == "generation_failed"


def test_the_models_list() -> None:
    assert json.loads(A.models_body("assistant", 7)) == {
        "object": "list",
        "data": [{"id": "assistant", "object": "model", "created": 7, "owned_by": "ml-ci"}],
    }
