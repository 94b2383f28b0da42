"""golden.json: examples with the answers the served model must give back, written by `ml-ci export`.

The image check (`ml-ci build`) and the deploy smoke test send each example's input and compare the
answer (`ml_ci.serving_client`, with the task's comparison). The record knows the envelope: the
tolerance and the list of examples; the task's keys beside them (a classifier's `labels`) and the
examples themselves are its opaque payload, read by the task's serving half.

Version 1 is the format before records were versioned, so its files carry no `version` key; a change
of format writes `"version": 2` and says here what reads version 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_ci.errors import OperationalError
from ml_ci.jsonfile import JsonFileError, load_json

FILE = "golden.json"
VERSION = 1
# Probabilities from the same ONNX file under the same onnxruntime differ by ~1e-6 across machines
# (thread count, SIMD); 1e-3 leaves room for that and still catches a wrong model. What a golden.json
# that records no tolerance of its own is checked with.
DEFAULT_TOLERANCE = 1e-3
# Dynamic int8 quantizes activations with a scale taken from the whole batch, so an input's answer
# depends on the inputs it is batched (and padded) with: measured up to 2e-3 on MiniLM.
TOLERANCE_INT8 = 2e-2


def tolerance_for(quantize: str) -> float:
    """The tolerance `ml-ci export` records for a model quantized so (package.quantize)."""
    return TOLERANCE_INT8 if quantize == "int8" else DEFAULT_TOLERANCE


@dataclass(frozen=True, kw_only=True)
class GoldenRecord:
    examples: tuple[Any, ...]  # the task's rows, opaque here
    tolerance: float | None = None  # how far a served answer may be from the recorded one
    payload: dict[str, Any] = field(default_factory=dict)  # the task's keys beside the examples, written first
    version: int = VERSION

    @property
    def allowed(self) -> float:
        """The tolerance checks use: the recorded one, else DEFAULT_TOLERANCE."""
        return DEFAULT_TOLERANCE if self.tolerance is None else self.tolerance

    def data(self) -> dict[str, Any]:
        """The JSON object, in the order `ml-ci export` has always written it."""
        out = {**self.payload, "tolerance": self.tolerance, "examples": list(self.examples)}
        if self.version != 1:
            out["version"] = self.version
        return out

    def first(self, count: int) -> GoldenRecord:
        return GoldenRecord(examples=self.examples[:count], tolerance=self.tolerance, payload=self.payload, version=self.version)

    @classmethod
    def from_data(cls, data: Any, source: str) -> GoldenRecord:
        """golden.json as parsed (a bare list of examples is taken too); OperationalError naming `source`
        when it holds no examples."""
        rows = data.get("examples") if isinstance(data, dict) else data
        if not isinstance(rows, list) or not rows:
            raise OperationalError(f'{source}: no golden examples in it (expected "examples": [{{text, expected}}])')
        if not isinstance(data, dict):
            return cls(examples=tuple(rows))
        tolerance = data.get("tolerance")
        return cls(
            examples=tuple(rows),
            tolerance=float(tolerance) if isinstance(tolerance, (int, float)) else None,
            payload={k: v for k, v in data.items() if k not in ("tolerance", "examples", "version")},
            version=int(data.get("version", 1)),
        )


def read(path: Path) -> GoldenRecord:
    """OperationalError naming the file when it is absent, not JSON or holds no examples."""
    try:
        data = load_json(path)
    except JsonFileError as e:
        if e.reason == "missing":
            raise OperationalError(f"{path}: golden examples are missing; run `ml-ci export`") from None
        raise OperationalError(f"{path}: cannot read golden examples: {e.detail}") from None
    return GoldenRecord.from_data(data, str(path))


def write(path: Path, record: GoldenRecord) -> None:
    """path, whole or not at all."""
    from ml_ci.atomic import write_json

    write_json(path, record.data())
