"""The ONNX graph of a task's model (`trace`, which the task's export half calls with its inputs), its int8
quantization, and a serving copy of a model as export writes it (what evaluate times latency on)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml_ci.tasks.protocols.export import TracedModel

# int8 settings, measured on the bundled example (benchmarks/README.md, "int8 quantization"): per-tensor
# weights (onnxruntime's default) flipped 7 of 200 validation answers (agreement 96.5%, accuracy -0.015);
# per-channel weights flipped 2, and keeping each attention block's output projection in float flipped 1,
# a near-exact tie (PyTorch's two logits 0.001 apart): agreement 99.5%, accuracy +0.005. Activations stay
# dynamic (a scale per batch, computed at run time): static activation scales need calibration data
# that matches production, and the parity check would not see a mismatch there.
INT8_PER_CHANNEL = True
# Nodes kept in float, by the name the TorchScript exporter gives them (BERT-family models: BERT, RoBERTa,
# MiniLM, ELECTRA); another architecture's nodes do not match and all of its MatMuls are quantized.
INT8_FLOAT_NODES = ("/attention/output/dense/",)


def trace(model: Any, names: tuple[str, ...], example: Any, path: Path, opset: int, logits_axes: dict[int, str]) -> None:
    """A Hugging Face model's `logits` as an ONNX graph at path, taking `names` (from the encoded `example`)
    positionally, with dynamic batch and sequence axes on the inputs and `logits_axes` on the output.

    The TorchScript-based exporter (`dynamo=False`): torch's default dynamo exporter needs onnxscript, which
    ml-ci does not install, and the TorchScript path exports BERT-style models with dynamic axes exactly
    (the task's parity check proves it on every export)."""
    import torch

    axes: dict[str, dict[int, str]] = {**{n: {0: "batch", 1: "sequence"} for n in names}, "logits": logits_axes}

    class Positional(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            return self.inner(**dict(zip(names, args, strict=True))).logits

    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # The exporter warns about its own deprecation and about tracing; the parity check is what tells.
        warnings.simplefilter("ignore")
        # The wrapper must be in eval mode too: the exporter restores the wrapper's mode on the way
        # out, which would otherwise leave dropout on in the reference model.
        torch.onnx.export(
            Positional(model).eval(),
            tuple(example[n] for n in names),
            str(path),
            input_names=list(names),
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )


def int8_excluded(node_names: list[str]) -> list[str]:
    """The nodes that int8 quantization keeps in float."""
    return [name for name in node_names if any(part in name for part in INT8_FLOAT_NODES)]


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization: weights per channel, activations quantized on the fly, the attention
    output projections kept in float (see INT8_FLOAT_NODES)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    names = [node.name for node in onnx.load(str(source), load_external_data=False).graph.node]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=INT8_PER_CHANNEL,
            nodes_to_exclude=int8_excluded(names),
        )


def serving_copy(
    traced: TracedModel,
    dest: Path,
    *,
    name: str,
    payload: dict[str, Any],
    max_length: int,
    opset: int,
    quantize: str,
    tokenizer: Path,
) -> Path:
    """dest/ as `ml-ci export` writes it, as far as the server reads it: model.onnx (int8 when package.quantize
    says so), tokenizer.json and model.json (the task's keys in `payload`). What evaluate times latency on."""
    import shutil

    from ml_ci.digest import file_sha256
    from ml_ci.records import model as model_record

    dest.mkdir(parents=True, exist_ok=True)
    onnx = dest / "model.onnx"
    if quantize == "int8":
        fp32 = dest / "fp32.onnx"
        traced.export(fp32, opset)
        quantize_int8(fp32, onnx)
    else:
        traced.export(onnx, opset)
    shutil.copyfile(tokenizer, dest / tokenizer.name)
    record = model_record.ModelRecord(
        name=name,
        task=None,
        payload=payload,
        max_length=max_length,
        onnx=onnx.name,
        sha256=file_sha256(onnx),
        inputs=tuple(traced.inputs),
        pad_id=traced.pad_id,
    )
    model_record.write(dest / model_record.FILE, record)
    return dest
