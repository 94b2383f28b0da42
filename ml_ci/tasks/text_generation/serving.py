"""text-generation's serving half (`ml_ci.tasks.protocols.serving.ServingHalf`): torch-free.

A request is `{"prompts": ["...", ...]}`: each prompt is the text the model continues (a chat already rendered by
its template, as golden.json's prompts are). The answer is one `{"completion": "..."}` per prompt and the model's
sha256 (`model_sha256`, the envelope of the other tasks, which deploy's smoke test reads). Completions are greedy,
with model.json's generation settings (max_new_tokens, stop strings), so that one prompt always gets one answer:
what the golden examples rely on. Sampling, streaming and the OpenAI-style endpoint are the serving image's
(issue 17).

The exported model runs through ONNX Runtime GenAI (`runtime.Runtime`), one prompt after the other. The export
stage's parity and golden checks run this very class, so that what was checked is what is served.

Golden examples (export/golden.json): test prompts with the completion the served model gave. The image check and
the deploy smoke test send the prompts and ask for the same text, character for character: greedy decoding of the
same ONNX file is deterministic, and a completion cannot be close (a token off changes what follows).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ml_ci.records import model as model_record
from ml_ci.records.texts import text_hash
from ml_ci.serve.limits import Limits
from ml_ci.serve.protocol import Refusal, check_text, json_body, kind
from ml_ci.tasks.text_generation.runtime import Completion, Runtime, Settings

if TYPE_CHECKING:
    from ml_ci.records.golden import GoldenRecord
    from ml_ci.records.model import ModelRecord
    from ml_ci.serve.routes import Route, RouteContext
    from ml_ci.tasks.protocols.serving import Caller, ServedModel

WARM_UP: list[Any] = ["warm up"]
RUNTIME: tuple[str, ...] = ("onnxruntime-genai",)  # runtime.Runtime generates with it (tokenizers is the generic runtime's)
SHAPE = '{"prompts": ["..."]}'


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


class LanguageModel:
    """Prompts in, completions out. Thread-compatible: the batcher calls it from one thread."""

    def __init__(self, folder: Path, *, threads: int = 0) -> None:
        self.record = model_record.read(folder / model_record.FILE)
        self.settings = settings_of(self.record)
        self.runtime = Runtime(folder, threads=threads)

    def prompt_ids(self, prompt: str) -> list[int]:
        """The prompt's tokens; a prompt longer than model.max_length keeps its last ones, as evaluate cuts it."""
        return self.runtime.encode(prompt)[-self.record.max_length :]

    def completions(self, prompts: Sequence[str]) -> list[Completion]:
        return self.runtime.generate_many([self.prompt_ids(p) for p in prompts], self.settings)

    def predict(self, inputs: list[Any]) -> list[str]:
        """The served rows: each prompt's completion text."""
        return [c.text for c in self.completions(inputs)]


def routes(context: RouteContext) -> Sequence[Route]:
    return ()  # POST /v1/predict is all it serves

def load(folder: Path, *, threads: int = 0) -> LanguageModel:
    return LanguageModel(folder, threads=threads)


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
