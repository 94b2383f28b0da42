"""What every task's exported model runs on in the server: the onnxruntime session as the server
configures it, and encoded inputs padded and run by length group. numpy, tokenizers' encodings and
onnxruntime only (imported when used): the serving image has them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml_ci.records.model import ModelRecord
    from ml_ci.serve.device import Device


def session(path: Path, threads: int = 0, device: Device | None = None) -> Any:
    """The ONNX model at path on the device (None: ML_CI_SERVE_DEVICE's, the CPU when unset; a GPU that cannot
    run it is an error, see ml_ci.serve.device); `threads` for its intra-op pool (0: onnxruntime's choice)."""
    from ml_ci.serve import device as devices

    where = devices.selected() if device is None else device
    devices.preload(where)
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # onnxruntime's pool spins after each run by default; the HTTP threads, the tokenizer and the
    # batcher share these cores, and spinning threads take their time (measured: benchmarks/serve.py).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return devices.check_session(ort.InferenceSession(str(path), options, providers=devices.providers(where)), where)


def runs(model: Any, record: ModelRecord, encodings: Sequence[Any]) -> Iterator[tuple[list[int], Any]]:
    """The model's first output for the encodings (tokenizers' Encoding: ids, type_ids), run in groups of
    similar length (see length_groups: on a CPU every padding token costs as much as a real one): each
    group's indices into `encodings` and its output, rows in the group's order."""
    import numpy as np

    lengths = [len(e.ids) for e in encodings]
    for group in length_groups(lengths):
        width = max(lengths[i] for i in group)
        arrays = {name: np.zeros((len(group), width), dtype=np.int64) for name in record.inputs}
        arrays["input_ids"].fill(record.pad_id)
        for row, i in enumerate(group):
            e, n = encodings[i], lengths[i]
            arrays["input_ids"][row, :n] = e.ids
            if "attention_mask" in arrays:
                arrays["attention_mask"][row, :n] = 1
            if "token_type_ids" in arrays:
                arrays["token_type_ids"][row, :n] = e.type_ids
        yield group, model.run(None, arrays)[0]


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
