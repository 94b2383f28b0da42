"""model.json: what `ml-ci export` says of the exported model, read by the server, the build and deploy.

Torch-free and standard library only: the serving image reads it. The task's own keys (a classifier's
`labels`) are an opaque payload that only the task reads; they are written right after `task`.

Version 1 is the format before records were versioned, so its files carry no `version` key; a change
of format writes `"version": 2` and says here what reads version 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE = "model.json"  # in the export folder (ml_ci.pipeline.layout.MODEL_RECORD)
VERSION = 1
# Written in this order, with the task's payload after `task`.
HEAD = ("name", "task")
TAIL = (
    "max_length",
    "onnx",
    "sha256",
    "quantize",
    "opset",
    "inputs",
    "pad_id",
    "source_sha256",
    "lineage",
    "metrics",
    "ml_ci_version",
    "versions",
    "exported_at",
)


@dataclass(frozen=True, kw_only=True)
class ModelRecord:
    name: str
    task: str | None  # None in a serving copy that names no task (evaluate's latency measurement)
    max_length: int
    onnx: str  # file name inside the export folder
    sha256: str  # of the ONNX file
    inputs: tuple[str, ...]  # the graph's input names, in order
    pad_id: int
    payload: dict[str, Any] = field(default_factory=dict)  # the task's keys, opaque here
    # What the export records about where the model came from; absent from a bare serving copy.
    quantize: str | None = None
    opset: int | None = None
    source_sha256: str | None = None
    lineage: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    ml_ci_version: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    exported_at: str | None = None
    version: int = VERSION

    def data(self) -> dict[str, Any]:
        """The JSON object, in the order `ml-ci export` has always written it."""
        values = {f: getattr(self, f) for f in (*HEAD, *TAIL)}
        values["inputs"] = list(self.inputs)
        out = {k: values[k] for k in HEAD}
        out.update(self.payload)
        out.update({k: values[k] for k in TAIL})
        if self.version != 1:
            out["version"] = self.version
        return out

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ModelRecord:
        """KeyError, TypeError or ValueError when a key the server needs is missing or of the wrong type."""
        known = {*HEAD, *TAIL, "version"}
        return cls(
            name=data["name"],
            task=data.get("task"),
            max_length=int(data["max_length"]),
            onnx=data["onnx"],
            sha256=data["sha256"],
            inputs=tuple(data["inputs"]),
            pad_id=int(data["pad_id"]),
            payload={k: v for k, v in data.items() if k not in known},
            quantize=data.get("quantize"),
            opset=data.get("opset"),
            source_sha256=data.get("source_sha256"),
            lineage=data.get("lineage") or {},
            metrics=data.get("metrics") or {},
            ml_ci_version=data.get("ml_ci_version"),
            versions=data.get("versions") or {},
            exported_at=data.get("exported_at"),
            version=int(data.get("version", 1)),
        )


def sha256_of(data: Any) -> str | None:
    """The served model's digest from a model.json as parsed; None when it names none. Deploy checks the
    running server against it when the file is there, and takes a hand-made one that has only `sha256`."""
    sha = data.get("sha256") if isinstance(data, dict) else None
    return sha if isinstance(sha, str) else None


def read(path: Path) -> ModelRecord:
    """OSError or ValueError (KeyError included) when absent or unreadable."""
    return ModelRecord.from_data(json.loads(path.read_text(encoding="utf-8")))


def write(path: Path, record: ModelRecord) -> None:
    """path, whole or not at all."""
    from ml_ci.atomic import write_json

    write_json(path, record.data())
