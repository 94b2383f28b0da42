"""text-generation's serving half (`ml_ci.tasks.protocols.serving.ServingHalf`): torch-free.

POST /v1/predict: `{"prompts": ["...", ...]}`, each prompt the text the model continues (a chat already rendered by
its template, as golden.json's prompts are). The answer is one `{"completion": "..."}` per prompt and the model's
sha256 (`model_sha256`, the envelope of the other tasks, which deploy's smoke test reads). Completions are greedy,
with model.json's generation settings (max_new_tokens, stop strings), so that one prompt always gets one answer:
what the golden examples rely on.

The OpenAI-compatible API (`routes`): POST /v1/completions, POST /v1/chat/completions (the export's chat template
renders the messages: `chat_template`), GET /v1/models; requests and answers are `openai_api`'s, whole or streamed
as server-sent events. docs/tasks/text-generation.md ("Serving") says what each field does.

Every sequence, /v1/predict's and the API's, runs through one `engine.Engine` (ONNX Runtime GenAI's, batching up to
serve.max_sequences sequences at once, serve.max_queued more waiting; 429 beyond). The export stage's parity and
golden checks run this very class, so that what was checked is what is served.

Golden examples (export/golden.json): test prompts with the completion the served model gave. The image check and
the deploy smoke test send the prompts and ask for the same text, character for character: greedy decoding of the
same ONNX file is deterministic, and a completion cannot be close (a token off changes what follows).
"""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, cast

from ml_ci.records import model as model_record
from ml_ci.records.texts import text_hash
from ml_ci.serve.limits import Limits
from ml_ci.serve.protocol import Refusal, check_text, json_body, kind
from ml_ci.serve.routes import Call, Reply, Route, Stream
from ml_ci.tasks.text_generation import chat_template, openai_api
from ml_ci.tasks.text_generation.engine import Busy, Engine, Generation
from ml_ci.tasks.text_generation.openai_api import Answer, ApiError, Request
from ml_ci.tasks.text_generation.runtime import Completion, Runtime, Settings

if TYPE_CHECKING:
    from ml_ci.records.golden import GoldenRecord
    from ml_ci.records.model import ModelRecord
    from ml_ci.serve.routes import RouteContext
    from ml_ci.tasks.protocols.serving import Caller, ServedModel

WARM_UP: list[Any] = ["warm up"]
# runtime.Runtime generates with onnxruntime-genai (tokenizers is the generic runtime's); chat_template renders with
# jinja2 (its sandbox).
RUNTIME: tuple[str, ...] = ("onnxruntime-genai", "jinja2")
SHAPE = '{"prompts": ["..."]}'
# How often a request waiting for a whole answer looks whether its client is still there.
GONE_POLL_S = 0.1
# A 429's Retry-After (seconds): a static batch of a small model ends within about that.
RETRY_AFTER_S = 1


# --- the server's side ------------------------------------------------------------------------


def parse(body: bytes, limits: Limits) -> list[str]:
    """The prompts of a request body, or a Refusal (400 for bytes that are not JSON, 422 for JSON of the wrong shape)."""
    payload: Any = json_body(body)
    if not isinstance(payload, dict):
        raise Refusal(422, "invalid_request", f"send an object: {SHAPE}")
    unknown = sorted(set(payload) - {"prompts"})
    if unknown:
        raise Refusal(422, "invalid_request", f"unknown key {unknown[0]!r}; send 'prompts' (a list of strings)")
    if "prompts" not in payload:
        raise Refusal(422, "invalid_request", f"send 'prompts' (a list of strings): {SHAPE}")
    prompts: Any = payload["prompts"]
    if not isinstance(prompts, list):
        raise Refusal(422, "invalid_request", f"'prompts' must be a list of strings, not {kind(prompts)}")
    if not prompts:
        raise Refusal(422, "invalid_request", "'prompts' is empty; send at least one prompt")
    if len(prompts) > limits.max_texts:
        raise Refusal(422, "too_many_texts", f"{len(prompts)} prompts in one request; the limit is {limits.max_texts}")
    return [check_text(item, f"prompts[{i}]", limits, "complete") for i, item in enumerate(prompts)]


def settings_of(record: ModelRecord) -> Settings:
    """What `/v1/predict` generates with: greedy, with model.json's max_new_tokens and stop strings."""
    g = record.payload.get("generation") or {}
    return Settings(max_new_tokens=int(g.get("max_new_tokens", 64)), stop=tuple(str(s) for s in g.get("stop") or ()))


