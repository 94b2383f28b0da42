"""A scratch model repository with stand-ins for every file the cached stages read: a fake model
folder (bytes only: keys hash files, they never load them), train's metrics.json and lineage.json,
evaluate's eval.json, and a local base model. Helpers edit ml.yaml and files in place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ml_ci.config import load_config
from ml_ci.config.model import Config
from ml_ci.pipeline.layout import Layout
from tests.modelrepo import make_model_repo

TUNE = {
    "enabled": True,
    "trials": 4,
    "search_space": {"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True}},
}


def scratch(root: Path) -> Path:
    make_model_repo(root, n_train=20, n_val=10, n_test=10, overrides={"model": {"base": "models/base"}, "tune": TUNE})
    for folder in (root / "models/base", Layout(root).model_dir):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text('{"id2label": {"0": "negative", "1": "positive"}}')
        (folder / "model.safetensors").write_bytes(b"weights")
        (folder / "tokenizer.json").write_text('{"vocab": {}}')
    train = Layout(root).artifacts("train")
    (train / "metrics.json").write_text(json.dumps({"loss_curve": [[1, 0.7]]}))
    (train / "lineage.json").write_text(json.dumps({"cache_key": "k"}))
    write_json(Layout(root).eval_record, {"metrics": {"accuracy": 0.9}, "verdict": "pass", "created": "2026-01-01"})
    return root


def config(root: Path) -> Config:
    return load_config(root / "ml.yaml").config


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def set_yaml(root: Path, dotted: str, value: Any) -> None:
    """Set ml.yaml's key at a dotted path (list items by index), creating mappings on the way."""
    doc = yaml.safe_load((root / "ml.yaml").read_text())
    *parents, last = dotted.split(".")
    node = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    node[int(last) if isinstance(node, list) else last] = value
    (root / "ml.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def append(root: Path, rel: str, text: str) -> None:
    with (root / rel).open("a", encoding="utf-8") as f:
        f.write(text)


def fake_fit(config: Config, splits: Any, *, overrides: dict[str, Any], output_dir: Path, report: Any = None) -> dict[str, float]:
    """A trainer for tuning without training (ML_CI_TUNE_FIT): accuracy peaks at learning_rate 1e-4."""
    import math

    accuracy = 0.95 - 0.1 * (math.log10(float(overrides["learning_rate"])) + 4) ** 2
    if report is not None:
        report(10, {"accuracy": accuracy, "f1_macro": accuracy})
    return {"accuracy": accuracy, "f1_macro": accuracy}


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
