"""Everything `ml-ci evaluate` reads, as the inputs of its cache key. Pure: the stage measures the
files (model digest, split fingerprint, baselines) and passes them in.

What goes in, and why:
- the model folder's digest and the path the record shows for it;
- the evaluated split (role and content) and how rows are loaded (`data` without its checks);
- `model.max_length` (inference truncates to it), `name`, `task` (the record carries them);
- `package.quantize` and `package.opset`: latency is timed on the model exported as they say;
- the whole `evaluate` section: metrics, gates, slices, latency samples, allow_missing_baseline (and the task's keys);
- what the task reads besides the split (EvaluationHalf.key_inputs: text-generation's prompt set);
- each baseline's source and content (relative gates, significance tests, history);
- train's metrics.json (the training plot);
- the commit the Actions runner names (the record says which commit it belongs to);
- the model's lineage against ml.yaml's training splits (the record says whether it is stale);
- the versions of the libraries that compute the predictions and draw the plots.
Left out: the clock (`created`) and the measured latencies: a hit keeps the first run's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ml_ci.config.by_task import section
from ml_ci.config.model import Config
from ml_ci.data.cache_inputs import loading

PACKAGES = ("torch", "transformers", "tokenizers", "safetensors", "numpy", "matplotlib", "seqeval")


def cache_inputs(
    config: Config,
    *,
    role: str,
    fingerprint: str | None,
    model_digest: str,
    model_path: str,
    baselines: Mapping[str, tuple[str, str] | None],
    train_metrics: str | None,
    git: Mapping[str, str | None],
    packages: Mapping[str, str],
    lineage: Mapping[str, Any] | None = None,
    task_inputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """baselines: per `against`, (source, digest of its record) or None. task_inputs: the task's
    EvaluationHalf.key_inputs (files it reads besides the split, as text-generation's prompt set), left out
    when empty so that the other tasks' keys stay as they were."""
    inputs = {
        "name": config.name,
        "task": config.task,
        "data": loading(config),
        "split": {"role": role, "fingerprint": fingerprint},
        "max_length": config.model.max_length,
        "package": {"quantize": config.package.quantize, "opset": config.package.opset},
        "evaluate": section(config, "evaluate"),
        "model": {"digest": model_digest, "path": model_path},
        "baselines": {k: (list(v) if v is not None else None) for k, v in sorted(baselines.items())},
        "train_metrics": train_metrics,
        "git": dict(sorted(git.items())),
        "packages": dict(sorted(packages.items())),
        "lineage": dict(lineage) if lineage is not None else None,
    }
    if task_inputs:
        inputs["task_inputs"] = dict(sorted(task_inputs.items()))
    return inputs
