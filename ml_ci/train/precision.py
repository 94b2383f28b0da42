"""Which floating-point precision a run trains in, from train.precision and the device (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ml_ci.errors import ConfigError, Problem

Precision = Literal["fp32", "bf16", "fp16"]


@dataclass(frozen=True)
class Device:
    """What the trainer runs on; probed once by `fit`, passed in here so tests need no GPU."""

    cuda: bool
    bf16: bool = False  # the GPU computes in bfloat16 natively (Ampere and later)
    name: str = "cpu"


def choose(requested: str, device: Device, *, source: str = "ml.yaml") -> Precision:
    """`auto` is bf16 on a GPU that supports it, fp32 otherwise; an explicit choice the device cannot
    honour is a config error rather than a silent fallback, so a run never trains in a precision
    that nobody asked for."""

    def refuse(message: str) -> ConfigError:
        return ConfigError([Problem(source, 0, 0, "train.precision", message)])

    if requested == "auto":
        return "bf16" if device.cuda and device.bf16 else "fp32"
    if requested == "fp32":
        return "fp32"
    if not device.cuda:
        if requested == "bf16":
            raise refuse(
                "bf16 was asked for, but this machine has no CUDA GPU. On a CPU, bf16 mixed precision is "
                "emulated on most processors (no AMX/AVX512-BF16), so it is slower than fp32 and its results "
                "differ from a GPU run; use `precision: auto` (bf16 on a GPU that supports it, fp32 on CPU) or fp32"
            )
        raise refuse(f"{requested} needs a CUDA GPU and this machine has none; use `precision: auto` or fp32")
    if requested == "bf16" and not device.bf16:
        raise refuse(
            f"bf16 was asked for, but the GPU {device.name} does not support it (it needs compute capability 8.0+); "
            "use fp16 or `precision: auto`"
        )
    return "bf16" if requested == "bf16" else "fp16"