def request_settings(record: ModelRecord, request: Request, limits: Limits) -> Settings:
    """What an API request generates with: its own settings, and model.json's (evaluate's) for those it leaves out;
    max_tokens at most serve.max_tokens; the model's stop strings and the request's. `seed` is passed on but the
    engine samples unseeded (static batching refuses a seed per sequence: engine.py), as OpenAI's seed is a
    best effort too; greedy decoding (temperature 0) is what is reproducible."""
    g = record.payload.get("generation") or {}
    stop = tuple(dict.fromkeys([*(str(s) for s in g.get("stop") or ()), *request.stop]))
    return Settings(
        max_new_tokens=request.max_tokens or min(int(g.get("max_new_tokens", 64)), limits.max_tokens),
        temperature=request.temperature if request.temperature is not None else float(g.get("temperature", 0.0)),
        top_p=request.top_p if request.top_p is not None else float(g.get("top_p", 1.0)),
        seed=request.seed if request.seed is not None else int(g.get("seed", 0)),
        stop=stop,
    )


class LanguageModel:
    """Prompts in, completions out, through the engine: thread-safe."""

    def __init__(self, folder: Path, *, threads: int = 0, context: Optional[RouteContext] = None) -> None:
        from ml_ci.tasks.text_generation.metrics import GenerationMetrics

        self.record = model_record.read(folder / model_record.FILE)
        self.settings = settings_of(self.record)
        self.limits = context.limits if context is not None else Limits()
        self.runtime = Runtime(folder, threads=threads, max_batch_size=self.limits.max_sequences)
        self.template = chat_template.load(folder)
        metrics = GenerationMetrics(context.registry) if context is not None else None
        self.engine = Engine(
            self.runtime, max_sequences=self.limits.max_sequences, max_queued=self.limits.max_queued, metrics=metrics
        )

    def prompt_ids(self, prompt: str) -> list[int]:
        """The prompt's tokens; a prompt longer than model.max_length keeps its last ones, as evaluate cuts it."""
        return self.runtime.encode(prompt)[-self.record.max_length :]

    def completions(self, prompts: Sequence[str]) -> list[Completion]:
        """Each prompt's greedy completion, in order, all submitted at once (the engine batches them); a prompt that
        finds every place taken waits for one of its own, or for a moment."""
        pending: deque[tuple[int, Generation]] = deque()
        done: dict[int, Completion] = {}
        for i, prompt in enumerate(prompts):
            ids = self.prompt_ids(prompt)
            while True:
                try:
                    pending.append((i, self.engine.submit(ids, self.settings)))
                    break
                except Busy:
                    if pending:
                        j, generation = pending.popleft()
                        done[j] = generation.result()
                    else:
                        time.sleep(0.01)
        for j, generation in pending:
            done[j] = generation.result()
        return [done[i] for i in range(len(prompts))]

    def predict(self, inputs: list[Any]) -> list[str]:
        """The served rows: each prompt's completion text."""
        return [c.text for c in self.completions(inputs)]

    def request_ids(self, request: Request) -> list[int]:
        """The tokens of an API request's prompt: its text, its token ids, or its messages rendered by the chat
        template; ApiError naming the field when the template refuses them or the model has none."""
        if request.endpoint == "completion":
            if isinstance(request.prompt, tuple):
                return list(request.prompt)
            return self.runtime.encode(str(request.prompt))
        if self.template is None:
            raise ApiError(
                400,
                "unsupported_endpoint",
                "this model has no chat template; send a prompt to /v1/completions instead",
                "messages",
            )
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        try:
            return self.runtime.encode(self.template.render(messages, add_generation_prompt=True))
        except chat_template.TemplateError as e:
            raise ApiError(400, "invalid_value", f"the model's chat template refused the messages: {e}", "messages") from None


def routes(context: RouteContext) -> Sequence[Route]:
    """The OpenAI-compatible API beside /v1/predict; every refusal in OpenAI's error shape."""
    api = Api(context)
    body = openai_api.error_body
    return (
        Route(method="POST", path=openai_api.COMPLETIONS_PATH, handle=api.completions, refusal_body=body),
        Route(method="POST", path=openai_api.CHAT_PATH, handle=api.chat, refusal_body=body),
        Route(method="GET", path=openai_api.MODELS_PATH, handle=api.models, refusal_body=body),
    )


