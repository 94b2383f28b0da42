"""The trained model run by PyTorch on evaluate's examples: each split record's loss, each prompt item's completion.

- Loss: records are encoded as training encodes them (`render.encode_many`: the same text, labels and
  model.max_length cut), batched longest first and padded on the right; a record's NLL is summed over its
  labelled tokens (the logits at position t predict token t+1, as the model's own loss shifts them).
- Completions: batched `generate`, padded on the LEFT (a decoder-only model continues from the last position,
  so every row's prompt must end there), prompts grouped by their max_new_tokens and sorted by length so that a
  batch pads little and stops when its longest answer does. Greedy unless evaluate.generation.temperature is
  above 0 (then sampled with top_p, seeded once per run; top-k is off, as ONNX Runtime GenAI's settings give
  it). The model's end-of-sequence tokens end a completion; evaluate.generation.stop strings stop it too (passed
  to `generate`, which then stops that row) and the text is cut before the first one. A prompt longer than
  model.max_length keeps its last tokens (what is asked is at its end).

torch is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ml_ci.tasks.text_generation.runtime import Settings
from ml_ci.tasks.text_generation.scores import Completion, Loss

LOSS_BATCH = 8  # rows of model.max_length tokens: the logits of a batch are rows x length x vocabulary floats
GENERATE_BATCH = 32


def eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every token that ends a completion: the model's generation config's end tokens and the tokenizer's."""
    found = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = [found] if isinstance(found, int) else list(found or [])
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    return list(dict.fromkeys(int(i) for i in ids))


def losses(model: Any, encoded: dict[str, list[list[int]]], pad_id: int, batch_size: int = LOSS_BATCH) -> list[Loss]:
    """Each encoded row's summed NLL over its labelled tokens, and their number, in the rows' order."""
    import torch

    ids, labels = encoded["input_ids"], encoded["labels"]
    out: list[Loss | None] = [None] * len(ids)
    order = np.argsort([-len(x) for x in ids], kind="stable")
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = [int(i) for i in order[start : start + batch_size]]
            width = max(len(ids[i]) for i in idx)
            x = torch.full((len(idx), width), pad_id, dtype=torch.long)
            y = torch.full((len(idx), width), -100, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                n = len(ids[i])
                x[row, :n] = torch.tensor(ids[i], dtype=torch.long)
                y[row, :n] = torch.tensor(labels[i], dtype=torch.long)
                mask[row, :n] = 1
            device = model.device  # the inputs go where the weights are (a GPU when the loader put them there)
            logits = model(input_ids=x.to(device), attention_mask=mask.to(device)).logits[:, :-1].float()
            target = y[:, 1:].to(device)
            nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, ignore_index=-100, reduction="none")
            counted = (target != -100).sum(dim=1)
            for row, i in enumerate(idx):
                out[i] = Loss(float(nll[row].sum().cpu()), int(counted[row].cpu()))
    return [o for o in out if o is not None]


def _config(settings: Settings, limit: int, pad_id: int, eos: list[int]) -> Any:
    from transformers import GenerationConfig

    if settings.temperature > 0:
        return GenerationConfig(  # type: ignore[no-untyped-call]
            max_new_tokens=limit,
            do_sample=True,
            temperature=settings.temperature,
            top_p=settings.top_p,
            top_k=0,
            pad_token_id=pad_id,
            eos_token_id=eos,
        )
    # Only what greedy decoding uses: a model's own sampling defaults (Qwen's temperature 0.7) stay out.
    return GenerationConfig(max_new_tokens=limit, do_sample=False, pad_token_id=pad_id, eos_token_id=eos)  # type: ignore[no-untyped-call]


def cut_at_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where the first stop string begins in text, or None."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


def finish(tokens: Sequence[int], eos: Sequence[int]) -> tuple[list[int], bool]:
    """The generated tokens before the first end-of-sequence token, and whether there was one (the rows a
    batch finished early are padded with the pad token, which is often the end token too)."""
    ends = set(eos)
    for k, t in enumerate(tokens):
        if t in ends:
            return list(tokens[:k]), True
    return list(tokens), False


def completions(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[int]],
    limits: Sequence[int],
    settings: Settings,
    *,
    max_length: int,
    batch_size: int = GENERATE_BATCH,
) -> list[Completion]:
    """Each prompt's (token ids) completion with its own max_new_tokens, in the prompts' order."""
    import torch

    eos = eos_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    kept = [list(p)[-max_length:] for p in prompts]
    out: list[Completion | None] = [None] * len(kept)
    if settings.temperature > 0:
        torch.manual_seed(settings.seed)
    stop = {"stop_strings": list(settings.stop), "tokenizer": tokenizer} if settings.stop else {}
    groups: dict[int, list[int]] = {}
    for i, limit in enumerate(limits):
        groups.setdefault(int(limit), []).append(i)
    with torch.inference_mode():
        for limit, members in sorted(groups.items()):
            members.sort(key=lambda i: -len(kept[i]))
            config = _config(settings, limit, pad_id, eos)
            for start in range(0, len(members), batch_size):
                idx = members[start : start + batch_size]
                width = max(len(kept[i]) for i in idx)
                x = torch.full((len(idx), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    n = len(kept[i])
                    x[row, width - n :] = torch.tensor(kept[i], dtype=torch.long)
                    mask[row, width - n :] = 1
                generated = model.generate(
                    input_ids=x.to(model.device), attention_mask=mask.to(model.device), generation_config=config, **stop
                ).cpu()
                for row, i in enumerate(idx):
                    tokens, ended = finish([int(t) for t in generated[row, width:]], eos)
                    text = tokenizer.decode(tokens, skip_special_tokens=True)
                    at = cut_at_stop(text, settings.stop)
                    why = "stop" if at is not None else ("eos" if ended else "length")
                    out[i] = Completion(text if at is None else text[:at], len(tokens), why)
    return [o for o in out if o is not None]
