"""What a deploy ships (the image by digest and the records deployed beside it) and what it reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ml_ci.config.model import Config
from ml_ci.jsonfile import read_json
from ml_ci.pipeline.layout import Layout
from ml_ci.records import image as image_record
from ml_ci.records import model as model_record
from ml_ci.records.imageref import ImageRef, parse
from ml_ci.records.release import Release


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """What a deploy ships: the image, its evaluation record and its golden examples."""

    image: ImageRef
    eval_record: Any
    golden: Any  # golden.json as read, or None when there is none
    source: str = "deploy"
    model_sha256: Optional[str] = None  # of the served model file (export/model.json): what the server must report


@dataclass(frozen=True)
class Result:
    release: Release
    changed: bool
    message: str
    commit: Optional[str] = None
    pull_request: Optional[str] = None


def build_inputs(config: Config, image: Optional[str]) -> Inputs:
    """The inputs of a fresh deploy: --image or build/image.json, evaluate/eval.json, export/golden.json."""
    layout = Layout(config.root)
    ref = parse(image) if image else image_record.read_reference(layout.image_record)
    eval_record = read_json(layout.eval_record, "the evaluation record", "run `ml-ci evaluate` first")
    golden_path = layout.golden
    golden = read_json(golden_path, "golden examples", "") if golden_path.is_file() else None
    model_path = layout.model_record
    model = read_json(model_path, "the model manifest", "") if model_path.is_file() else {}
    return Inputs(image=ref, eval_record=eval_record, golden=golden, model_sha256=model_record.sha256_of(model))
