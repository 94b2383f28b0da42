"""Where each stage reads and writes, relative to the model repository (the folder of ml.yaml).

One place for these paths, so that the CLI, `ml-ci run`, the composite actions and the
generated workflows agree. Everything lives under `.ml-ci/` (git-ignored in model repos).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STATE_DIR = ".ml-ci"
STAGES = ("data-check", "tune", "train", "evaluate", "export", "build", "deploy")


@dataclass(frozen=True)
class Layout:
    root: Path  # the model repository

    @property
    def state(self) -> Path:
        return self.root / STATE_DIR

    def artifacts(self, stage: str) -> Path:
        """Output folder of a stage, e.g. .ml-ci/artifacts/train."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}")
        return self.state / "artifacts" / stage

    @property
    def cache(self) -> Path:
        """Content-addressed stage cache (see ml_ci.cache)."""
        return self.state / "cache"

    # The files that cross stage boundaries.
    @property
    def data_report(self) -> Path:
        return self.artifacts("data-check") / "report.json"

    @property
    def best_params(self) -> Path:
        return self.artifacts("tune") / "best_params.json"

    @property
    def model_dir(self) -> Path:
        """Trained model: Hugging Face save_pretrained folder (weights as safetensors, tokenizer)."""
        return self.artifacts("train") / "model"

    @property
    def eval_record(self) -> Path:
        return self.artifacts("evaluate") / "eval.json"

    @property
    def export_dir(self) -> Path:
        return self.artifacts("export")

    @property
    def image_record(self) -> Path:
        return self.artifacts("build") / "image.json"
