"""int8 settings on a toy graph named as the exporter names a BERT: which nodes stay float, and per-channel
weights. The settings themselves were measured on the bundled example (benchmarks/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ml_ci.export.onnx_export import int8_excluded, quantize_int8

ATTENTION_OUT = "/inner/bert/encoder/layer.0/attention/output/dense/MatMul"
FFN_IN = "/inner/bert/encoder/layer.0/intermediate/dense/MatMul"


def toy_bert(path: Path) -> None:
    """x [batch, 8] -> attention output projection [8, 8] -> intermediate [8, 6] -> y."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(size=(8, 8)).astype(np.float32), "w_attention_out")
    # Columns of very different scales: one scale per tensor would round the small ones away.
    w2 = numpy_helper.from_array((rng.normal(size=(8, 6)) * np.array([100, 1, 1, 0.01, 1, 1])).astype(np.float32), "w_ffn_in")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w_attention_out"], ["h"], name=ATTENTION_OUT),
            helper.make_node("MatMul", ["h", "w_ffn_in"], ["y"], name=FFN_IN),
        ],
        "toy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 6])],
        [w1, w2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_the_attention_output_projection_stays_float(tmp_path: Path) -> None:
    assert int8_excluded([ATTENTION_OUT, FFN_IN, "/inner/classifier/Gemm"]) == [ATTENTION_OUT]


def test_int8_quantizes_per_channel_and_keeps_the_excluded_nodes_float(tmp_path: Path) -> None:
    """Before issue 20 item 10: every MatMul quantized, with one weight scale per tensor."""
    import onnx
    from onnx import numpy_helper

    toy_bert(tmp_path / "fp32.onnx")
    quantize_int8(tmp_path / "fp32.onnx", tmp_path / "int8.onnx")
    graph = onnx.load(str(tmp_path / "int8.onnx")).graph
    by_name = {n.name: n for n in graph.node}
    assert ATTENTION_OUT in by_name, "kept as it was, under its own name"
    assert by_name[ATTENTION_OUT].op_type == "MatMul" and by_name[ATTENTION_OUT].input[1] == "w_attention_out"
    assert FFN_IN not in by_name or by_name[FFN_IN].op_type != "MatMul", "the intermediate projection is quantized"
    assert any(n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for n in graph.node)
    initializers = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    scale = next(v for k, v in initializers.items() if k.startswith("w_ffn_in") and k.endswith("_scale"))
    assert scale.shape == (6,), "one scale per output channel"
    assert "w_attention_out" in initializers and initializers["w_attention_out"].dtype == np.float32


def test_the_int8_settings_are_in_the_export_cache_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model quantized the old way is not restored from the stage cache once the settings change."""
    from ml_ci.config import load_config
    from ml_ci.export import onnx_export
    from ml_ci.export.cache_inputs import cache_inputs
    from tests.modelrepo import make_model_repo

    config = load_config(make_model_repo(tmp_path, overrides={"package": {"quantize": "int8"}})).config

    def inputs() -> dict[str, Any]:
        return cache_inputs(
            config, model_digest="m", fingerprints={}, golden_examples=32, lineage=None, eval_summary={}, packages={}, epoch=None
        )

    before = inputs()
    monkeypatch.setattr(onnx_export, "INT8_FLOAT_NODES", ())
    assert inputs() != before
