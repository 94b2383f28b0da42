"""Everything `ml-ci export` reads, as the inputs of its cache key. Pure: the stage hashes the files.

What goes in, and why:
- the trained model folder's digest (weights, config, tokenizer: all are exported or copied);
- the `package` section (format, quantize, opset, and the parity thresholds that decide pass/fail);
- `name`, `task`, the task's part of `data`, `model.max_length` (model.json and the exported graph carry them);
- the validation split (parity) and the test split (golden examples) by content, how rows are
  loaded (`data` without its checks), and how many golden examples the environments ask for;
- train's lineage.json and the headline of evaluate's eval.json, which model.json embeds;
- the versions of the exporter, the runtime and the tokenizer;
- with `package.quantize: int8`, the quantization settings (per-channel, the nodes kept in float), so
  that changing them in ml-ci re-exports instead of restoring a model quantized the old way.
- the epoch model.json records as `exported_at` (SOURCE_DATE_EPOCH, else the commit's time).
Left out: the clock, and evaluate's measured latency (`ml_ci.records.evaluation.MEASURED_METRICS`): neither is
written, and both differ between two runs of the same inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from ml_ci.config.model import Config
from ml_ci.data.cache_inputs import loading, split_fingerprints

PACKAGES = ("torch", "transformers", "onnx", "onnxruntime", "onnxscript", "tokenizers", "safetensors", "numpy")
# The splits export reads: validation for parity, test (else validation) for the golden examples.
ROLES = ("validation", "test")


def cache_inputs(
    config: Config,
    *,
    model_digest: str,
    fingerprints: Mapping[str, str],
    golden_examples: int,
    lineage: str | None,
    eval_summary: Mapping[str, Any],
    packages: Mapping[str, str],
    epoch: int | None,
    task_inputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """task_inputs: the task's EvaluationHalf.key_inputs (its golden prompts may come from them), left out when
    empty so that the other tasks' keys stay as they were."""
    inputs = {
        "name": config.name,
        "task": config.task,
        "max_length": config.model.max_length,
        "package": asdict(config.package),
        "data": loading(config),
        "splits": split_fingerprints(fingerprints, ROLES),
        "golden_examples": golden_examples,
        "model": model_digest,
        "lineage": lineage,
        "eval_summary": dict(sorted(eval_summary.items())),
        "packages": dict(sorted(packages.items())),
        "int8": int8_settings() if config.package.quantize == "int8" else None,
        "epoch": epoch,
    }
    if task_inputs:
        inputs["task_inputs"] = dict(sorted(task_inputs.items()))
    return inputs


def int8_settings() -> dict[str, Any]:
    from ml_ci.export.onnx_export import INT8_FLOAT_NODES, INT8_PER_CHANNEL

    return {"per_channel": INT8_PER_CHANNEL, "float_nodes": list(INT8_FLOAT_NODES)}
