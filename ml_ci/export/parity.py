"""Compare PyTorch with the exported model on the same texts: pure, tested on toy arrays."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]


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
