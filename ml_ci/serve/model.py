"""The exported model as the server runs it: tokenizers + onnxruntime + numpy, no torch.

The export stage's parity check runs this very class, so that what was checked is what is served.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

MANIFEST = "model.json"
TOKENIZER = "tokenizer.json"


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """model.json, written by `ml-ci export`."""

    name: str
    labels: tuple[str, ...]
    max_length: int
    onnx: str  # file name inside the model folder
    sha256: str  # of the ONNX file
    inputs: tuple[str, ...]
    pad_id: int
    raw: dict[str, Any]

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return cls(name=data["name"], labels=tuple(data["labels"]), max_length=int(data["max_length"]), onnx=data["onnx"],
                   sha256=data["sha256"], inputs=tuple(data["inputs"]), pad_id=int(data["pad_id"]), raw=data)


class Classifier:
    """Texts in, class probabilities out. Thread-compatible: the batcher calls it from one thread."""

    def __init__(self, folder: Path, *, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.manifest = Manifest.read(folder)
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER))
        self.tokenizer.enable_truncation(max_length=self.manifest.max_length)
        # Pad to the longest text of each batch, not to max_length: short texts stay cheap.
        self.tokenizer.enable_padding(pad_id=self.manifest.pad_id)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(folder / self.manifest.onnx), options, providers=["CPUExecutionProvider"])

    @property
    def labels(self) -> tuple[str, ...]:
        return self.manifest.labels

    def logits(self, texts: list[str]) -> npt.NDArray[np.float32]:
        import numpy as np

        encodings = self.tokenizer.encode_batch(texts)
        arrays = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        feeds = {name: arrays[name] for name in self.manifest.inputs}
        out: npt.NDArray[np.float32] = self.session.run(None, feeds)[0]
        return out

    def probabilities(self, texts: list[str]) -> npt.NDArray[np.float32]:
        return softmax(self.logits(texts))


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    import numpy as np

    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    out: npt.NDArray[np.float32] = e / e.sum(axis=-1, keepdims=True)
    return out