def _created(record: ModelRecord) -> int:
    """When the model was exported, in seconds since the epoch (0 when model.json does not say)."""
    try:
        return int(datetime.fromisoformat(str(record.exported_at).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


class Api:
    """The handlers of the OpenAI-compatible routes."""

    def __init__(self, context: RouteContext) -> None:
        self.context = context

    def _model(self) -> LanguageModel:
        return cast(LanguageModel, self.context.model())  # Refusal 503 not_ready while it loads

    def models(self, call: Call) -> Reply:
        record = self._model().record
        return Reply(status=200, body=openai_api.models_body(record.name, _created(record)))

    def completions(self, call: Call) -> Reply | Stream:
        return self._generate(call, "completion")

    def chat(self, call: Call) -> Reply | Stream:
        return self._generate(call, "chat")

    def _generate(self, call: Call, endpoint: openai_api.Endpoint) -> Reply | Stream:
        limits = self.context.limits
        request = openai_api.parse(call.body, endpoint, limits)
        model = self._model()
        openai_api.check_model(request, model.record.name)
        ids = model.request_ids(request)
        settings = request_settings(model.record, request, limits)
        openai_api.check_length(request, len(ids), settings.max_new_tokens, model.runtime.context_length, limits)
        call.log.update(prompt_tokens=len(ids), max_tokens=settings.max_new_tokens, stream=request.stream)
        try:
            generation = model.engine.submit(ids, settings)
        except Busy as e:
            raise ApiError(
                429, "rate_limit_exceeded", f"{e}; retry shortly", headers={"Retry-After": str(RETRY_AFTER_S)}
            ) from None
        except ValueError as e:  # a token id outside the vocabulary
            raise ApiError(400, "invalid_value", str(e), "prompt" if endpoint == "completion" else "messages") from None
        prefix = "cmpl-" if endpoint == "completion" else "chatcmpl-"
        answer = Answer(
            endpoint=endpoint,
            id=prefix + secrets.token_hex(12),
            created=int(time.time()),
            model=model.record.name,
            include_usage=request.include_usage,
        )
        if request.stream:
            return Stream(chunks=_Chunks(generation, answer), headers={"Cache-Control": "no-cache"})
        completion = self._wait(generation, call)
        call.log.update(completion_tokens=len(completion.tokens), finish=completion.finish)
        body = answer.whole(completion.text, completion.finish, completion.prompt_tokens, len(completion.tokens))
        return Reply(status=200, body=body)

    @staticmethod
    def _wait(generation: Generation, call: Call) -> Completion:
        """The whole completion; cancelled, and 499 (nobody reads it), when the client goes away meanwhile."""
        while True:
            try:
                return generation.result(timeout=GONE_POLL_S)
            except TimeoutError:
                if call.gone():
                    generation.cancel()
                    raise ApiError(499, "client_gone", "the client closed the connection; the generation was cancelled") from None
            except RuntimeError as e:
                raise ApiError(500, "generation_failed", str(e)) from None


class _Chunks:
    """A stream's server-sent events. Closing it (the client gone, or the stream over) cancels the generation, also
    before the first chunk was asked for (a generator's `finally` would not run then)."""

    def __init__(self, generation: Generation, answer: Answer) -> None:
        self._generation = generation
        self._events = self._make(generation, answer)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._events)

    def close(self) -> None:
        self._events.close()
        self._generation.cancel()  # nothing once it has ended

    @staticmethod
    def _make(generation: Generation, answer: Answer) -> Generator[bytes, None, None]:
        first = answer.first()
        if first is not None:
            yield first
        try:
            for delta in generation:
                if delta.text:
                    yield answer.delta(delta.text)
            completion = generation.result()
        except RuntimeError as e:  # its 200 is sent: the stream ends on an error event, as OpenAI's do
            yield answer.error(ApiError(500, "generation_failed", str(e)))
            return
        yield answer.last(completion.finish)
        if answer.include_usage:
            yield answer.usage_chunk(completion.prompt_tokens, len(completion.tokens))
        yield openai_api.DONE


def load(folder: Path, *, threads: int = 0, context: Optional[RouteContext] = None) -> LanguageModel:
    return LanguageModel(folder, threads=threads, context=context)


def check(model: ServedModel, rows: list[Any]) -> None:
    if len(rows) != 1 or not isinstance(rows[0], str):
        raise RuntimeError(f"the warm-up prediction is not one completion: {str(rows)[:200]}")


def answer(model: ServedModel, rows: list[Any], model_sha256: str) -> bytes:
    """The response: one `{"completion": ...}` per prompt, in order, and the model's sha256."""
    return json.dumps({"predictions": [{"completion": row} for row in rows], "model_sha256": model_sha256}).encode()


# --- the client's side: requests, answers, golden examples ----------------------------------


@dataclass(frozen=True)
class Golden:
    """One golden example: a prompt and the completion the served model must give back. A prompt-set item also has
    what evaluate hashes it by (`text`) and the max_new_tokens it sets for itself, if any."""

    prompt: str
    completion: str
    text: Optional[str] = None
    item_max_new_tokens: Optional[int] = None


def request(inputs: list[Any]) -> Any:
    return {"prompts": list(inputs)}


def answers(body: Any) -> list[str]:
    """One completion per prompt from {"predictions": [{"completion": "..."}]}."""
    if not isinstance(body, dict) or not isinstance(body.get("predictions"), list):
        raise ValueError('unrecognized /v1/predict answer (expected {"predictions": [{"completion": "..."}]})')
    out = []
    for p in body["predictions"]:
        completion = p["completion"]
        if not isinstance(completion, str):
            raise TypeError(f"a completion is {kind(completion)}, not a string")
        out.append(completion)
    return out


def golden_examples(record: GoldenRecord, source: str) -> list[Golden]:
    """The examples of export/golden.json: {"prompt", "expected": {"completion"}, "text"?, "item_max_new_tokens"?}."""
    from ml_ci.errors import OperationalError

    out: list[Golden] = []
    for i, row in enumerate(record.examples):
        try:
            prompt, completion, text, limit = (
                row["prompt"],
                row["expected"]["completion"],
                row.get("text"),
                row.get("item_max_new_tokens"),
            )
            if not isinstance(prompt, str) or not isinstance(completion, str):
                raise TypeError("prompt and expected.completion must be strings")
            if not (text is None or isinstance(text, str)) or not (limit is None or isinstance(limit, int)):
                raise TypeError("text must be a string and item_max_new_tokens a number")
            out.append(Golden(prompt, completion, text, limit))
        except (KeyError, TypeError, AttributeError) as e:
            raise OperationalError(f"{source}: golden example {i} is malformed ({e!r})") from None
    return out


def golden_inputs(examples: Sequence[Golden]) -> list[Any]:
    return [g.prompt for g in examples]


def _shown(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _where(want: str, got: str) -> str:
    """Where two texts part: the first differing character and a few from there on each side."""
    at = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b), min(len(want), len(got)))
    return f"from character {at}: {_shown(got[at:], 30)!r}, recorded {_shown(want[at:], 30)!r}"


