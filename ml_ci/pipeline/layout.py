"""Where each stage reads and writes, relative to the model repository (the folder of ml.yaml).

One place for these paths, so that the CLI, `ml-ci run`, the composite actions and the
generated workflows agree. Everything lives under `.ml-ci/` (git-ignored in model repos).
Every file that crosses a stage boundary is an `Artifact` below, with a `Layout` property; a
stage that writes into a temporary folder renamed into place names the file with `within`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STATE_DIR = ".ml-ci"
STAGES = ("data-check", "tune", "train", "evaluate", "export", "build", "deploy")


@dataclass(frozen=True)
class Artifact:
    """A file (or folder) that a stage writes into its artifacts folder for later stages to read."""

    stage: str
    name: str  # relative to the stage's artifacts folder; "." for the folder itself
    folder: bool = False

    def within(self, folder: Path) -> Path:
        """Its path inside folder: the stage's artifacts folder, or a temporary one renamed into its place."""
        return folder / self.name

    def __str__(self) -> str:
        """As the docs name it, relative to .ml-ci/artifacts: train/metrics.json, export/."""
        if self.name == ".":
            return f"{self.stage}/"
        return f"{self.stage}/{self.name}" + ("/" if self.folder else "")


DATA_REPORT = Artifact("data-check", "report.json")
BEST_PARAMS = Artifact("tune", "best_params.json")
TUNE_REPORT = Artifact("tune", "report.json")
MODEL = Artifact("train", "model", folder=True)  # Hugging Face save_pretrained folder (weights as safetensors, tokenizer)
TRAIN_METRICS = Artifact("train", "metrics.json")
LINEAGE = Artifact("train", "lineage.json")
EVAL_RECORD = Artifact("evaluate", "eval.json")
EXPORT = Artifact("export", ".", folder=True)  # the serving bundle: what `ml-ci serve` and the image load
MODEL_RECORD = Artifact("export", "model.json")
GOLDEN = Artifact("export", "golden.json")
IMAGE_RECORD = Artifact("build", "image.json")
ARTIFACTS = (
    DATA_REPORT,
    BEST_PARAMS,
    TUNE_REPORT,
    MODEL,
    TRAIN_METRICS,
    LINEAGE,
    EVAL_RECORD,
    EXPORT,
    MODEL_RECORD,
    GOLDEN,
    IMAGE_RECORD,
)


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

    def path(self, artifact: Artifact) -> Path:
        return artifact.within(self.artifacts(artifact.stage))

    # The files that cross stage boundaries.
    @property
    def data_report(self) -> Path:
        return self.path(DATA_REPORT)

    @property
    def best_params(self) -> Path:
        return self.path(BEST_PARAMS)

    @property
    def tune_report(self) -> Path:
        return self.path(TUNE_REPORT)

    @property
    def model_dir(self) -> Path:
        """Trained model: Hugging Face save_pretrained folder (weights as safetensors, tokenizer)."""
        return self.path(MODEL)

    @property
    def train_metrics(self) -> Path:
        return self.path(TRAIN_METRICS)

    @property
    def lineage(self) -> Path:
        return self.path(LINEAGE)

    @property
    def eval_record(self) -> Path:
        return self.path(EVAL_RECORD)

    @property
    def export_dir(self) -> Path:
        return self.path(EXPORT)

    @property
    def model_record(self) -> Path:
        return self.path(MODEL_RECORD)

    @property
    def golden(self) -> Path:
        return self.path(GOLDEN)

    @property
    def image_record(self) -> Path:
        return self.path(IMAGE_RECORD)

    def deployed(self, environment: str) -> Path:
        """What `ml-ci deploy` left running in an environment on this machine, for `ml-ci promote`
        (release.json, eval.json, golden.json; ml_ci.deploy.state)."""
        return self.state / "state" / environment


# The paths as commands running in the model repository name them: CI steps, `ml-ci run`'s stage commands.
IN_REPO = Layout(Path("."))
