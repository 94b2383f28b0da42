"""The base model's tokenizer, for the data check's count of sentences longer than model.max_length subwords.

Only the `tokenizers` package and the model's tokenizer.json: no torch, no transformers, so `ml-ci data check`
stays quick. model.base is found as ml_ci.train.base_model finds it (a folder in the repository, a
`package:<module>/<folder>`, or a hub id, read through huggingface_hub's cache); when the tokenizer cannot be
had, the check says it was not measured and why, rather than failing the stage on a missing download.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_ci.train import base_model


@dataclass(frozen=True)
class Loaded:
    tokenizer: Any  # tokenizers.Tokenizer, or None when it could not be had
    why: str  # what stopped it, when it could not


def _folder(base: str, root: Path | None) -> Path | None:
    """The model's folder, or None for a hub id."""
    return base_model.folder_of(base, root)


def identity(base: str, root: Path | None) -> str | None:
    """The sha256 of model.base's tokenizer.json when it is on disk (a folder or a package's), else None (a hub id
    is named by itself): what the truncation check's result depends on, for the data check's cache key."""
    try:
        folder = _folder(base, root)
    except (ModuleNotFoundError, ValueError):
        return None
    path = folder / "tokenizer.json" if folder is not None else None
    if path is None or not path.is_file():
        return None
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@functools.lru_cache(maxsize=4)
def load(base: str, root: Path | None) -> Loaded:
    """The tokenizer of model.base (truncation and padding off), or why it could not be had."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        return Loaded(None, "the tokenizers package is not installed (pip install 'ml-ci[serve]')")
    try:
        folder = _folder(base, root)
        if folder is None:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(base, "tokenizer.json"))
        else:
            path = folder / "tokenizer.json"
            if not path.is_file():
                return Loaded(None, f"{base!r} has no tokenizer.json (a fast tokenizer's file)")
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as e:  # any failure to get the tokenizer leaves the check unmeasured, and says why
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return Loaded(None, f"cannot read the tokenizer of {base!r}: {first}")
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return Loaded(tokenizer, "")


@dataclass(frozen=True)
class Length:
    subwords: int  # with the model's special tokens
    cut: int  # words whose first subword falls beyond max_length: no tag is learned or predicted for them


def lengths(tokenizer: Any, sentences: Sequence[list[str]], max_length: int) -> list[Length]:
    """Each sentence's length in subwords, and how many of its words truncation at max_length would cut."""
    out: list[Length] = []
    for encoding in tokenizer.encode_batch([list(s) for s in sentences], is_pretokenized=True) if sentences else []:
        ids = encoding.word_ids
        content = [w for w in ids if w is not None]
        specials = len(ids) - len(content)
        kept = max(0, max_length - specials)
        before = set(content[:kept])
        out.append(Length(len(ids), len({w for w in content[kept:] if w not in before})))
    return out
