"""text-generation's records as the model sees them: the rendered text, the character spans the loss is on, and
the labels of each token (the tiny byte-level BPE tokenizer of tests/lm.py, with its ChatML-style template)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ml_ci.tasks.text_generation import render as R
from ml_ci.tasks.text_generation.config import Adapter, Generation, TextGenerationSpec
from tests.lm import tiny_lm

IGNORED = R.IGNORED
CHAT = {
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "what is 2 plus 2?"},
        {"role": "assistant", "content": "4"},
    ]
}


def spec(chat_template: str | None = None) -> TextGenerationSpec:
    return TextGenerationSpec(
        prompt_column="prompt",
        completion_column="completion",
        messages_column="messages",
        chat_template=chat_template,
        max_truncated_fraction=0.0,
        adapter=Adapter(type="lora", rank=8, alpha=16, dropout=0.05, target_modules="all-linear", quantize_base="none"),
        packing=False,
        gradient_checkpointing=False,
        prompts=None,
        generation=Generation(max_new_tokens=8, temperature=0.0, top_p=1.0, seed=0, stop=()),
        base="base",
        max_length=64,
    )


@pytest.fixture(scope="module")
def tok(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_lm(tmp_path_factory.mktemp("lm"), "llama"))


def learned(tok: Any, enc: dict[str, list[int]]) -> list[str]:
    """The tokens carrying a label, as text."""
    assert len(enc["labels"]) == len(enc["input_ids"]) == len(enc["attention_mask"])
    for token, label in zip(enc["input_ids"], enc["labels"], strict=True):
        assert label in (IGNORED, token)  # a label is the token itself (the model shifts) or nothing
    return [tok.decode([label]) for label in enc["labels"] if label != IGNORED]


def test_prompt_completion_learns_the_completion_and_eos(tok: Any) -> None:
    record = {"prompt": "Q: what is 2 plus 2? A:", "completion": " 4"}
    r = R.render(record, tok, spec())
    assert r == R.Rendered(text="Q: what is 2 plus 2? A: 4<|endoftext|>", targets=((23, 38),), special_tokens=True)
    enc = R.encode(r, tok, 64)
    assert enc["input_ids"] == tok(r.text)["input_ids"]
    pieces = [tok.decode([i]) for i in enc["input_ids"]]
    assert pieces[-2:] == [" 4", "<|endoftext|>"]
    assert learned(tok, enc) == [" 4", "<|endoftext|>"]
    assert enc["labels"][: len(pieces) - 2] == [IGNORED] * (len(pieces) - 2)
    # generation starts from the prompt's own tokens: the ones training saw before the completion
    assert R.prompt_text(record, tok, spec()) == record["prompt"]
    assert R.prompt_ids(record, tok, spec()) == enc["input_ids"][:-2]


def test_chat_learns_every_assistant_turn_and_its_end_marker(tok: Any) -> None:
    r = R.render(CHAT, tok, spec())
    assert not r.special_tokens
    assert [r.text[a:b] for a, b in r.targets] == ["Hello<|im_end|>\n", "4<|im_end|>\n"]
    enc = R.encode(r, tok, 128)
    assert "".join(learned(tok, enc)) == "Hello<|im_end|>\n4<|im_end|>\n"
    # everything else (system, user turns, role headers) is context: exactly the tokens outside both spans
    context = tok.decode([t for t, label in zip(enc["input_ids"], enc["labels"], strict=True) if label == IGNORED])
    assert context == (
        "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        "<|im_start|>user\nwhat is 2 plus 2?<|im_end|>\n<|im_start|>assistant\n"
    )
    prompt = R.prompt_text(CHAT, tok, spec())
    assert prompt == r.text[: r.targets[1][0]]  # the chat before its last answer, with the generation prompt
    assert R.prompt_ids(CHAT, tok, spec()) == enc["input_ids"][: len(R.prompt_ids(CHAT, tok, spec()))]
    ending_with_user = {"messages": CHAT["messages"][:4]}  # a prompt item: no answer yet
    assert R.prompt_text(ending_with_user, tok, spec()) == prompt


def test_data_chat_template_overrides_the_tokenizers(tok: Any) -> None:
    own = (
        "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}"
    )
    r = R.render({"messages": CHAT["messages"][1:3]}, tok, spec(own))
    assert r.text == "[user] hi\n[assistant] Hello\n"
    assert [r.text[a:b] for a, b in r.targets] == ["Hello\n"]
    assert R.template_source(tok, spec(own)) == "data.chat_template" and R.template_source(tok, spec()) == "tokenizer"


def test_a_template_that_rewrites_earlier_turns_is_refused(tok: Any) -> None:
    # as reasoning templates drop earlier answers' thoughts: an answer renders differently once it is not the last
    rewrites = (
        "{% for m in messages %}{{ m.role }}: {{ m.content if loop.last or m.role != 'assistant' else '...' }}\n{% endfor %}"
    )
    with pytest.raises(
        ValueError, match=r"^data/train.jsonl:7: the chat template does not render the conversation incrementally"
    ):
        R.render(CHAT, tok, spec(rewrites), where="data/train.jsonl:7")
    with pytest.raises(ValueError, match=r"^record 'be brief': the chat template"):
        R.render(CHAT, tok, spec(rewrites))


def test_chat_records_need_a_template(tok: Any) -> None:
    bare = type(tok).from_pretrained(tok.name_or_path)
    bare.chat_template = None
    with pytest.raises(ValueError, match=r"set data\.chat_template"):
        R.render(CHAT, bare, spec())
    assert R.render({"prompt": "a", "completion": "b"}, bare, spec()).targets == ((1, 15),)  # pairs need none


def test_truncation_keeps_the_first_tokens_and_length_counts_them_all(tok: Any) -> None:
    r = R.render({"prompt": "The quick brown fox", "completion": " jumps over the lazy dog."}, tok, spec())
    whole = R.encode(r, tok, None)
    n = R.length(r, tok)
    assert n == len(whole["input_ids"]) > 8
    cut = R.encode(r, tok, 6)
    assert cut == {name: rows[:6] for name, rows in whole.items()}
    assert R.lengths([r, R.render(CHAT, tok, spec())], tok) == [n, R.length(R.render(CHAT, tok, spec()), tok)]
    many = R.encode_many([R.render(CHAT, tok, spec()), r], tok, 6)  # batches keep their order across kinds
    assert many["input_ids"][1] == cut["input_ids"]


def test_labels_by_offsets() -> None:
    # (0, 0): a special token the tokenizer added; (3, 5) straddles the prompt's end (4) and is learned whole
    offsets = [(0, 0), (0, 3), (3, 5), (5, 6), (6, 6)]
    assert R.labels(offsets, [1, 2, 3, 4, 5], [(4, 6)]) == [IGNORED, IGNORED, 3, 4, IGNORED]
    assert R.labels(offsets, [1, 2, 3, 4, 5], []) == [IGNORED] * 5


def test_describe_names_a_record_by_its_start() -> None:
    assert R.describe({"prompt": "x" * 50, "completion": "y"}) == repr("x" * 40 + "...")
    assert R.describe(CHAT) == "'be brief'"


def test_records_from_a_table_may_carry_other_message_keys(tok: Any, tmp_path: Path) -> None:
    table = {"messages": [{**m, "name": None} for m in CHAT["messages"]]}  # a datasets struct fills missing keys
    assert R.render(table, tok, spec()) == R.render(CHAT, tok, spec())
    assert R.is_chat(table) and not R.is_chat({"prompt": "a", "completion": "b", "messages": None})
