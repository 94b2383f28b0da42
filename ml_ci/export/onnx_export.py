"""PyTorch -> ONNX, and the PyTorch reference logits: the only module of the stage that imports torch.

The TorchScript-based exporter (`dynamo=False`) is used: torch 2.13's default dynamo exporter needs
onnxscript, which ml-ci does not install, and the TorchScript path exports BERT-style classifiers
with dynamic batch and sequence axes exactly (the parity check proves it on every export).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

AXES = {0: "batch", 1: "sequence"}


class TorchModel:
    """The trained Hugging Face model and its tokenizer, in eval mode on CPU."""

    def __init__(self, folder: Path, max_length: int) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.folder = folder
        self.max_length = max_length
        self.tokenizer: Any = AutoTokenizer.from_pretrained(folder)
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError("the model's tokenizer has no fast (tokenizer.json) version, which serving needs")
        # Eager attention traces into plain ONNX ops; SDPA's shape checks would be frozen by the tracer.
        self.model: Any = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()
        names = self.tokenizer.model_input_names
        self.inputs = tuple(n for n in ("input_ids", "attention_mask", "token_type_ids") if n in names)

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id or 0)

    def id2label(self) -> dict[int, str]:
        return {int(k): str(v) for k, v in self.model.config.id2label.items()}

    def encode(self, texts: list[str]) -> dict[str, Any]:
        return dict(self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"))

    def logits(self, texts: list[str], batch_size: int = 32) -> npt.NDArray[np.float32]:
        import numpy as np
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                enc = self.encode(texts[i : i + batch_size])
                out.append(self.model(**{k: enc[k] for k in self.inputs}).logits.float().numpy())
        return np.concatenate(out).astype(np.float32)

    def export(self, path: Path, opset: int) -> None:
        import torch

        # A padded batch of two lengths, so that the traced graph has the attention-mask path.
        example = self.encode(["a short text", "a somewhat longer text that needs more tokens than the first"])
        names = self.inputs
        axes: dict[str, dict[int, str]] = {**{n: AXES for n in names}, "logits": {0: "batch"}}

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
                Positional(self.model).eval(),
                tuple(example[n] for n in names),
                str(path),
                input_names=list(names),
                output_names=["logits"],
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
            )


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
