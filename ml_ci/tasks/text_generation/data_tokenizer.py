"""The base model's tokenizer, for the data check's chat-template check and its count of records longer than
model.max_length tokens once templated.

transformers' PreTrainedTokenizerFast (tokenizer.json, the special tokens and the chat template of
tokenizer_config.json or chat_template.jinja): what `render` needs (apply_chat_template, the eos token), and
it imports no torch, so `ml-ci data check` stays quick. model.base is found as ml_ci.train.base_model finds it
(a folder in the repository, a `package:<module>/<folder>`, or a hub id, read through huggingface_hub's cache);
when the tokenizer cannot be had, the checks say they were not measured and why, rather than failing the stage
on a missing download.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_ci.train import base_model

# What decides the tokens and the template: the vocabulary and merges, the special tokens, the chat template.
FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "chat_template.json")


@dataclass(frozen=True)
class Loaded:
    tokenizer: Any  # a transformers PreTrainedTokenizerFast, or None when it could not be had
    why: str  # what stopped it, when it could not


def identity(base: str, root: Path | None) -> str | None:
    """The sha256 over model.base's tokenizer files (names and bytes) when it is on disk, else None (a hub id is
    named by itself, with model.revision): what the template and truncation checks depend on, for the cache key."""
    try:
        folder = base_model.folder_of(base, root)
    except (ModuleNotFoundError, ValueError):
        return None
    if folder is None:
        return None
    found = [folder / name for name in FILES if (folder / name).is_file()]
    if not found:
        return None
    digest = hashlib.sha256()
    for path in found:
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + digest.hexdigest()


@functools.lru_cache(maxsize=4)
def load(base: str, root: Path | None) -> Loaded:
    """The tokenizer of model.base, or why it could not be had."""
    try:
        from transformers import PreTrainedTokenizerFast
    except ImportError:
        return Loaded(None, "the transformers package is not installed (pip install 'ml-ci[train]')")
    try:
        folder = base_model.folder_of(base, root)
        if folder is not None and not (folder / "tokenizer.json").is_file():
            return Loaded(None, f"{base!r} has no tokenizer.json (a fast tokenizer's file)")
        tokenizer = PreTrainedTokenizerFast.from_pretrained(str(folder) if folder is not None else base)
    except Exception as e:  # any failure to get the tokenizer leaves the checks unmeasured, and says why
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return Loaded(None, f"cannot read the tokenizer of {base!r}: {first}")
    return Loaded(tokenizer, "")
