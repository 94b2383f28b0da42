"""The train stage: cache lookup, training (here or under torchrun), and the artifact folder.

    .ml-ci/artifacts/train/
      model/          safetensors weights, config, tokenizer
      metrics.json    validation metrics, loss curve, steps, precision
      lineage.json    git commit, ml.yaml hash, data fingerprints, base model identity, versions, seed
      README.md       Hugging Face model card

The folder is built in a temporary sibling and renamed into place. Checkpoints for `--resume`
live in `.ml-ci/work/train/` (with the cache key they belong to) and go once training succeeds.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_ci import versions
from ml_ci.atomic import staged_dir, write_text
from ml_ci.cache import StageCache, cache_key, folder_digest
from ml_ci.config.model import Config
from ml_ci.data.fingerprint import fingerprints
from ml_ci.digest import file_sha256
from ml_ci.pipeline.layout import LINEAGE, MODEL, TRAIN_METRICS, Layout
from ml_ci.train import base_model, card, launch, lineage, pytorchjob
from ml_ci.train.params import as_dict, merge, read_params_file, validate_overrides

if TYPE_CHECKING:
    from ml_ci.train.fit import FitResult

STAGE = "train"
# The splits training reads: it fits on train and evaluates on validation. The test split (and a drift
# reference) belong to other stages; editing them must not retrain.
ROLES = ("train", "validation")
Echo = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    params: Path | None = None
    resume: bool = False
    no_cache: bool = False
    print_cache_key: bool = False
    emit_k8s: Path | None = None
    image: str | None = None
    gpus_per_node: int = 0


@dataclass(frozen=True)
class Outcome:
    status: str  # "trained", "cache-hit", "key", "emitted"
    key: str
    folder: Path
    metrics: dict[str, float]


@dataclass(frozen=True)
class Inputs:
    overrides: dict[str, Any]
    fingerprints: dict[str, str]
    base: base_model.BaseModel
    base_identity: str
    packages: dict[str, str]
    key: str


def gather_inputs(config: Config, params: Path | None) -> Inputs:
    """Reads and hashes what the key depends on; imports neither torch nor datasets."""
    overrides = read_params_file(params, task=config.task) if params else {}
    merge(config.train, overrides, source=str(params), task=config.task)  # a bad combination fails before any work
    return inputs_for(config, overrides)


def inputs_for(config: Config, overrides: dict[str, Any]) -> Inputs:
    """The inputs of training with these (validated) overrides, as from a params file holding them."""
    fps = fingerprints(config, ROLES)
    base = base_model.resolve(config)
    identity = base_model.identity(base)
    packages = versions.package_versions(lineage.PACKAGES)
    key = cache_key(
        STAGE, lineage.cache_inputs(config, fingerprints=fps, base_identity=identity, overrides=overrides, packages=packages)
    )
    return Inputs(overrides, fps, base, identity, packages, key)


def work_dir(layout: Layout) -> Path:
    return layout.state / "work" / STAGE


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def prepare_checkpoints(work: Path, key: str, resume: bool, echo: Echo) -> Path:
    """Checkpoints belong to one cache key: after any input changed, resuming would mix two runs."""
    marker = work / "key"
    if work.exists() and (not resume or not marker.is_file() or marker.read_text().strip() != key):
        if resume:
            echo("the checkpoints in .ml-ci/work/train belong to other inputs: training from the start")
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    marker.write_text(key + "\n")
    return work / "checkpoints"


def train_here(config: Config, inputs: Inputs, options: TrainOptions, echo: Echo) -> dict[str, float]:
    """Train in this process (one of several under torchrun) and write the artifact folder."""
    from ml_ci.data.load import load_splits
    from ml_ci.train.fit import fit, is_main_process

    layout = Layout(config.root)
    dest = layout.artifacts(STAGE)
    main = is_main_process()
    work = work_dir(layout)
    checkpoints = prepare_checkpoints(work, inputs.key, options.resume, echo) if main else work / "checkpoints"
    splits = load_splits(config)
    # Every process of a distributed run names the same temporary folder; only the main one writes it.
    tmp_name = f".{STAGE}.tmp-{inputs.key[:16]}"
    if not main:
        return fit(
            config,
            splits,
            overrides=inputs.overrides or None,
            output_dir=dest.parent / tmp_name,
            checkpoint_dir=checkpoints,
            resume=options.resume,
            log=echo,
        ).metrics
    with staged_dir(dest, name=tmp_name) as tmp:
        result = fit(
            config,
            splits,
            overrides=inputs.overrides or None,
            output_dir=tmp,
            checkpoint_dir=checkpoints,
            resume=options.resume,
            log=echo,
        )
        write_artifact(tmp, config, inputs, result, splits.sources, params_file=str(options.params) if options.params else None)
    shutil.rmtree(work, ignore_errors=True)
    return result.metrics


def write_artifact(
    folder: Path,
    config: Config,
    inputs: Inputs,
    result: FitResult,
    sources: Mapping[str, str],
    *,
    params_file: str | None,
    tune_trial: Mapping[str, Any] | None = None,
) -> None:
    """metrics.json, lineage.json and README.md beside the model that fit saved in folder/model."""
    record = lineage.lineage_record(
        config,
        config_sha256="sha256:" + file_sha256(config.path),
        git=lineage.git_commit(config.root),
        fingerprints=inputs.fingerprints,
        sources=sources,
        base_identity=inputs.base_identity,
        packages=inputs.packages,
        hparams=as_dict(result.hparams),
        precision=result.precision,
        world_size=result.world_size,
        cache_key=inputs.key,
        params_file=params_file,
        loss_weights=result.loss_weights,
    )
    if tune_trial is not None:  # trained by a tuning trial, kept so that this training is not repeated
        record["tune_trial"] = dict(tune_trial)
    write_json(
        TRAIN_METRICS.within(folder),
        {
            "validation": result.metrics,
            "loss_curve": [list(p) for p in result.loss_curve],
            "eval_curve": [{"step": s, **m} for s, m in result.eval_curve],
            "steps": result.steps,
            "precision": result.precision,
            "world_size": result.world_size,
            "resumed_from": result.resumed_from,
        },
    )
    write_json(LINEAGE.within(folder), record)
    (folder / "README.md").write_text(card.render(config, result.metrics, record), encoding="utf-8")


def store_trial(
    config: Config,
    suggested: Mapping[str, Any],
    result: FitResult,
    sources: Mapping[str, str],
    *,
    params_file: str,
    tune_trial: Mapping[str, Any],
) -> str:
    """Put a full tuning trial's model in train's cache under the key `ml-ci train --params params_file`
    will compute once the file holds `suggested`; returns that key. The parameters go through JSON and
    the params file's validation, as they will on the way to train."""
    overrides = validate_overrides(json.loads(json.dumps(dict(suggested))), source=params_file, task=config.task)
    inputs = inputs_for(config, overrides)
    layout = Layout(config.root)
    scratch = layout.state / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="trial-artifact-", dir=scratch) as tmp:
        folder = Path(tmp) / STAGE
        shutil.copytree(result.model_dir, MODEL.within(folder))
        write_artifact(folder, config, inputs, result, sources, params_file=params_file, tune_trial=tune_trial)
        StageCache(layout.cache).store(STAGE, inputs.key, folder, replace=True)
    return inputs.key


