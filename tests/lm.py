"""Tiny randomly initialised causal language models for tests (no model hub here): examples/assistant/make_base.py
builds them, as transformers' own tests build models from configs."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

MAKE_BASE = Path(__file__).resolve().parents[1] / "examples" / "assistant" / "make_base.py"


def _builder() -> Any:
    return runpy.run_path(str(MAKE_BASE))["build"]


def tiny_lm(folder: Path, kind: str = "llama", *, seed: int = 0) -> Path:
    """A tiny `kind` model (llama, qwen2 or gpt2) with its tokenizer and chat template, saved in folder/kind."""
    out = folder / kind
    if not (out / "config.json").is_file():
        _builder()(kind, out, seed=seed)
    return out
