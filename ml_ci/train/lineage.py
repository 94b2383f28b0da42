"""What a trained model came from: the cache inputs of the train stage and lineage.json (pure
builders), plus the git commit they record; package versions come from ml_ci.versions, file hashes from
ml_ci.digest."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ml_ci import tasks
from ml_ci.config.by_task import section
from ml_ci.config.model import Config

# The packages whose versions can change a trained model; read from metadata, never imported.
PACKAGES = ("torch", "transformers", "accelerate", "datasets", "tokenizers", "safetensors", "numpy", "seqeval")


def git_commit(root: Path) -> dict[str, Any] | None:
    """HEAD of the git repository holding root, and whether the work tree has changes; None outside git."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    status = git("status", "--porcelain", "--", ".")
    return {"commit": commit, "dirty": bool(status)}


def cache_inputs(
    config: Config,
    *,
    fingerprints: Mapping[str, str],
    base_identity: str,
    overrides: Mapping[str, Any] | None,
    packages: Mapping[str, str],
) -> dict[str, Any]:
    """Everything the trained artifact depends on. Data checks and the other stages' sections are
    left out on purpose: changing a gate must not retrain."""
    return {
        "task": config.task,
        "model": asdict(config.model),
        "train": section(config, "train"),
        **tasks.get(config.task).training().key_inputs(config),
        "data": dict(sorted(fingerprints.items())),
        "base_model": base_identity,
        "params": dict(sorted((overrides or {}).items())),
        "packages": dict(sorted(packages.items())),
    }


def lineage_record(
    config: Config,
    *,
    config_sha256: str,
    git: Mapping[str, Any] | None,
    fingerprints: Mapping[str, str],
    sources: Mapping[str, str],
    base_identity: str,
    packages: Mapping[str, str],
    hparams: Mapping[str, Any],
    precision: str,
    world_size: int,
    cache_key: str,
    params_file: str | None,
    loss_weights: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """lineage.json: enough to tell, later, exactly what produced this model (with the task's part,
    TrainingHalf.lineage, given the loss weights training used)."""
    from ml_ci.data.split import holdout

    data: dict[str, dict[str, Any]] = {
        role: {"source": sources.get(role, ""), "fingerprint": fp} for role, fp in sorted(fingerprints.items())
    }
    if (spec := holdout(config.data)) is not None and "validation" in data:
        # A validation split held out of train: how, so that the same split can be made again.
        data["validation"]["split_from"] = {"split": spec.split_from, "fraction": spec.fraction, "seed": spec.seed}
    return {
        "name": config.name,
        "git": dict(git) if git else None,
        "ml_yaml": {"path": config.path.name, "sha256": config_sha256},
        "data": data,
        "base_model": {"spec": config.model.base, "revision": config.model.revision, "identity": base_identity},
        "hyperparameters": dict(hparams),
        "params_file": params_file,
        **tasks.get(config.task).training().lineage(config, loss_weights),
        "seed": hparams.get("seed"),
        "precision": precision,
        "world_size": world_size,
        "packages": dict(packages),
        "cache_key": cache_key,
    }
