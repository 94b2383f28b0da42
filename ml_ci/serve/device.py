"""Where the server runs the model: the CPU, or an NVIDIA GPU through onnxruntime's CUDA execution provider.

ML_CI_SERVE_DEVICE says which: `cpu` (also when unset: every CPU image) or `cuda`, which the image of
`image.accelerator: cuda` sets. That image installs onnxruntime's CUDA build (onnxruntime-gpu, and
onnxruntime-genai-cuda for text-generation) with the CUDA and cuDNN libraries from PyPI's nvidia-* wheels.

A server told `cuda` runs on the GPU or does not start: onnxruntime falls back to the CPU when the CUDA provider
cannot start (no GPU, no driver, a driver older than the CUDA the wheels are built for), with a warning printed
once; a server 50x slower than its image promised, found out from latency alerts, is worse than one that fails
its readiness with the reason in its log. `ML_CI_SERVE_DEVICE=cpu` runs a CUDA image on the CPU on purpose (the
image check of a machine without a GPU does that, and says so).

Standard library only at import (the serving image's slim server imports this); onnxruntime when used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

ENV = "ML_CI_SERVE_DEVICE"
Device = Literal["cpu", "cuda"]
DEVICES: tuple[Device, ...] = ("cpu", "cuda")
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
# What a GPU container needs; said in every failure, since the fix is outside the image.
HOW = (
    "give the container a GPU (docker run --gpus all; Kubernetes: a nvidia.com/gpu limit on a node with the NVIDIA "
    f"device plugin; an NVIDIA driver recent enough for the image's CUDA), or set {ENV}=cpu to run this image on the CPU"
)


class DeviceError(RuntimeError):
    """The device asked for cannot run the model; the server logs it and exits (load_failed)."""


def selected(env: Mapping[str, str] | None = None) -> Device:
    """The device ML_CI_SERVE_DEVICE names: cpu when unset or empty; DeviceError for anything but cpu or cuda."""
    value = (os.environ if env is None else env).get(ENV, "").strip()
    if not value:
        return "cpu"
    for device in DEVICES:
        if value.lower() == device:
            return device
    raise DeviceError(f"{ENV}={value!r} is not a device this server runs on: use cpu or cuda")


def providers(device: Device) -> list[str]:
    """onnxruntime's providers for the device, in order. On the GPU the CPU provider stays second: ORT places the
    few nodes without a CUDA kernel there (node by node, as it is built to); the whole model falling back is what
    `check_session` refuses."""
    return [CUDA_PROVIDER, CPU_PROVIDER] if device == "cuda" else [CPU_PROVIDER]


def preload(device: Device) -> None:
    """Load the CUDA and cuDNN libraries of PyPI's nvidia-* wheels into the process before onnxruntime's CUDA
    provider (or ONNX Runtime GenAI's CUDA library) needs them: they lie in site-packages/nvidia/*, on no
    library path, and LD_LIBRARY_PATH cannot name them for any base image's Python. A no-op on the CPU, and
    in onnxruntime's CPU build (its preload_dlls returns when the build has no CUDA)."""
    if device != "cuda":
        return
    import onnxruntime

    load = getattr(onnxruntime, "preload_dlls", None)  # onnxruntime >= 1.21
    if load is not None:
        load()


def check_session(session: Any, device: Device) -> Any:
    """The session, if it runs where asked; DeviceError when a cuda session fell back to the CPU. Its fallback at
    run time is turned off too: a CUDA failure then fails that request instead of a silent CPU retry."""
    if device != "cuda":
        return session
    used = list(session.get_providers())
    if CUDA_PROVIDER not in used:
        import onnxruntime

        available = ", ".join(onnxruntime.get_available_providers())
        raise DeviceError(
            f"{ENV}=cuda, but onnxruntime could not start its CUDA provider (this onnxruntime has {available}; the "
            f"session would run on {', '.join(used) or 'nothing'}): {HOW}"
        )
    session.disable_fallback()
    return session


def genai_model(og: Any, config: Any, device: Device) -> Any:
    """ONNX Runtime GenAI's model of `config` (an og.Config, its overlays applied) on the device: the export's
    genai_config.json names no provider (the CPU), so the GPU is asked for here, at load, not written into the
    model. ONNX Runtime GenAI does not fall back: a CUDA that cannot start raises, and that is said plainly."""
    if device == "cpu":
        return og.Model(config)
    preload(device)
    config.clear_providers()
    config.append_provider("cuda")
    try:
        model = og.Model(config)
    except Exception as e:  # its C++ errors arrive as RuntimeError; the message is all there is to tell
        raise DeviceError(f"{ENV}=cuda, but ONNX Runtime GenAI could not load the model on a GPU ({e}): {HOW}") from None
    kind = str(getattr(model, "device_type", "cuda"))
    if kind.lower() != "cuda":
        raise DeviceError(f"{ENV}=cuda, but ONNX Runtime GenAI loaded the model on {kind}: {HOW}")
    return model
