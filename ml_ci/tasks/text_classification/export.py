"""text-classification's export half (`ml_ci.tasks.protocols.export.ExportHalf`): the model class and its
ONNX graph, the parity check against PyTorch, and the golden examples.

The TorchScript-based exporter (`dynamo=False`) is used: torch 2.13's default dynamo exporter needs
onnxscript, which ml-ci does not install, and the TorchScript path exports BERT-style classifiers
with dynamic batch and sequence axes exactly (the parity check proves it on every export).

Parity compares logits (examples x classes) on the validation split: how many answers (argmax) agree,
and how much accuracy drops. Golden examples are test texts with the served model's prediction (label
and probabilities) and PyTorch's; an example whose top two probabilities are within `2 * tolerance` is
marked `near_tie` (see the serving half's comparison).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ml_ci.records.golden import DEFAULT_TOLERANCE, GoldenRecord
from ml_ci.tasks.text_classification.config import of as spec_of

if TYPE_CHECKING:
    from ml_ci.config.model import Config, Package
    from ml_ci.records.model import ModelRecord
    from ml_ci.tasks.text_classification.serving import Classifier

Floats = npt.NDArray[np.float32]


# --- the model and its graph ------------------------------------------------------------------


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
        from ml_ci.export.onnx_export import trace

        # A padded batch of two lengths, so that the traced graph has the attention-mask path.
        example = self.encode(["a short text", "a somewhat longer text that needs more tokens than the first"])
        trace(self.model, self.inputs, example, path, opset, {0: "batch"})


SERVED_FILES: tuple[str, ...] = ()  # model.onnx and tokenizer.json are all it serves from


def load(model_dir: Path, config: Config) -> TorchModel:
    """The trained model, checked against ml.yaml: as many outputs as data.labels."""
    from ml_ci.errors import OperationalError

    labels = spec_of(config).labels
    torch_model = TorchModel(model_dir, config.model.max_length)
    if len(torch_model.id2label()) != len(labels):
        raise OperationalError(f"the model has {len(torch_model.id2label())} outputs but data.labels has {len(labels)}")
    return torch_model


def manifest_payload(config: Config) -> dict[str, Any]:
    return {"labels": list(spec_of(config).labels)}


def image_labels(model: ModelRecord) -> dict[str, str]:
    """The label names, comma-separated, as `io.ml-ci.model.labels`."""
    return {"labels": ",".join(model.payload["labels"])}


def examples(dataset: Any) -> tuple[list[str], list[int]]:
    """A split's texts and gold label indices."""
    return list(dataset["text"]), [int(x) for x in dataset["label"]]


# --- parity -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Parity:
    examples: int
    max_abs_logit_diff: float
    mean_abs_logit_diff: float
    agreement: float
    accuracy_pytorch: float | None
    accuracy_exported: float | None
    accuracy_drop: float | None
    min_agreement: float
    max_accuracy_drop: float

    @property
    def failures(self) -> list[str]:
        problems = []
        if self.agreement < self.min_agreement:
            problems.append(
                f"the exported model agrees with PyTorch on {self.agreement:.2%} of {self.examples} validation "
                f"examples; package.min_agreement is {self.min_agreement:.2%}"
            )
        if self.accuracy_drop is not None and self.accuracy_drop > self.max_accuracy_drop:
            problems.append(
                f"accuracy drops by {self.accuracy_drop:.4f} ({self.accuracy_pytorch:.4f} in PyTorch, "
                f"{self.accuracy_exported:.4f} exported); package.max_accuracy_drop is {self.max_accuracy_drop}"
            )
        return problems

    @property
    def passed(self) -> bool:
        return not self.failures

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed, "failures": self.failures}

    def summary(self) -> str:
        """The line `ml-ci export` prints."""
        line = (
            f"parity on {self.examples} validation examples: agreement {self.agreement:.2%}, "
            f"max |logit diff| {self.max_abs_logit_diff:.2e}"
        )
        if self.accuracy_exported is not None:
            line += f", accuracy {self.accuracy_pytorch:.4f} -> {self.accuracy_exported:.4f}"
        return line


