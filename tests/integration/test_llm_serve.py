"""text-generation's OpenAI-compatible API through the real server (`python -m ml_ci.serve`, its own process) on an
exported random Llama (examples/assistant/make_base.py, 512 wide and 8 layers: slow enough on one thread, about 300
tokens a second, that a stream is still running when a client leaves or SIGTERM comes), spoken to by the official
`openai` client: completions and chat, whole and streamed, the same text as /v1/predict's greedy completion, a
malformed request among good ones failing only itself, a client that leaves mid-stream cancelling its sequence,
429 with Retry-After when every place is taken, and SIGTERM finishing a stream in flight."""

from __future__ import annotations

import http.client
import json
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest

from ml_ci.digest import file_sha256
from ml_ci.records import model as model_record
from tests.integration.test_serve_support import Server, metric, raw_request, server, wait_exit

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples/assistant"
NAME = "assistant-test"
MAX_NEW = 12  # model.json's max_new_tokens: /v1/predict's, and the API's default
PROMPTS = ["Q: what is 3 plus 4? A:", "Hello, how can I", "Once upon a time"]
CHAT = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is 2 plus 2?"}]
LONG = 480  # tokens: about 1.5 s on one thread


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export folder as `ml-ci export` writes it for text-generation (the builder's files and model.json)."""
    import runpy

    from ml_ci.tasks.text_generation.export import build

    root = tmp_path_factory.mktemp("llm-serve")
    make = runpy.run_path(str(EXAMPLE / "make_base.py"))["build"]
    hf = make("llama", root / "hf", seed=0, hidden=512, layers=8)
    out = root / "export"
    build(hf, out, root / "cache")
    generation = {"max_new_tokens": MAX_NEW, "temperature": 0.0, "top_p": 1.0, "seed": 0, "stop": []}
    record = model_record.ModelRecord(
        name=NAME,
        task="text-generation",
        max_length=64,
        onnx="model.onnx",
        sha256=file_sha256(out / "model.onnx"),
        inputs=("input_ids", "attention_mask"),
        pad_id=0,
        payload={"base": "hf", "generation": generation},
        exported_at="2026-12-05T00:00:00Z",
    )
    model_record.write(out / model_record.FILE, record)
    return out


@pytest.fixture(scope="module")
def served(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with server(model_dir, tmp_path_factory.mktemp("log"), "--threads", "1", "--max-sequences", "4", "--max-queued", "4") as s:
        yield s


def client(s: Server) -> Any:
    return openai.OpenAI(base_url=f"{s.url}/v1", api_key="unused", max_retries=0, timeout=60)


def predict(s: Server, prompts: list[str]) -> list[str]:
    status, _, body = raw_request(
        s.port, "POST", "/v1/predict", json.dumps({"prompts": prompts}).encode(), {"Content-Type": "application/json"}
    )
    assert status == 200, body
    return [p["completion"] for p in json.loads(body)["predictions"]]


def rendered(model_dir: Path, messages: list[dict[str, str]]) -> str:
    """The chat as transformers renders it with the export's tokenizer and template."""
    from transformers import AutoTokenizer

    return str(AutoTokenizer.from_pretrained(model_dir).apply_chat_template(messages, tokenize=False, add_generation_prompt=True))


def test_the_openai_client_completes_and_chats_as_predict_does(served: Server, model_dir: Path) -> None:
    with client(served) as api:
        _completes_and_chats(api, served, model_dir)


def _completes_and_chats(api: Any, served: Server, model_dir: Path) -> None:
    assert [m.id for m in api.models.list().data] == [NAME]
    expected = predict(served, PROMPTS)
    for prompt, want in zip(PROMPTS, expected, strict=True):
        done = api.completions.create(model=NAME, prompt=prompt, temperature=0)  # max_tokens: model.json's
        assert (done.choices[0].text, done.choices[0].finish_reason) == (want, "length")
        assert done.id.startswith("cmpl-") and done.usage.completion_tokens == MAX_NEW
        assert done.usage.total_tokens == done.usage.prompt_tokens + MAX_NEW
        chunks = list(
            api.completions.create(model=NAME, prompt=prompt, temperature=0, stream=True, stream_options={"include_usage": True})
        )
        assert "".join(c.choices[0].text for c in chunks if c.choices) == want
        assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == MAX_NEW
    # The chat, rendered by the served template, is what transformers renders; its answer /v1/predict's for that text.
    (want_chat,) = predict(served, [rendered(model_dir, CHAT)])
    done = api.chat.completions.create(model=NAME, messages=CHAT, temperature=0, max_completion_tokens=MAX_NEW)
    assert done.id.startswith("chatcmpl-") and done.object == "chat.completion"
    assert (done.choices[0].message.role, done.choices[0].message.content) == ("assistant", want_chat)
    stream = list(api.chat.completions.create(model=NAME, messages=CHAT, temperature=0, max_tokens=MAX_NEW, stream=True))
    assert stream[0].choices[0].delta.role == "assistant" and stream[-1].choices[0].finish_reason == "length"
    assert "".join(c.choices[0].delta.content or "" for c in stream) == want_chat
    # Fewer tokens asked: a prefix of the text, finish "length".
    short = api.completions.create(model=NAME, prompt=PROMPTS[0], max_tokens=3, temperature=0)
    assert short.usage.completion_tokens == 3 and expected[0].startswith(short.choices[0].text)


def test_a_malformed_request_among_good_ones_fails_only_itself(served: Server) -> None:
    with client(served) as api:
        _fails_only_itself(api, served)


def _fails_only_itself(api: Any, served: Server) -> None:
    (want,) = predict(served, [PROMPTS[0]])

    def good(_: int) -> str:
        chunks = api.completions.create(model=NAME, prompt=PROMPTS[0], temperature=0, stream=True)
        return "".join(c.choices[0].text for c in chunks)

    bad: list[tuple[Any, str, str]] = [
        (
            lambda: api.chat.completions.create(model=NAME, messages=[{"role": "robot", "content": "x"}]),
            "messages[0].role",
            "invalid_value",
        ),
        (lambda: api.completions.create(model=NAME, prompt="x", n=2), "n", "invalid_value"),
        (lambda: api.completions.create(model=NAME, prompt="x", extra_body={"mood": "happy"}), "mood", "unknown_parameter"),
        (lambda: api.completions.create(model=NAME, prompt="x", stop=["a", "b", "c", "d", "e"]), "stop", "invalid_value"),
        (lambda: api.completions.create(model=NAME, prompt="x", max_tokens=100_000), "max_tokens", "invalid_value"),
        (lambda: api.completions.create(model=NAME, prompt=[5] * 500, max_tokens=100), "prompt", "context_length_exceeded"),
        (lambda: api.chat.completions.create(model=NAME, messages=CHAT, logprobs=True), "logprobs", "unsupported_parameter"),
    ]
    with ThreadPoolExecutor(8) as pool:
        goods = [pool.submit(good, i) for i in range(6)]
        for call, param, code in bad:
            with pytest.raises(openai.BadRequestError) as caught:
                call()
            error: Any = caught.value.body  # the client's copy of the answer's "error" object
            assert (caught.value.status_code, error["param"], error["code"]) == (400, param, code)
        # What no client library sends, on the wire: bytes that are no UTF-8, a lone surrogate in the prompt.
        raw = [(b'{"prompt": "a\xff"}', None, "invalid_utf8"), (b'{"prompt": "a\\ud800b"}', "prompt", "invalid_text")]
        for body, field, reason in raw:
            status, _, answer = raw_request(served.port, "POST", "/v1/completions", body, {"Content-Type": "application/json"})
            error = json.loads(answer)["error"]
            assert (status, error["param"], error["code"]) == (400, field, reason), error
        assert [f.result() for f in goods] == [want] * 6
    with pytest.raises(openai.NotFoundError) as missing:
        api.completions.create(model="gpt-4o", prompt="x")
    error = missing.value.body
    assert error["code"] == "model_not_found" and NAME in error["message"]
    # The server's own framing refusals come in OpenAI's shape on these routes too.
    status, _, body = raw_request(served.port, "POST", "/v1/completions", b"{}", {"Content-Type": "text/plain"})
    assert status == 415 and json.loads(body)["error"]["type"] == "invalid_request_error"


def _stream_then_leave(port: int, payload: dict[str, Any], chunks: int) -> None:
    """POST a streamed request, read the head of the answer and `chunks` events' worth, then close the connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/v1/completions", body=json.dumps(payload), headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    for _ in range(chunks):
        assert response.readline()
    response.close()
    connection.close()


def _until(check: Any, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_a_client_that_leaves_cancels_its_sequence_and_a_full_server_says_429(model_dir: Path, tmp_path: Path) -> None:
    cancelled = 'mlci_sequences_total{finish="cancelled"}'
    with server(model_dir, tmp_path, "--threads", "1", "--max-sequences", "1", "--max-queued", "0") as s:
        _stream_then_leave(s.port, {"prompt": PROMPTS[0], "max_tokens": LONG, "stream": True}, 4)
        assert _until(lambda: metric(s.port, cancelled) == 1), "the stream's sequence was not cancelled"
        # A whole answer's client that leaves: the handler sees it gone and cancels.
        connection = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        connection.request(
            "POST",
            "/v1/completions",
            body=json.dumps({"prompt": PROMPTS[1], "max_tokens": LONG}),
            headers={"Content-Type": "application/json"},
        )
        time.sleep(0.3)
        connection.close()
        assert _until(lambda: metric(s.port, cancelled) == 2), "the whole answer's sequence was not cancelled"
        # One place, taken by a long stream: the next request is 429 with Retry-After, in OpenAI's shape.
        connection = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        connection.request(
            "POST",
            "/v1/completions",
            body=json.dumps({"prompt": PROMPTS[0], "max_tokens": LONG, "stream": True}),
            headers={"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        assert response.status == 200 and response.readline()
        status, headers, body = raw_request(
            s.port, "POST", "/v1/completions", json.dumps({"prompt": "x"}).encode(), {"Content-Type": "application/json"}
        )
        assert (status, headers.get("Retry-After"), json.loads(body)["error"]["code"]) == (429, "1", "rate_limit_exceeded")
        with client(s) as api, pytest.raises(openai.RateLimitError):
            api.completions.create(model=NAME, prompt="x")
        rest = response.read().decode()  # the stream ends whole
        assert rest.endswith("data: [DONE]\n\n") and '"finish_reason": "length"' in rest
        response.close()
        connection.close()
        log = s.log()
    gone = [r for r in log if r.get("path") == "/v1/completions" and r.get("error") == "client_gone"]
    assert len(gone) == 2 and all(r["prompt_tokens"] > 0 for r in gone)


def test_sigterm_lets_a_stream_in_flight_end(model_dir: Path, tmp_path: Path) -> None:
    with server(model_dir, tmp_path, "--threads", "1", "--drain-seconds", "0.2") as s:
        connection = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        payload = {"prompt": PROMPTS[2], "max_tokens": LONG, "stream": True, "stream_options": {"include_usage": True}}
        connection.request("POST", "/v1/completions", body=json.dumps(payload), headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200 and response.readline()
        s.process.send_signal(signal.SIGTERM)
        events = [line[6:] for line in response.read().decode().splitlines() if line.startswith("data: ")]
        response.close()
        connection.close()
        assert events[-1] == "[DONE]"
        usage = json.loads(events[-2])["usage"]
        assert usage["completion_tokens"] == LONG, usage
        assert wait_exit(s.process) == 0
        log = s.log()
    draining = next(i for i, r in enumerate(log) if r.get("event") == "draining")
    ended = next(i for i, r in enumerate(log) if r.get("path") == "/v1/completions")
    assert draining < ended and log[ended]["status"] == 200 and "error" not in log[ended]  # it ended after SIGTERM, whole
