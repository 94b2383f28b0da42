"""The exported language model under ONNX Runtime GenAI (`runtime.Runtime`) against transformers on the same tiny
randomly initialised Llama and Qwen2 (tests/lm.py): greedy tokens and first-step logits, stop strings, the end
of sequence, the token callback, seeded sampling and prompts longer than the context."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ml_ci.tasks.text_generation.export import build
from ml_ci.tasks.text_generation.runtime import Runtime, Settings
from tests.lm import tiny_lm

PROMPTS = ["Q: what is 3 plus 4? A:", "Hello, how can I", '{"result": 1']


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the Hugging Face folder, its export)."""
    root = tmp_path_factory.mktemp(request.param)
    hf = tiny_lm(root, request.param)
    build(hf, root / "export", root / "cache")
    return hf, root / "export"


@pytest.fixture(scope="module")
def torch_model(exported: tuple[Path, Path]) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model: Any = AutoModelForCausalLM.from_pretrained(exported[0])
    return AutoTokenizer.from_pretrained(exported[0]), model.eval()


@pytest.fixture(scope="module")
def runtime(exported: tuple[Path, Path]) -> Runtime:
    return Runtime(exported[1], threads=1)


def hf_greedy(torch_model: tuple[Any, Any], ids: list[int], n: int) -> list[int]:
    import torch

    tokenizer, model = torch_model
    with torch.inference_mode():
        out = model.generate(
            torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long), max_new_tokens=n, do_sample=False
        )
    new = [int(t) for t in out[0, len(ids) :]]
    return next((new[:i] for i, t in enumerate(new) if t == tokenizer.eos_token_id), new)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_tokens_and_logits_are_transformers(runtime: Runtime, torch_model: tuple[Any, Any], prompt: str) -> None:
    import torch

    tokenizer, model = torch_model
    ids = tokenizer(prompt)["input_ids"]
    assert runtime.encode(prompt) == ids
    done = runtime.generate(prompt, Settings(max_new_tokens=16))
    assert list(done.tokens) == hf_greedy(torch_model, ids, 16)
    assert done.text == tokenizer.decode(list(done.tokens), skip_special_tokens=True)
    assert done.prompt_tokens == len(ids) and done.finish in ("length", "eos")
    with torch.inference_mode():
        expected = model(torch.tensor([ids])).logits[0].numpy()
    got = runtime.first_logits(prompt)
    assert got.shape == expected.shape and float(np.abs(got - expected).max()) < 1e-4


def test_the_callback_sees_every_token_in_order_and_time_moves_on(runtime: Runtime) -> None:
    seen: list[tuple[int, str, float]] = []
    done = runtime.generate(PROMPTS[0], Settings(max_new_tokens=10), on_token=lambda t, s, at: seen.append((t, s, at)))
    assert [t for t, _, _ in seen] == list(done.tokens) and len(done.tokens) == 10 and done.finish == "length"
    times = [at for _, _, at in seen]
    assert times == sorted(times) and 0 < done.first_token_s == times[0] <= done.total_s
    assert done.tokens_per_second is not None and done.tokens_per_second > 0
    # The pieces are the text as it streams; a character still incomplete at the end (U+FFFD) is held back.
    joined = "".join(s for _, s, _ in seen)
    assert done.text.startswith(joined) and done.text[len(joined) :] in ("", "\ufffd")


def test_a_stop_string_cuts_the_completion_before_it(runtime: Runtime) -> None:
    full = runtime.generate(PROMPTS[1], Settings(max_new_tokens=16))
    text = full.text.replace("\ufffd", "")
    assert len(text) >= 6, text
    stop = text[3:5]
    cut = runtime.generate(PROMPTS[1], Settings(max_new_tokens=16, stop=("never there", stop)))
    assert cut.finish == "stop" and cut.text == full.text[: full.text.index(stop)]
    assert len(cut.tokens) < len(full.tokens) and list(cut.tokens) == list(full.tokens[: len(cut.tokens)])


def test_the_end_of_sequence_token_ends_and_is_left_out(exported: tuple[Path, Path], tmp_path: Path) -> None:
    """The model's eos is made its first greedy token: generation ends at once, with nothing generated."""
    first = Runtime(exported[1]).generate(PROMPTS[0], Settings(max_new_tokens=4)).tokens[0]
    copy = tmp_path / "export"
    shutil.copytree(exported[1], copy)
    genai = json.loads((copy / "genai_config.json").read_text())
    genai["model"]["eos_token_id"] = first
    (copy / "genai_config.json").write_text(json.dumps(genai))
    done = Runtime(copy).generate(PROMPTS[0], Settings(max_new_tokens=4))
    assert (done.finish, done.tokens, done.text, done.tokens_per_second) == ("eos", (), "", None)


def test_sampling_is_seeded_and_not_greedy(runtime: Runtime) -> None:
    greedy = runtime.generate(PROMPTS[0], Settings(max_new_tokens=8)).tokens
    one = runtime.generate(PROMPTS[0], Settings(max_new_tokens=8, temperature=1.0, seed=1)).tokens
    assert one == runtime.generate(PROMPTS[0], Settings(max_new_tokens=8, temperature=1.0, seed=1)).tokens
    assert one != runtime.generate(PROMPTS[0], Settings(max_new_tokens=8, temperature=1.0, seed=2)).tokens
    assert one != greedy


def test_a_prompt_longer_than_the_context_keeps_its_last_tokens(runtime: Runtime) -> None:
    ids = [1 + i % 400 for i in range(runtime.context_length + 50)]  # ids within the tiny vocabulary
    kept = runtime.prompt_ids(ids, 10)
    assert kept == ids[-(runtime.context_length - 10) :]
    done = runtime.generate(ids, Settings(max_new_tokens=10))
    assert done.prompt_tokens == runtime.context_length - 10 and len(done.tokens) <= 10
    with pytest.raises(ValueError, match="no tokens"):
        runtime.prompt_ids([], 1)