def compare(
    reference: Floats, exported: Floats, truth: list[int] | None, *, min_agreement: float, max_accuracy_drop: float
) -> Parity:
    """reference and exported are logits (examples x classes); truth the gold label indices, when known."""
    if reference.shape != exported.shape or reference.ndim != 2 or reference.shape[0] == 0:
        raise ValueError(f"logits of shape {reference.shape} and {exported.shape} cannot be compared")
    diff = np.abs(reference.astype(np.float64) - exported.astype(np.float64))
    ref_pred, exp_pred = reference.argmax(axis=1), exported.argmax(axis=1)
    acc_ref = acc_exp = drop = None
    if truth is not None:
        gold = np.asarray(truth)
        acc_ref, acc_exp = float((ref_pred == gold).mean()), float((exp_pred == gold).mean())
        drop = acc_ref - acc_exp
    return Parity(
        examples=int(reference.shape[0]),
        max_abs_logit_diff=float(diff.max()),
        mean_abs_logit_diff=float(diff.mean()),
        agreement=float((ref_pred == exp_pred).mean()),
        accuracy_pytorch=acc_ref,
        accuracy_exported=acc_exp,
        accuracy_drop=drop,
        min_agreement=min_agreement,
        max_accuracy_drop=max_accuracy_drop,
    )


def parity(model: TorchModel, served: Classifier, inputs: list[str], truth: Any, package: Package) -> Parity:
    """PyTorch's logits against the served model's on the same texts, judged by package's thresholds."""
    return compare(
        model.logits(inputs),
        served.logits(inputs),
        truth,
        min_agreement=package.min_agreement,
        max_accuracy_drop=package.max_accuracy_drop,
    )


def read_parity(data: dict[str, Any]) -> Parity:
    """parity.json back (its `quantize`, `sha256`, `passed` and `failures` are left to the file)."""
    names = set(Parity.__dataclass_fields__)
    return Parity(**{k: v for k, v in data.items() if k in names})


# --- golden examples --------------------------------------------------------------------------


def _prediction(labels: tuple[str, ...], row: npt.NDArray[np.float32]) -> dict[str, Any]:
    probabilities = {label: round(float(p), 7) for label, p in zip(labels, row, strict=True)}
    return {"label": labels[int(row.argmax())], "probabilities": probabilities}


def golden_record(
    texts: list[str],
    truth: list[int] | None,
    labels: tuple[str, ...],
    expected: npt.NDArray[np.float32],
    pytorch: npt.NDArray[np.float32],
    count: int,
    tolerance: float = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """The first `count` examples; `expected` (the served model's probabilities) is what checks compare to."""
    examples: list[dict[str, Any]] = []
    for i, text in enumerate(texts[:count]):
        top2 = np.sort(expected[i])[-2:]
        examples.append(
            {
                "text": text,
                "label": labels[truth[i]] if truth is not None else None,
                "expected": _prediction(labels, expected[i]),
                "pytorch": _prediction(labels, pytorch[i]),
                "near_tie": bool(len(labels) > 1 and top2[1] - top2[0] <= 2 * tolerance),
            }
        )
    return {"labels": list(labels), "tolerance": tolerance, "examples": examples}


def golden(model: TorchModel, served: Classifier, inputs: list[str], truth: Any, count: int, tolerance: float) -> GoldenRecord:
    """golden.json for the first `count` examples: the served model's answers, and PyTorch's beside them."""
    from ml_ci.tasks.text_classification.serving import softmax

    data = golden_record(
        inputs, truth, served.labels, served.probabilities(inputs), softmax(model.logits(inputs)), count, tolerance
    )
    return GoldenRecord(examples=tuple(data["examples"]), tolerance=data["tolerance"], payload={"labels": data["labels"]})
