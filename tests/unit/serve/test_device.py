"""Where the server runs the model (ml_ci.serve.device): ML_CI_SERVE_DEVICE chooses, and a GPU asked for that
cannot run the model is an error, never a quiet run on the CPU. This machine's onnxruntime and ONNX Runtime GenAI
are the CPU builds: asking them for CUDA is the real "no GPU here" case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ml_ci.serve import device
from ml_ci.serve.device import DeviceError
from ml_ci.serve.runtime import session


def identity_model(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [value("x", TensorProto.FLOAT, [1])],
        [value("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "cpu"),
        ({"ML_CI_SERVE_DEVICE": ""}, "cpu"),
        ({"ML_CI_SERVE_DEVICE": "cpu"}, "cpu"),
        ({"ML_CI_SERVE_DEVICE": "cuda"}, "cuda"),
        ({"ML_CI_SERVE_DEVICE": " CUDA "}, "cuda"),
    ],
)
def test_the_variable_chooses_and_unset_is_the_cpu(env: dict[str, str], expected: str) -> None:
    assert device.selected(env) == expected


def test_an_unknown_device_is_refused_naming_the_variable_and_value() -> None:
    with pytest.raises(DeviceError, match=r"ML_CI_SERVE_DEVICE='gpu' .*cpu or cuda"):
        device.selected({"ML_CI_SERVE_DEVICE": "gpu"})


def test_providers_put_cuda_first_and_keep_the_cpu_one_for_the_nodes_cuda_lacks() -> None:
    assert device.providers("cpu") == ["CPUExecutionProvider"]
    assert device.providers("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_a_cpu_session_is_what_it_always_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML_CI_SERVE_DEVICE", raising=False)
    assert session(identity_model(tmp_path / "m.onnx")).get_providers() == ["CPUExecutionProvider"]


def test_cuda_without_a_usable_gpu_fails_loudly_instead_of_running_on_the_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """onnxruntime alone would warn and build a CPU session; the server must not start on it."""
    monkeypatch.setenv("ML_CI_SERVE_DEVICE", "cuda")
    path = identity_model(tmp_path / "m.onnx")
    with pytest.warns(UserWarning), pytest.raises(DeviceError) as caught:
        session(path)
    message = str(caught.value)
    assert "could not start its CUDA provider" in message and "CPUExecutionProvider" in message
    assert "--gpus all" in message and "ML_CI_SERVE_DEVICE=cpu" in message
    monkeypatch.setenv("ML_CI_SERVE_DEVICE", "cpu")  # told to run on the CPU: it does
    assert session(path).get_providers() == ["CPUExecutionProvider"]


class FakeSession:
    def __init__(self, providers: list[str]) -> None:
        self.providers, self.fallback = providers, True

    def get_providers(self) -> list[str]:
        return self.providers

    def disable_fallback(self) -> None:
        self.fallback = False


def test_a_cuda_session_keeps_no_run_time_fallback_to_the_cpu() -> None:
    gpu = FakeSession(["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert device.check_session(gpu, "cuda") is gpu and gpu.fallback is False
    cpu = FakeSession(["CPUExecutionProvider"])
    assert device.check_session(cpu, "cpu") is cpu and cpu.fallback is True  # the CPU path is left as it was


class FakeConfig:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def clear_providers(self) -> None:
        self.calls.append(("clear_providers",))

    def append_provider(self, name: str) -> None:
        self.calls.append(("append_provider", name))


class FakeOg:
    def __init__(self, device_type: str = "CUDA", error: Exception | None = None) -> None:
        self.device_type, self.error = device_type, error

    def Model(self, config: Any) -> Any:  # og.Model
        if self.error is not None:
            raise self.error
        return type("M", (), {"device_type": self.device_type})()


def test_genai_asks_for_cuda_at_load_and_leaves_the_cpu_config_alone() -> None:
    config = FakeConfig()
    device.genai_model(FakeOg("CPU"), config, "cpu")
    assert config.calls == []
    device.genai_model(FakeOg("CUDA"), config, "cuda")
    assert config.calls == [("clear_providers",), ("append_provider", "cuda")]


def test_genai_on_another_device_than_asked_is_an_error() -> None:
    with pytest.raises(DeviceError, match="loaded the model on CPU"):
        device.genai_model(FakeOg("CPU"), FakeConfig(), "cuda")


def test_genai_without_cuda_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real ONNX Runtime GenAI (its CPU build, as on a machine without the CUDA one or a GPU): the provider
    fails before the model file is read, so a genai_config.json is all it takes."""
    import onnxruntime_genai as og

    genai = {
        "model": {
            "bos_token_id": 0,
            "context_length": 64,
            "eos_token_id": 0,
            "pad_token_id": 0,
            "type": "llama",
            "vocab_size": 16,
            "decoder": {
                "session_options": {"log_id": "t", "provider_options": []},
                "filename": "model.onnx",
                "head_size": 4,
                "hidden_size": 8,
                "num_attention_heads": 2,
                "num_hidden_layers": 1,
                "num_key_value_heads": 2,
                "inputs": {
                    "input_ids": "input_ids",
                    "attention_mask": "attention_mask",
                    "past_key_names": "past_key_values.%d.key",
                    "past_value_names": "past_key_values.%d.value",
                },
                "outputs": {"logits": "logits", "present_key_names": "present.%d.key", "present_value_names": "present.%d.value"},
            },
        },
        "search": {"max_length": 64},
    }
    (tmp_path / "genai_config.json").write_text(json.dumps(genai), encoding="utf-8")
    with pytest.raises(DeviceError, match=r"ML_CI_SERVE_DEVICE=cuda, but ONNX Runtime GenAI could not load the model on a GPU"):
        device.genai_model(og, og.Config(str(tmp_path)), "cuda")

    # text-generation's runtime (the server's, export's parity check's, evaluate's) reads the device as every task's
    # server does: ML_CI_SERVE_DEVICE=cuda, which the CUDA image sets, asks for the GPU and fails without one.
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    from ml_ci.tasks.text_generation.runtime import Runtime

    Tokenizer(WordLevel({"<unk>": 0}, unk_token="<unk>")).save(str(tmp_path / "tokenizer.json"))
    monkeypatch.setenv(device.ENV, "cuda")
    with pytest.raises(DeviceError, match=r"ML_CI_SERVE_DEVICE=cuda, but ONNX Runtime GenAI could not load the model on a GPU"):
        Runtime(tmp_path)
