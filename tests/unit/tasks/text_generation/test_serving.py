"""text-generation's serving half without a model: the request it reads (and refuses), the answer it writes and reads
back, golden examples and their comparison (completions equal), and the comparison with evaluate's completions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ml_ci.errors import OperationalError
from ml_ci.records.evaluation import text_hash
from ml_ci.records.golden import GoldenRecord
from ml_ci.records.model import ModelRecord
from ml_ci.serve.limits import Limits
from ml_ci.serve.protocol import Refusal
from ml_ci.tasks.text_generation import serving as S

LIMITS = Limits(max_texts=3, max_text_chars=20)


def refusal(body: Any) -> tuple[int, str, str]:
    with pytest.raises(Refusal) as caught:
        S.parse(json.dumps(body).encode() if not isinstance(body, bytes) else body, LIMITS)
    return caught.value.status, caught.value.kind, caught.value.message


def test_a_request_is_a_list_of_prompts() -> None:
    assert S.parse(b'{"prompts": ["2+2=", "hello"]}', LIMITS) == ["2+2=", "hello"]
    assert S.request(["a", "b"]) == {"prompts": ["a", "b"]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", (400, "invalid_json")),
        (["2+2="], (422, "invalid_request", 'send an object: {"prompts": ["..."]}')),
        ({"texts": ["a"]}, (422, "invalid_request", "unknown key 'texts'; send 'prompts' (a list of strings)")),
        ({}, (422, "invalid_request", 'send \'prompts\' (a list of strings): {"prompts": ["..."]}')),
        ({"prompts": "2+2="}, (422, "invalid_request", "'prompts' must be a list of strings, not a string")),
        ({"prompts": []}, (422, "invalid_request", "'prompts' is empty; send at least one prompt")),
        ({"prompts": ["a"] * 4}, (422, "too_many_texts", "4 prompts in one request; the limit is 3")),
        ({"prompts": ["a", 3]}, (422, "invalid_request", "prompts[1] must be a string, not a number")),
        ({"prompts": ["a", " "]}, (422, "empty_text", "prompts[1] is only whitespace; send text to complete")),
        ({"prompts": ["x" * 21]}, (422, "text_too_long", "prompts[0] has 21 characters; the limit is 20")),
    ],
)
def test_a_request_of_another_shape_is_refused_naming_the_field(body: Any, expected: tuple[Any, ...]) -> None:
    assert refusal(body)[: len(expected)] == expected


def record(generation: dict[str, Any] | None = None) -> ModelRecord:
    payload = {"base": "b", "generation": generation} if generation is not None else {}
    return ModelRecord(
        name="m", task="text-generation", max_length=64, onnx="model.onnx", sha256="s", inputs=(), pad_id=0, payload=payload
    )


def test_the_server_answers_greedily_with_model_json_s_settings() -> None:
    settings = S.settings_of(record({"max_new_tokens": 7, "temperature": 0.9, "top_p": 0.5, "seed": 3, "stop": ["\n"]}))
    assert (settings.max_new_tokens, settings.greedy, settings.stop) == (7, True, ("\n",))
    assert S.settings_of(record()).max_new_tokens == 64


def test_an_api_request_takes_model_json_s_settings_for_those_it_leaves_out() -> None:
    from ml_ci.tasks.text_generation.openai_api import Request

    model = record({"max_new_tokens": 700, "temperature": 0.7, "top_p": 0.5, "seed": 3, "stop": ["\n"]})
    limits = Limits(max_tokens=512)
    settings = S.request_settings(model, Request(endpoint="completion", prompt="x"), limits)
    # max_new_tokens above serve.max_tokens is cut to it; evaluate's decoding otherwise.
    assert (settings.max_new_tokens, settings.temperature, settings.top_p, settings.seed, settings.stop) == (
        512,
        0.7,
        0.5,
        3,
        ("\n",),
    )
    asked = Request(endpoint="chat", max_tokens=5, temperature=0.0, top_p=0.9, seed=11, stop=("END", "\n"))
    settings = S.request_settings(model, asked, limits)
    assert (settings.max_new_tokens, settings.greedy, settings.top_p, settings.seed, settings.stop) == (
        5,
        True,
        0.9,
        11,
        ("\n", "END"),
    )
    bare = S.request_settings(record(), Request(endpoint="completion", prompt="x"), limits)
    assert (bare.max_new_tokens, bare.greedy, bare.stop) == (64, True, ())


def test_a_chat_for_a_model_without_a_chat_template_or_refused_by_it_names_messages() -> None:
    from types import SimpleNamespace

    from ml_ci.tasks.text_generation.chat_template import ChatTemplate
    from ml_ci.tasks.text_generation.openai_api import ApiError, Message, Request

    model = object.__new__(S.LanguageModel)  # no model: neither path reaches the tokenizer
    model.runtime = SimpleNamespace(encode=lambda text: [1])  # type: ignore[assignment]
    model.template = None
    chat = Request(endpoint="chat", messages=(Message("user", "hi"),))
    with pytest.raises(ApiError, match="no chat template; send a prompt to /v1/completions") as caught:
        model.request_ids(chat)
    assert (caught.value.status, caught.value.param) == (400, "messages")
    model.template = ChatTemplate("{{ raise_exception('only one turn, please') }}", {})
    with pytest.raises(ApiError, match="the model's chat template refused the messages: only one turn, please") as caught:
        model.request_ids(chat)
    assert (caught.value.status, caught.value.kind, caught.value.param) == (400, "invalid_value", "messages")


class _Generation:
    def __init__(self) -> None:
        self.cancelled = 0

    def __iter__(self) -> Any:
        yield from ()

    def cancel(self) -> None:
        self.cancelled += 1


def test_a_stream_closed_before_its_first_chunk_still_cancels_its_generation() -> None:
    from ml_ci.tasks.text_generation.openai_api import Answer

    generation = _Generation()
    chunks = S._Chunks(generation, Answer(endpoint="chat", id="chatcmpl-1", created=0, model="m"))  # type: ignore[arg-type]
    chunks.close()  # a generator's `finally` would not run: it never started
    assert generation.cancelled == 1


def test_the_answer_reads_back_and_the_warm_up_is_checked() -> None:
    body = json.loads(S.answer(None, ["4", ""], "abc"))  # type: ignore[arg-type]
    assert body == {"predictions": [{"completion": "4"}, {"completion": ""}], "model_sha256": "abc"}
    assert S.answers(body) == ["4", ""]
    with pytest.raises(ValueError, match="unrecognized"):
        S.answers({"labels": []})
    with pytest.raises(TypeError, match="a completion is a number"):
        S.answers({"predictions": [{"completion": 4}]})
    S.check(None, ["anything"])  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="not one completion"):
        S.check(None, [["a"]])  # type: ignore[arg-type]


GOLDEN = GoldenRecord(
    examples=(
        {"prompt": "Q: 2+2? A:", "expected": {"completion": " 4"}, "reference": " 4", "text": "Q: 2+2? A:"},
        {"prompt": "<|im_start|>user\nhi<|im_end|>\n", "expected": {"completion": "hello there"}, "reference": None},
        {"prompt": "Q: 3+3? A:", "expected": {"completion": " 6"}, "text": "Q: 3+3? A:", "item_max_new_tokens": 3},
    ),
    tolerance=1e-3,
    payload={"max_new_tokens": 10, "stop": []},
)


def test_golden_examples_read_and_compare_exactly() -> None:
    examples = S.golden_examples(GOLDEN, "golden.json")
    assert examples[0] == S.Golden("Q: 2+2? A:", " 4", "Q: 2+2? A:", None) and examples[2].item_max_new_tokens == 3
    assert S.golden_inputs(examples) == ["Q: 2+2? A:", "<|im_start|>user\nhi<|im_end|>\n", "Q: 3+3? A:"]
    assert S.mismatches(examples, [" 4", "hello there", " 6"], 1e-3, caller="build") == []
    assert S.mismatches(examples, [" 4", "hello their", " 6"], 1e-3, caller="build") == [
        "example 1 ('<|im_start|>user\\nhi<|im_end|>\\n'): completion differs from character 9: 'ir', recorded 're'"
    ]
    assert S.mismatches(examples, [" 4", "hello there"], 1e-3, caller="smoke") == ["sent 3 prompts, got 2 predictions"]
    assert S.mismatches(examples, [" 4", "hello there", ""], 1e-3, caller="build") == [
        "example 2 ('Q: 3+3? A:'): completion differs from character 0: '', recorded ' 6'"
    ]


@pytest.mark.parametrize(
    "row",
    [
        {"prompt": "a"},
        {"prompt": 1, "expected": {"completion": "b"}},
        {"prompt": "a", "expected": {"completion": "b"}, "text": 3},
    ],
)
def test_a_malformed_golden_example_names_its_file_and_index(row: dict[str, Any]) -> None:
    with pytest.raises(OperationalError, match=r"^export/golden.json: golden example 1 is malformed"):
        S.golden_examples(GoldenRecord(examples=(GOLDEN.examples[0], row)), "export/golden.json")


def eval_record(outputs: dict[str, str], **generation: Any) -> dict[str, Any]:
    rows = [{"index": 0, "text_sha256": "split", "source": "split", "nll": 1.0, "tokens": 2}]
    rows += [
        {"index": i + 1, "text_sha256": text_hash(t), "source": "prompts", "output": o}
        for i, (t, o) in enumerate(outputs.items())
    ]
    return {
        "generation": {"max_new_tokens": 10, "temperature": 0.0, "top_p": 1.0, "seed": 0, "stop": [], **generation},
        "predictions": rows,
    }


def test_served_completions_are_compared_with_evaluate_s_for_the_prompt_items() -> None:
    answers = [" 4", "hello there", " 6"]
    # Example 1 is a test record (no text: evaluate generated nothing for it); example 2 sets its own max_new_tokens.
    assert S.eval_mismatches(GOLDEN, answers, eval_record({"Q: 2+2? A:": " 4", "Q: 3+3? A:": " 7"})) == ([], 1)
    assert S.eval_mismatches(GOLDEN, answers, eval_record({"Q: 2+2? A:": " 5"})) == (
        ["'Q: 2+2? A:': completion differs from character 1: '4', evaluated '5'"],
        1,
    )


@pytest.mark.parametrize("generation", [{"temperature": 0.7}, {"max_new_tokens": 9}, {"stop": ["\n"]}])
def test_evaluate_s_completions_made_otherwise_are_not_compared(generation: dict[str, Any]) -> None:
    assert S.eval_mismatches(GOLDEN, [" 4", "x", "y"], eval_record({"Q: 2+2? A:": " 5"}, **generation)) == ([], 0)
    assert S.eval_mismatches(GOLDEN, [" 4", "x", "y"], None) == ([], 0)
