"""The OpenAI-compatible API's requests and answers, as data: pure functions, tested without a server or a model.

Clients of hosted language models speak OpenAI's HTTP API (the official `openai` client, LangChain, curl scripts), so
the served model answers POST /v1/completions, POST /v1/chat/completions and GET /v1/models in the shapes OpenAI
documents: the same ids (`cmpl-...`, `chatcmpl-...`), objects, choices, finish reasons and usage, whole or as
server-sent events (`data: {...}` chunks, then `data: [DONE]`), and errors as `{"error": {"message", "type",
"param", "code"}}` with `param` naming the field at fault (`messages[1].role`).

What a request may ask (everything else is refused, never silently ignored, so that a client learns at once that
the server does not do what it asked):
- `model`: optional; when given, the served model's id (model.json's `name`), else 404 `model_not_found`.
- `prompt` (completions): a string, a list of one string, or a list of token ids; `messages` (chat): system,
  developer (read as system), user and assistant turns, each a string or a list of `{"type": "text"}` parts.
- `max_tokens` (chat: also `max_completion_tokens`) 1..serve.max_tokens, `temperature` 0..2, `top_p` in (0, 1],
  `seed`, `stop` (a string or at most 4), `stream`, `stream_options.include_usage`; `n` and `best_of` 1 only;
  `user` and `metadata` are accepted and ignored, and so is `seed` when sampling (the engine's static batches
  sample unseeded; OpenAI's seed is a best effort too): greedy decoding is the reproducible one. Omitted (or
  null), a setting is the model's own (model.json's generation, what evaluate measured and the golden examples
  hold): a request without `temperature` gets evaluate's decoding, greedy unless ml.yaml said otherwise; the
  model's stop strings always apply, the request's are added to them.
- Fields OpenAI has but this server does not do (`logprobs`, `tools`, `response_format: json_object`, penalties,
  `echo`, `suffix`, ...) are refused with 400 `unsupported_parameter` naming the field, unless their value is the
  one that changes nothing (`logprobs: false`, `tools: []`, `response_format: {"type": "text"}`, `n: 1`, ...).
  A field OpenAI does not have is refused with 400 `unknown_parameter`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

from ml_ci.serve.limits import Limits
from ml_ci.serve.protocol import Refusal, json_body, kind

COMPLETIONS_PATH = "/v1/completions"
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
MAX_STOP = 4  # OpenAI's limit on stop sequences
MAX_TEMPERATURE = 2.0
DONE = b"data: [DONE]\n\n"
OWNER = "ml-ci"
# Chat roles the chat template is given; "developer" is what OpenAI's newer models call the system turn.
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
Endpoint = Literal["completion", "chat"]

# Fields OpenAI documents that this server does not do, with the values that ask for nothing (accepted).
_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "logprobs": (False,),
    "top_logprobs": (0,),
    "presence_penalty": (0,),
    "frequency_penalty": (0,),
    "logit_bias": ({},),
    "tools": ([],),
    "tool_choice": ("none",),
    "functions": ([],),
    "function_call": ("none",),
    "parallel_tool_calls": (True, False),
    "response_format": ({"type": "text"},),
    "store": (False,),
    "service_tier": ("auto", "default"),
    "modalities": (["text"],),
    "audio": (),
    "prediction": (),
    "reasoning_effort": (),
    "web_search_options": (),
    "echo": (False,),
    "suffix": (),
    "best_of": (1,),
}
_COMMON = ("model", "max_tokens", "temperature", "top_p", "seed", "stop", "stream", "stream_options", "n", "user", "metadata")
_FIELDS: dict[Endpoint, frozenset[str]] = {
    "completion": frozenset(
        (*_COMMON, "prompt", "logprobs", "presence_penalty", "frequency_penalty", "logit_bias", "echo", "suffix", "best_of")
    ),
    "chat": frozenset(
        (*_COMMON, "messages", "max_completion_tokens", *(k for k in _NEUTRAL if k not in ("echo", "suffix", "best_of")))
    ),
}
_MESSAGE_KEYS = frozenset(("role", "content", "name"))


class ApiError(Refusal):
    """A refusal in OpenAI's words: the HTTP status, `code`, the message and `param`, the field at fault (None when
    no one field is)."""

    def __init__(
        self, status: int, code: str, message: str, param: Optional[str] = None, headers: Optional[Mapping[str, str]] = None
    ) -> None:
        super().__init__(status, code, message, headers)
        self.param = param


def invalid(param: str, message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, code, message, param)


def error_type(status: int) -> str:
    """OpenAI's error `type` for a status: what its clients branch on."""
    if status == 429:
        return "requests"
    return "server_error" if status >= 500 else "invalid_request_error"


