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
        return cls(
            name=data["name"],
            labels=tuple(data["labels"]),
            max_length=int(data["max_length"]),
            onnx=data["onnx"],
            sha256=data["sha256"],
            inputs=tuple(data["inputs"]),
            pad_id=int(data["pad_id"]),
            raw=data,
        )


class Classifier:
    """Texts in, class probabilities out. Thread-compatible: the batcher calls it from one thread."""

    def __init__(self, folder: Path, *, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.manifest = Manifest.read(folder)
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER))
        self.tokenizer.enable_truncation(max_length=self.manifest.max_length)
        self.tokenizer.no_padding()  # padding is done per length group, below
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        # onnxruntime's pool spins after each run by default; the HTTP threads, the tokenizer and the
        # batcher share these cores, and spinning threads take their time (measured: benchmarks/serve.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(folder / self.manifest.onnx), options, providers=["CPUExecutionProvider"])

    @property
    def labels(self) -> tuple[str, ...]:
        return self.manifest.labels

    def logits(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """One row of logits per text, in order. Texts of similar length run together (see length_groups):
        on a CPU every padding token costs as much as a real one."""
        import numpy as np

        encodings = self.tokenizer.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]
        out = np.empty((len(texts), len(self.labels)), dtype=np.float32)
        for group in length_groups(lengths):
            width = max(lengths[i] for i in group)
            arrays = {name: np.zeros((len(group), width), dtype=np.int64) for name in self.manifest.inputs}
            arrays["input_ids"].fill(self.manifest.pad_id)
            for row, i in enumerate(group):
                e, n = encodings[i], lengths[i]
                arrays["input_ids"][row, :n] = e.ids
                if "attention_mask" in arrays:
                    arrays["attention_mask"][row, :n] = 1
                if "token_type_ids" in arrays:
                    arrays["token_type_ids"][row, :n] = e.type_ids
            out[group] = self.session.run(None, arrays)[0]
        return out

    def probabilities(self, texts: list[str]) -> npt.NDArray[np.float32]:
        return softmax(self.logits(texts))


def length_groups(lengths: list[int], waste: float = 0.25) -> list[list[int]]:
    """Indices grouped by length so that padding adds at most `waste` (25 %) to a group's real tokens."""
    groups: list[list[int]] = []
    width = real = 0  # of the current group: its first (longest) length, and its real tokens
    for i in sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True):
        if groups and width * (len(groups[-1]) + 1) <= (1 + waste) * (real + lengths[i]):
            groups[-1].append(i)
            real += lengths[i]
        else:
            groups.append([i])
            width = real = lengths[i]
    return groups


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    import numpy as np

    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    out: npt.NDArray[np.float32] = e / e.sum(axis=-1, keepdims=True)
    return out
