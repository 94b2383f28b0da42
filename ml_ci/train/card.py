"""The Hugging Face model card (README.md with YAML front matter) of a trained model (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from ml_ci.config.model import Config
from ml_ci.train.base_model import PACKAGE_PREFIX


def render(config: Config, metrics: Mapping[str, float], lineage: Mapping[str, Any]) -> str:
    base = config.model.base
    front: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": "text-classification",
        "tags": ["ml-ci", "text-classification"],
    }
    # The hub's base_model field takes hub ids only; a local or packaged folder is named in the text.
    if str(lineage["base_model"]["identity"]).startswith("hub:") and not base.startswith(PACKAGE_PREFIX):
        front["base_model"] = base
    front["model-index"] = [
        {
            "name": config.name,
            "results": [
                {
                    "task": {"type": "text-classification", "name": "Text Classification"},
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
    labels = ", ".join(f"`{label}`" for label in config.data.labels)
    return (
        f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n\n"
        f"# {config.name}\n\n"
        f"A text classifier fine-tuned by [ml-ci](https://github.com/ml-ci/ml-ci) from `{base}` "
        f"(identity `{lineage['base_model']['identity']}`) for the labels {labels}.\n\n"
        f"## Validation metrics\n\n| metric | value |\n| --- | --- |\n{scores}\n\n"
        f"## Training\n\n| hyperparameter | value |\n| --- | --- |\n{rows}\n\n"
        f"Precision {lineage['precision']}, {lineage['world_size']} process(es). Source commit {commit}; "
        f"ml.yaml sha256 `{lineage['ml_yaml']['sha256']}`. Full lineage: `lineage.json`.\n\n"
        "## Use\n\n```python\nfrom transformers import pipeline\n\n"
        'classify = pipeline("text-classification", model="path/to/this/folder")\n```\n'
    )