def mismatches(examples: Sequence[Golden], answers: Sequence[str], tolerance: float, *, caller: Caller) -> list[str]:
    """Where the completions differ from the golden ones (`tolerance` does not apply to text: equal or not), one
    message per example in `caller`'s words (`build`: the image check, `smoke`: deploy's smoke test). Empty when
    they agree."""
    smoke = caller == "smoke"
    problems: list[str] = []
    if len(answers) != len(examples):
        problems.append(
            f"sent {len(examples)} prompts, got {len(answers)} predictions"
            if smoke
            else f"{len(answers)} answers for {len(examples)} golden examples"
        )
    for i, (g, got) in enumerate(zip(examples, answers, strict=False)):
        if got != g.completion:
            shown = _shown(g.prompt, 40 if smoke else 60)
            problems.append(f"example {i} ({shown!r}): completion differs {_where(g.completion, got)}")
    return problems


def eval_mismatches(golden: GoldenRecord, answers: Sequence[str], eval_record: Any) -> tuple[list[str], int]:
    """Compare the served completions of the prompt-set items with `ml-ci evaluate`'s (eval.json's prediction rows of
    source `prompts`, paired by the hash of the item's text): the same text, where evaluate generated as the server
    does (greedy, the same max_new_tokens and stop strings; an item with its own max_new_tokens is left out). Returns
    the problems and how many were compared (0 without a record that matches)."""

    rows = eval_record.get("predictions") if isinstance(eval_record, dict) else None
    generation = eval_record.get("generation") if isinstance(eval_record, dict) else None
    if not isinstance(rows, list) or not isinstance(generation, dict):
        return [], 0
    served = golden.payload
    same = (
        generation.get("temperature") == 0
        and generation.get("max_new_tokens") == served.get("max_new_tokens")
        and list(generation.get("stop") or []) == list(served.get("stop") or [])
    )
    if not same:
        return [], 0
    by_hash = {r.get("text_sha256"): r for r in rows if isinstance(r, dict) and r.get("source") == "prompts"}
    problems, compared = [], 0
    for example, got in zip(golden_examples(golden, "golden.json"), answers, strict=True):
        if example.text is None or example.item_max_new_tokens not in (None, served.get("max_new_tokens")):
            continue
        row = by_hash.get(text_hash(example.text))
        evaluated = row.get("output") if row is not None else None
        if not isinstance(evaluated, str):
            continue
        compared += 1
        if got != evaluated:
            where = _where(evaluated, got).replace("recorded", "evaluated")
            problems.append(f"{_shown(example.prompt, 60)!r}: completion differs {where}")
    return problems, compared
