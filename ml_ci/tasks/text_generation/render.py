"""One record as the model sees it: the text, and the character spans the loss is on.

A record is a prompt/completion pair `{"prompt": str, "completion": str}` or a chat `{"messages": [{"role",
"content"}, ...]}` (the data half's normalised names, whatever the ml.yaml columns are called). Every half renders
through here, so that the data check measures, training learns, evaluation scores and export generates from the
same text:

    render({"prompt": "2+2=", "completion": "4"}, tok, spec)
      -> Rendered(text="2+2=4<|endoftext|>", targets=((4, 18),), special_tokens=True)

- prompt/completion: `prompt + completion + eos_token`, TRL's plain concatenation (no separator is added: write
  the space or newline you want into the prompt); the target is the completion and the eos token (so that the
  model learns to stop). The tokenizer adds its own special tokens (a BOS) as it does when generating.
- chat: the chat template (data.chat_template, else the tokenizer's), rendered incrementally: an assistant turn's
  target is the text between rendering the turns before it with add_generation_prompt=True and rendering it too
  (its content and the template's end-of-turn marker). A template whose shorter renderings are not prefixes of the
  longer (one that drops earlier turns' reasoning, say) is refused: the spans would not be the tokens the model
  sees. The template writes its own special tokens, so the tokenizer adds none (no second BOS).

`encode` tokenizes the whole text once and labels each token by its character offsets (the fast tokenizer's
offset mapping): a token overlapping a target span is learned, every other one is -100. A token straddling the
prompt's end and the completion's start (a prompt ending in a space, " 4" after it) is learned whole: end prompts
without a trailing space, as the model generates the space itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml_ci.tasks.text_generation.config import TextGenerationSpec

# The data half's normalised record columns.
PROMPT = "prompt"
COMPLETION = "completion"
MESSAGES = "messages"
IGNORED = -100  # transformers' ignore_index: no loss on the token


@dataclass(frozen=True)
class Rendered:
    text: str
    targets: tuple[tuple[int, int], ...]  # character spans [start, end) the loss is on, in order
    special_tokens: bool = True  # whether the tokenizer adds its special tokens (False: the chat template wrote them)


def is_chat(record: Mapping[str, Any]) -> bool:
    return record.get(MESSAGES) is not None


def describe(record: Mapping[str, Any]) -> str:
    """A record named in an error message when no file:line is known: its first words."""
    if is_chat(record):
        first = next((m.get("content") for m in record[MESSAGES] if isinstance(m, Mapping)), "")
        text = str(first)
    else:
        text = str(record.get(PROMPT, ""))
    return repr(text[:40] + ("..." if len(text) > 40 else ""))


def _messages(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    # Only role and content: a table holding chats may give each message other keys (None when absent).
    return [{"role": m["role"], "content": m["content"]} for m in record[MESSAGES]]


def template(tokenizer: Any, spec: TextGenerationSpec) -> str:
    """The chat template chat records are rendered with: data.chat_template, else the tokenizer's own."""
    chosen = spec.chat_template or getattr(tokenizer, "chat_template", None)
    if not chosen:
        raise ValueError("chat records need a chat template: set data.chat_template (the tokenizer has none)")
    if not isinstance(chosen, str):  # a tokenizer may carry several named templates
        chosen = chosen.get("default") if isinstance(chosen, Mapping) else None
        if not chosen:
            raise ValueError("chat records need a chat template: set data.chat_template (the tokenizer has no default one)")
    return str(chosen)


def template_source(tokenizer: Any, spec: TextGenerationSpec) -> str:
    """Where the chat template comes from, for lineage: `data.chat_template`, `tokenizer` or `none`."""
    if spec.chat_template:
        return "data.chat_template"
    return "tokenizer" if getattr(tokenizer, "chat_template", None) else "none"


def _apply(tokenizer: Any, chat_template: str, messages: Sequence[Mapping[str, Any]], generation_prompt: bool) -> str:
    text = tokenizer.apply_chat_template(
        list(messages), chat_template=chat_template, tokenize=False, add_generation_prompt=generation_prompt
    )
    return str(text)


