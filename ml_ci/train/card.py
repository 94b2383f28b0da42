"""The Hugging Face model card (README.md with YAML front matter) of a trained model (pure): the
frame is every task's, the task names itself, what it learned and how to use it (TrainingHalf.card)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from ml_ci import tasks
from ml_ci.config.model import Config
from ml_ci.train.base_model import PACKAGE_PREFIX


def render(config: Config, metrics: Mapping[str, float], lineage: Mapping[str, Any]) -> str:
    base = config.model.base
    task = tasks.get(config.task).training().card(config)
    front: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": task.pipeline_tag,
        "tags": ["ml-ci", task.pipeline_tag],
    }
    # The hub's base_model field takes hub ids only; a local or packaged folder is named in the text.
    if str(lineage["base_model"]["identity"]).startswith("hub:") and not base.startswith(PACKAGE_PREFIX):
        front["base_model"] = base
    front["model-index"] = [
        {
            "name": config.name,
            "results": [
                {
                    "task": {"type": task.pipeline_tag, "name": task.task_name},
                    "dataset": {"type": "custom", "name": f"{config.name} (validation split)"},
                    "metrics": [
                        {"type": k, "value": round(float(v), 6), "name": f"validation {k}"}
                        for k, v in sorted(metrics.items())
                        if k != "loss"
                    ],
                }
            ],
        }
    ]
    hp = lineage["hyperparameters"]
    rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(hp.items()))
    scores = "\n".join(f"| {k} | {float(v):.4f} |" for k, v in sorted(metrics.items()))
    git = lineage.get("git") or {}
    commit = f"`{git['commit']}`{' (with uncommitted changes)' if git.get('dirty') else ''}" if git else "not in a git repository"
    return (
        f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n\n"
        f"# {config.name}\n\n"
        f"{task.subject} fine-tuned by [ml-ci](https://github.com/ml-ci/ml-ci) from `{base}` "
        f"(identity `{lineage['base_model']['identity']}`){task.purpose}.\n\n"
        f"## Validation metrics\n\n| metric | value |\n| --- | --- |\n{scores}\n\n"
        f"## Training\n\n| hyperparameter | value |\n| --- | --- |\n{rows}\n\n"
        f"Precision {lineage['precision']}, {lineage['world_size']} process(es). Source commit {commit}; "
        f"ml.yaml sha256 `{lineage['ml_yaml']['sha256']}`. Full lineage: `lineage.json`.\n\n"
        f"## Use\n\n```python\n{task.usage}```\n"
    )
