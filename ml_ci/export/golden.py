"""Golden examples: test texts with the predictions the served model must reproduce.

The image check (`ml-ci build`) and the deploy smoke test send these texts and compare: labels
equal, probabilities within the tolerance. An example whose top two probabilities are within
`2 * tolerance` is marked `near_tie`: its label may flip between two correct runtimes, so only its
probabilities are compared (a check that can flip for no reason is no check).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

# Probabilities from the same ONNX file under the same onnxruntime differ by ~1e-6 across
# machines (thread count, SIMD); 1e-3 leaves room for that and still catches a wrong model.
TOLERANCE = 1e-3
# Dynamic int8 quantizes activations with a scale taken from the whole batch, so a text's answer
# depends on the texts it is batched (and padded) with: measured up to 2e-3 on MiniLM.
TOLERANCE_INT8 = 2e-2


def tolerance_for(quantize: str) -> float:
    return TOLERANCE_INT8 if quantize == "int8" else TOLERANCE


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
    tolerance: float = TOLERANCE,
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


def mismatches(golden: dict[str, Any], answers: list[dict[str, Any]]) -> list[str]:
    """Where the answers (server `predictions`) differ from the golden ones: labels must be equal,
    probabilities within the recorded tolerance. Empty when they agree."""
    examples = golden["examples"]
    tolerance = float(golden["tolerance"])
    if len(answers) != len(examples):
        return [f"{len(answers)} answers for {len(examples)} golden examples"]
    problems = []
    for i, (example, answer) in enumerate(zip(examples, answers, strict=True)):
        want = example["expected"]
        if answer.get("label") != want["label"] and not example.get("near_tie"):
            problems.append(f"example {i} ({example['text'][:60]!r}): label {answer.get('label')!r}, expected {want['label']!r}")
            continue
        got = answer.get("probabilities") or {}
        worst = max((abs(float(got.get(k, float("nan"))) - float(v)) for k, v in want["probabilities"].items()), default=0.0)
        if not worst <= tolerance:  # written so that NaN (a missing label) is a mismatch
            problems.append(
                f"example {i} ({example['text'][:60]!r}): probabilities differ by {worst:.2e} (tolerance {tolerance})"
            )
    return problems
