"""The model folder evaluate is given: checked before anything runs, and its size on disk.

Running the model is the task's (`EvaluationHalf.load`, `predict`); latency: `ml_ci.evaluate.latency`.
"""

from __future__ import annotations

from pathlib import Path

from ml_ci.errors import OperationalError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")
# A trained adapter (peft; text-generation's LoRA): its own config and weights, read on top of model.base.
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def is_model_dir(folder: Path) -> bool:
    """A Hugging Face model folder, or a peft adapter folder."""
    return (folder / "config.json").is_file() or (folder / ADAPTER_CONFIG).is_file()


def check_model_dir(model_dir: Path) -> None:
    if not model_dir.is_dir():
        raise OperationalError(f"model folder {model_dir} does not exist: run `ml-ci train` first, or pass --model DIR")
    if not is_model_dir(model_dir):
        raise OperationalError(f"model folder {model_dir} has no config.json: it is not a Hugging Face model folder")
    weights = ADAPTER_WEIGHTS if not (model_dir / "config.json").is_file() else WEIGHT_FILES
    if not any((model_dir / name).is_file() for name in weights):
        raise OperationalError(f"model folder {model_dir} has no weights ({' or '.join(weights[:2])})")


def folder_size_mb(folder: Path) -> float:
    """Everything the model folder ships (weights, config, tokenizer), in MB (10^6 bytes)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6