def emit_k8s(config: Config, options: TrainOptions, target: Path) -> list[Path]:
    """Write the PyTorchJob and a kustomization.yaml beside it (each written whole, then renamed)."""
    import yaml

    job = pytorchjob.render_job(
        config,
        pytorchjob.JobOptions(image=options.image or pytorchjob.default_image(config), gpus_per_node=options.gpus_per_node),
    )
    kustomization = target.parent / "kustomization.yaml"
    written = []
    for path, doc in ((target, job), (kustomization, pytorchjob.render_kustomization(target.name))):
        write_text(path, yaml.safe_dump(doc, sort_keys=False))
        written.append(path)
    return written


def read_metrics(folder: Path) -> dict[str, float]:
    try:
        data = json.loads(TRAIN_METRICS.within(folder).read_text(encoding="utf-8"))
        return {k: float(v) for k, v in data.get("validation", {}).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def run(config: Config, options: TrainOptions, *, env: Mapping[str, str] | None = None, echo: Echo | None = None) -> Outcome:
    env = os.environ if env is None else env
    say: Echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    from ml_ci.progress import quiet_unless_terminal

    quiet_unless_terminal(env)  # before the hub check and the data load draw theirs
    layout = Layout(config.root)
    dest = layout.artifacts(STAGE)
    if options.emit_k8s is not None:
        written = emit_k8s(config, options, options.emit_k8s)
        return Outcome("emitted", "", written[0], {})
    inputs = gather_inputs(config, options.params)
    if options.print_cache_key:
        return Outcome("key", inputs.key, dest, {})
    cache = StageCache(layout.cache)
    worker = launch.inside_worker(env)
    if not worker and not options.no_cache and cache.restore(STAGE, inputs.key, dest):
        return Outcome("cache-hit", inputs.key, dest, read_metrics(dest))
    _preflight(config, inputs)
    if launch.needs_launch(config.train.distributed, env):
        argv = [
            "train",
            "-c",
            str(config.path),
            *(["--params", str(options.params)] if options.params else []),
            *(["--resume"] if options.resume else []),
            "--no-cache",
        ]
        launch.relaunch(launch.command(config.train.distributed, argv, env, source=str(config.path)), env)
    else:
        train_here(config, inputs, options, say)
    if not worker:
        cache.store(STAGE, inputs.key, dest)
    return Outcome("trained", inputs.key, dest, read_metrics(dest))


def _preflight(config: Config, inputs: Inputs) -> None:
    """Check before anything is written, and before workers start (a worker's exit code is lost)."""
    from ml_ci.train.fit import per_device_batch, probe_device
    from ml_ci.train.precision import choose

    base_model.check_loadable(inputs.base)
    hp = merge(config.train, inputs.overrides, task=config.task)
    choose(hp.precision, probe_device(), source=str(config.path))
    per_device_batch(hp, config.train.distributed.nproc_per_node * config.train.distributed.nodes, source=str(config.path))


def model_digest(folder: Path) -> str:
    return folder_digest(MODEL.within(folder))