def render(record: Mapping[str, Any], tokenizer: Any, spec: TextGenerationSpec, *, where: str = "") -> Rendered:
    """The text of `record` and its target spans. `where` names the record in errors (file:line); else its start."""
    if not is_chat(record):
        prompt, completion = str(record[PROMPT]), str(record[COMPLETION])
        text = prompt + completion + (tokenizer.eos_token or "")
        return Rendered(text=text, targets=((len(prompt), len(text)),), special_tokens=True)
    chat_template = template(tokenizer, spec)
    messages = _messages(record)
    full = _apply(tokenizer, chat_template, messages, False)
    targets: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = _apply(tokenizer, chat_template, messages[:i], True)
        upto = _apply(tokenizer, chat_template, messages[: i + 1], False)
        if not (upto.startswith(before) and full.startswith(upto)):
            raise ValueError(
                f"{where or 'record ' + describe(record)}: the chat template does not render the conversation "
                f"incrementally (turns 1..{i} with the generation prompt are not a prefix of turns 1..{i + 1}, "
                "or those of the whole chat), so the assistant turns' tokens cannot be found; "
                "set data.chat_template to one that keeps every turn as written"
            )
        if len(upto) > len(before):
            targets.append((len(before), len(upto)))
    return Rendered(text=full, targets=tuple(targets), special_tokens=False)


def prompt_text(record: Mapping[str, Any], tokenizer: Any, spec: TextGenerationSpec) -> str:
    """What generation starts from: the prompt, or the chat up to its last assistant turn (without it) with the
    template's generation prompt. Tokenize it with `add_special_tokens=is_chat(record) is False` (`prompt_ids`)."""
    if not is_chat(record):
        return str(record[PROMPT])
    messages = _messages(record)
    while messages and messages[-1]["role"] == "assistant":
        messages.pop()
    return _apply(tokenizer, template(tokenizer, spec), messages, True)


def prompt_ids(record: Mapping[str, Any], tokenizer: Any, spec: TextGenerationSpec) -> list[int]:
    """The token ids generation starts from, with special tokens as training saw them."""
    ids = tokenizer(prompt_text(record, tokenizer, spec), add_special_tokens=not is_chat(record))["input_ids"]
    return [int(i) for i in ids]


def labels(offsets: Sequence[Sequence[int]], ids: Sequence[int], targets: Sequence[tuple[int, int]]) -> list[int]:
    """Each token's label: its id when its characters overlap a target span, IGNORED otherwise. Special tokens the
    tokenizer adds have an empty span (0, 0) and are never learned."""
    out: list[int] = []
    for (start, end), token in zip(offsets, ids, strict=True):
        inside = end > start and any(start < t_end and end > t_start for t_start, t_end in targets)
        out.append(int(token) if inside else IGNORED)
    return out


def encode_many(rendered: Sequence[Rendered], tokenizer: Any, max_length: int | None) -> dict[str, list[list[int]]]:
    """`encode` of many records, tokenized in batches (one per kind of special-token handling); max_length None
    keeps every token (what `length` counts)."""
    out: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
    rows: list[tuple[list[int], list[int]] | None] = [None] * len(rendered)
    for special in (True, False):
        at = [i for i, r in enumerate(rendered) if r.special_tokens is special]
        if not at:
            continue
        enc = tokenizer(
            [rendered[i].text for i in at],
            add_special_tokens=special,
            return_offsets_mapping=True,
        )
        for k, i in enumerate(at):
            # Cut here, not by the tokenizer: its truncation_side may be left, and a record's end is what is lost.
            ids = [int(t) for t in enc["input_ids"][k]]
            rows[i] = (ids[:max_length], labels(enc["offset_mapping"][k], ids, rendered[i].targets)[:max_length])
    for row in rows:
        assert row is not None
        ids, lab = row
        out["input_ids"].append(ids)
        out["attention_mask"].append([1] * len(ids))
        out["labels"].append(lab)
    return out


def encode(rendered: Rendered, tokenizer: Any, max_length: int | None) -> dict[str, list[int]]:
    """{input_ids, attention_mask, labels} of one rendered record, cut to its first max_length tokens (unpadded)."""
    many = encode_many([rendered], tokenizer, max_length)
    return {name: rows[0] for name, rows in many.items()}


def length(rendered: Rendered, tokenizer: Any) -> int:
    """How many tokens the record has before truncation (more than model.max_length: its end is cut)."""
    return len(encode(rendered, tokenizer, None)["input_ids"])


def lengths(rendered: Sequence[Rendered], tokenizer: Any) -> list[int]:
    """`length` of many records, tokenized in batches."""
    return [len(ids) for ids in encode_many(rendered, tokenizer, None)["input_ids"]]
