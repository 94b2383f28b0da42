"""Precision: auto is bf16 on a GPU that supports it and fp32 on CPU; an impossible choice is refused."""

from __future__ import annotations

import pytest

from ml_ci.errors import ConfigError
from ml_ci.train.precision import Device, choose

CPU = Device(cuda=False)
AMPERE = Device(cuda=True, bf16=True, name="A100")
TURING = Device(cuda=True, bf16=False, name="T4")


@pytest.mark.parametrize(
    ("requested", "device", "chosen"),
    [
        ("auto", CPU, "fp32"),
        ("auto", AMPERE, "bf16"),
        ("auto", TURING, "fp32"),
        ("fp32", CPU, "fp32"),
        ("fp32", AMPERE, "fp32"),
        ("bf16", AMPERE, "bf16"),
        ("fp16", TURING, "fp16"),
        ("fp16", AMPERE, "fp16"),
    ],
)
def test_choice(requested: str, device: Device, chosen: str) -> None:
    assert choose(requested, device) == chosen


def test_bf16_on_cpu_explains_why_it_is_refused() -> None:
    with pytest.raises(ConfigError) as e:
        choose("bf16", CPU, source="ml.yaml")
    (problem,) = e.value.problems
    assert problem.path == "train.precision"
    assert "no CUDA GPU" in problem.message and "slower than fp32" in problem.message and "precision: auto" in problem.message


def test_fp16_on_cpu_and_bf16_on_an_old_gpu() -> None:
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU and this machine has none"):
        choose("fp16", CPU)
    with pytest.raises(ConfigError, match="the GPU T4 does not support it"):
        choose("bf16", TURING)