def error_body(refusal: Refusal) -> bytes:
    """Any refusal (the handler's, or the server's framing ones: 413, 415, 503 while loading) in OpenAI's shape."""
    error = {
        "message": refusal.message,
        "type": error_type(refusal.status),
        "param": getattr(refusal, "param", None),
        "code": refusal.kind,
    }
    return json.dumps({"error": error}).encode()


# --- requests --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    role: str  # system, user or assistant
    content: str


@dataclass(frozen=True, kw_only=True)
class Request:
    """A valid request; None for a setting the client left to the model."""

    endpoint: Endpoint
    model: Optional[str] = None
    prompt: Union[str, tuple[int, ...], None] = None  # completions: a text or its token ids
    messages: tuple[Message, ...] = ()  # chat
    max_tokens: Optional[int] = None
    temperature: Optional[float] = None
    top_p: Optional[float] = None
    seed: Optional[int] = None
    stop: tuple[str, ...] = ()
    stream: bool = False
    include_usage: bool = False


def _same(value: Any, neutral: Any) -> bool:
    """Equal as JSON values: true is not 1, 0 is 0.0."""
    if isinstance(value, bool) or isinstance(neutral, bool):
        return value is neutral
    return bool(value == neutral)


def _integer(value: Any, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(param, f"{param} must be an integer, not {kind(value)}", "invalid_type")
    return value


def _number(value: Any, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(param, f"{param} must be a number, not {kind(value)}", "invalid_type")
    if not math.isfinite(value):
        raise invalid(param, f"{param} must be a finite number, not {value}")
    return float(value)


def _boolean(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(param, f"{param} must be true or false, not {kind(value)}", "invalid_type")
    return value


def _text(value: Any, param: str) -> str:
    """A string that has a UTF-8 form: JSON's \\u escapes can name a lone surrogate (\\ud800), which is no character
    and which the tokenizer refuses."""
    if not isinstance(value, str):
        raise invalid(param, f"{param} must be a string, not {kind(value)}", "invalid_type")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise invalid(
            param,
            f"{param} has a lone surrogate \\u{ord(value[e.start]):04x} at character {e.start}, which is not a character; "
            "send valid Unicode",
            "invalid_text",
        ) from None
    return value


def _max_tokens(value: Any, param: str, limits: Limits) -> int:
    n = _integer(value, param)
    if not 1 <= n <= limits.max_tokens:
        raise invalid(param, f"{param} is {n}; it must be between 1 and {limits.max_tokens} (serve.max_tokens)")
    return n


def _stop(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise invalid("stop", f"stop must be a string or a list of strings, not {kind(value)}", "invalid_type")
    if len(items) > MAX_STOP:
        raise invalid("stop", f"stop has {len(items)} sequences; at most {MAX_STOP}")
    out = []
    for i, item in enumerate(items):
        where = "stop" if isinstance(value, str) else f"stop[{i}]"
        if not _text(item, where):
            raise invalid(where, f"{where} is empty; a stop sequence has at least one character")
        out.append(item)
    return tuple(out)


def _prompt(value: Any) -> Union[str, tuple[int, ...]]:
    """A string, a list of one string, or a list of token ids (a list of several prompts is one request each)."""
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        if any(v < 0 for v in value):
            at = next(i for i, v in enumerate(value) if v < 0)
            raise invalid(f"prompt[{at}]", f"prompt[{at}] is {value[at]}; a token id is not negative")
        return tuple(value)
    where = "prompt"
    if value == []:
        raise invalid("prompt", "prompt is empty; send text to complete (or its token ids)")
    if isinstance(value, list):
        if len(value) != 1:
            raise invalid(
                "prompt",
                f"prompt is a list of {len(value)} prompts; send one prompt per request (a string, or a list of token ids)",
            )
        value, where = value[0], "prompt[0]"
    text = _text(value, where)
    if not text:
        raise invalid(where, f"{where} is empty; send text to complete")
    return text


def _content(value: Any, param: str) -> str:
    """A message's content: a string, or text parts joined by newlines (as vLLM joins them)."""
    if isinstance(value, str):
        return _text(value, param)
    if not isinstance(value, list):
        raise invalid(param, f"{param} must be a string or a list of text parts, not {kind(value)}", "invalid_type")
    texts = []
    for i, part in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise invalid(where, f"{where} must be an object {{'type': 'text', 'text': ...}}, not {kind(part)}", "invalid_type")
        if part.get("type") != "text":
            shown = part.get("type")
            raise ApiError(
                400, "unsupported_parameter", f"{where}.type {shown!r} is not supported; only text parts are", f"{where}.type"
            )
        extra = sorted(set(part) - {"type", "text"})
        if extra:
            raise ApiError(400, "unknown_parameter", f"{where}.{extra[0]} is not a field of a text part", f"{where}.{extra[0]}")
        texts.append(_text(part.get("text"), f"{where}.text"))
    return "\n".join(texts)


def _messages(value: Any) -> tuple[Message, ...]:
    if not isinstance(value, list):
        raise invalid("messages", f"messages must be a list of messages, not {kind(value)}", "invalid_type")
    if not value:
        raise invalid("messages", "messages is empty; send at least one message")
    out = []
    for i, message in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise invalid(where, f"{where} must be an object with 'role' and 'content', not {kind(message)}", "invalid_type")
        role = message.get("role")
        if role in ("tool", "function") or message.get("tool_calls") is not None:
            param = f"{where}.role" if role in ("tool", "function") else f"{where}.tool_calls"
            raise ApiError(400, "unsupported_parameter", f"{param}: tool calls are not supported by this server", param)
        if role not in ROLES:
            raise invalid(f"{where}.role", f"{where}.role is {role!r}; send one of {', '.join(ROLES)}")
        unknown = sorted(k for k in set(message) - _MESSAGE_KEYS if message[k] is not None)
        if unknown:
            param = f"{where}.{unknown[0]}"
            raise ApiError(400, "unknown_parameter", f"{param} is not a field of a message", param)
        if "content" not in message:
            raise invalid(f"{where}.content", f"{where}.content is missing", "missing_required_parameter")
        if message.get("name") is not None:
            _text(message["name"], f"{where}.name")
        out.append(Message(ROLES[role], _content(message["content"], f"{where}.content")))
    return tuple(out)


def _stream_options(value: Any) -> bool:
    if not isinstance(value, dict):
        raise invalid("stream_options", f"stream_options must be an object, not {kind(value)}", "invalid_type")
    unknown = sorted(set(value) - {"include_usage"})
    if unknown:
        param = f"stream_options.{unknown[0]}"
        raise ApiError(400, "unknown_parameter", f"{param} is not supported; stream_options takes include_usage", param)
    include = value.get("include_usage")
    return False if include is None else _boolean(include, "stream_options.include_usage")


def parse(body: bytes, endpoint: Endpoint, limits: Limits) -> Request:
    """The request a body holds, or the ApiError that names the field at fault (400; 404 for another model is the
    caller's, which knows the served one)."""
    try:
        payload: Any = json_body(body)
    except Refusal as refusal:
        raise ApiError(400, refusal.kind, refusal.message) from None
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_type", f"send a JSON object, not {kind(payload)}")
    known = _FIELDS[endpoint]
    for name in sorted(payload):  # sorted: the same body always names the same field
        if name not in known:
            raise ApiError(400, "unknown_parameter", f"{name!r} is not a field of this endpoint", name)
    given = {k: v for k, v in payload.items() if v is not None}  # OpenAI reads null as "not given"
    for name, neutral in _NEUTRAL.items():
        if name in given and name in known and not any(_same(given[name], v) for v in neutral):
            raise ApiError(400, "unsupported_parameter", f"{name} is not supported by this server", name)
    main = "prompt" if endpoint == "completion" else "messages"
    if main not in given:
        raise invalid(main, f"{main} is required", "missing_required_parameter")
    if "n" in given and _integer(given["n"], "n") != 1:
        raise invalid("n", f"n is {given['n']}; this server makes one choice per request (n: 1)")
    limit = "max_completion_tokens" if "max_completion_tokens" in given else "max_tokens"
    temperature = _number(given["temperature"], "temperature") if "temperature" in given else None
    if temperature is not None and not 0 <= temperature <= MAX_TEMPERATURE:
        raise invalid("temperature", f"temperature is {temperature}; it must be between 0 and {MAX_TEMPERATURE:g}")
    top_p = _number(given["top_p"], "top_p") if "top_p" in given else None
    if top_p is not None and not 0 < top_p <= 1:
        raise invalid("top_p", f"top_p is {top_p}; it must be above 0 and at most 1")
    if "user" in given:
        _text(given["user"], "user")
    if "metadata" in given and not isinstance(given["metadata"], dict):
        raise invalid("metadata", f"metadata must be an object, not {kind(given['metadata'])}", "invalid_type")
    return Request(
        endpoint=endpoint,
        model=_text(given["model"], "model") if "model" in given else None,
        prompt=_prompt(given["prompt"]) if endpoint == "completion" else None,
        messages=_messages(given["messages"]) if endpoint == "chat" else (),
        max_tokens=_max_tokens(given[limit], limit, limits) if limit in given else None,
        temperature=temperature,
        top_p=top_p,
        seed=_integer(given["seed"], "seed") if "seed" in given else None,
        stop=_stop(given["stop"]) if "stop" in given else (),
        stream=_boolean(given["stream"], "stream") if "stream" in given else False,
        include_usage=_stream_options(given["stream_options"]) if "stream_options" in given else False,
    )


def check_model(request: Request, served: str) -> None:
    """404 model_not_found when the request names another model than the served one."""
    if request.model is not None and request.model != served:
        raise ApiError(
            404, "model_not_found", f"the model {request.model!r} does not exist here; this server serves {served!r}", "model"
        )


def check_length(request: Request, prompt_tokens: int, max_tokens: int, context: int, limits: Limits) -> None:
    """400 context_length_exceeded (param: the prompt or the messages) when the prompt is longer than
    serve.max_prompt_tokens, or than the model's context less the new tokens asked; both numbers in the message."""
    room = context - max_tokens
    if limits.max_prompt_tokens and prompt_tokens > limits.max_prompt_tokens:
        message = f"the prompt has {prompt_tokens} tokens; the limit is {limits.max_prompt_tokens} (serve.max_prompt_tokens)"
    elif prompt_tokens > room:
        message = (
            f"the prompt has {prompt_tokens} tokens and {max_tokens} new ones are asked; the model's context is {context} "
            f"tokens, so the prompt may have at most {max(room, 0)}"
        )
    else:
        return
    raise ApiError(400, "context_length_exceeded", message, "prompt" if request.endpoint == "completion" else "messages")


# --- answers ---------------------------------------------------------------------------------------


def finish_reason(finish: str) -> str:
    """OpenAI's finish_reason for a runtime's: "length" when max_tokens ended it, else "stop" (end of sequence or a
    stop sequence)."""
    return "length" if finish == "length" else "stop"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def event(payload: Mapping[str, Any]) -> bytes:
    """One server-sent event."""
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


@dataclass(frozen=True, kw_only=True)
class Answer:
    """The answers to one request, whole or chunked: they share the id, the creation time and the model."""

    endpoint: Endpoint
    id: str  # cmpl-... or chatcmpl-...
    created: int  # seconds since the epoch
    model: str
    include_usage: bool = False  # streams: a last chunk with the usage, and "usage": null in the others

    @property
    def object(self) -> str:
        return "text_completion" if self.endpoint == "completion" else "chat.completion"

    def _head(self, object_name: str) -> dict[str, Any]:
        return {"id": self.id, "object": object_name, "created": self.created, "model": self.model}

    def whole(self, text: str, finish: str, prompt_tokens: int, completion_tokens: int) -> bytes:
        if self.endpoint == "completion":
            choice: dict[str, Any] = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason(finish)}
        else:
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": finish_reason(finish),
            }
        out = {**self._head(self.object), "choices": [choice], "usage": usage(prompt_tokens, completion_tokens)}
        return json.dumps(out, ensure_ascii=False).encode()

    def _chunk(self, choices: Sequence[dict[str, Any]]) -> bytes:
        name = "text_completion" if self.endpoint == "completion" else "chat.completion.chunk"
        out: dict[str, Any] = {**self._head(name), "choices": list(choices)}
        if self.include_usage:
            out["usage"] = None
        return event(out)

    def first(self) -> Optional[bytes]:
        """A chat stream's first chunk (the assistant's role, no text yet); None for completions."""
        if self.endpoint == "completion":
            return None
        return self._chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}])

    def delta(self, text: str) -> bytes:
        if self.endpoint == "completion":
            return self._chunk([{"index": 0, "text": text, "logprobs": None, "finish_reason": None}])
        return self._chunk([{"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}])

    def last(self, finish: str) -> bytes:
        """The chunk that says why the choice ended (no new text)."""
        reason = finish_reason(finish)
        if self.endpoint == "completion":
            return self._chunk([{"index": 0, "text": "", "logprobs": None, "finish_reason": reason}])
        return self._chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": reason}])

    def usage_chunk(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        """With stream_options.include_usage: the last chunk, no choices, the request's usage."""
        name = "text_completion" if self.endpoint == "completion" else "chat.completion.chunk"
        return event({**self._head(name), "choices": [], "usage": usage(prompt_tokens, completion_tokens)})

    def error(self, refusal: Refusal) -> bytes:
        """A failure after the stream began (its 200 is sent): an error event, as OpenAI's streams end on one."""
        return b"data: " + error_body(refusal) + b"\n\n"


def models_body(model: str, created: int) -> bytes:
    """GET /v1/models: the one served model."""
    return json.dumps(
        {"object": "list", "data": [{"id": model, "object": "model", "created": created, "owned_by": OWNER}]}
    ).encode()
