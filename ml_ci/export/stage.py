"""`ml-ci export`: plan what to write (pure), then export, check parity and write it all at once.

The export folder is a function of what it reads, and cached on all of it (`ml_ci.export.cache_inputs`); a
hit restores it byte for byte, and a fresh run (a CI job without the cache) writes the same bytes, so the
image built from it is built from the same files. Hence no clock: the time model.json records is the build's
epoch (SOURCE_DATE_EPOCH, else the commit's time), and evaluate's measured figures (latency) stay out. A failed parity check
writes nothing and so caches nothing: the next run checks again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_ci import __version__, tasks
from ml_ci.atomic import staged_dir, write_json
from ml_ci.cache import StageCache, announce, cache_key, folder_digest, mode, optional_file_digest, through_cache, unpinned
from ml_ci.config.model import Config
from ml_ci.data.fingerprint import fingerprints
from ml_ci.digest import file_sha256
from ml_ci.errors import GateError, OperationalError
from ml_ci.export import cache_inputs
from ml_ci.jsonfile import read_optional
from ml_ci.pipeline.layout import GOLDEN, MODEL_RECORD, Layout
from ml_ci.records import golden as golden_record
from ml_ci.records import model as model_record
from ml_ci.records.evaluation import headline
from ml_ci.records.golden import tolerance_for
from ml_ci.records.model import ModelRecord

if TYPE_CHECKING:
    from ml_ci.tasks.protocols.export import ParityCheck

STAGE = "export"
ONNX_FILE = "model.onnx"
TOKENIZER = "tokenizer.json"  # the fast tokenizer the serving half reads, copied as the trained model has it
# Recorded in model.json: what made the export.
TOOLCHAIN = ("torch", "transformers", "onnx", "onnxruntime", "tokenizers")
# Enough golden examples for the image check even when no environment asks for more.
MIN_GOLDEN = 32


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    parity: ParityCheck  # the task's
    sha256: str
    golden: int
    cache_hit: bool = False


def golden_count(config: Config) -> int:
    wanted = [env.smoke_test.golden_examples for env in (config.deploy.environments if config.deploy else ())]
    return max([MIN_GOLDEN, *wanted])


def manifest(
    config: Config,
    *,
    sha256: str,
    source_sha256: str,
    inputs: tuple[str, ...],
    pad_id: int,
    lineage: Any,
    metrics: dict[str, Any],
    versions: dict[str, str],
    epoch: int | None,
) -> ModelRecord:
    """model.json: what the server and the image labels need to know about the exported model (the task adds
    its own keys). `exported_at` is `epoch` (`export_epoch`), None without one: never the clock, which would
    make a new image."""
    return ModelRecord(
        name=config.name,
        task=config.task,
        payload=tasks.get(config.task).export().manifest_payload(config),
        max_length=config.model.max_length,
        onnx=ONNX_FILE,
        sha256=sha256,
        quantize=config.package.quantize,
        opset=config.package.opset,
        inputs=tuple(inputs),
        pad_id=pad_id,
        source_sha256=source_sha256,
        lineage=lineage if isinstance(lineage, dict) else {},
        metrics=metrics,
        ml_ci_version=__version__,
        versions=versions,
        exported_at=None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds"),
    )


def onnx_sha256(path: Path) -> str:
    """The exported graph's digest: its file's, or, when its weights are in an external data file beside it (a
    graph over 2 GB, and ONNX Runtime GenAI's always), the digest of both files' digests, so that it covers the weights."""
    data = path.with_name(path.name + ".data")
    if not data.is_file():
        return file_sha256(path)
    import hashlib

    return hashlib.sha256((file_sha256(path) + file_sha256(data)).encode()).hexdigest()


def _source_digest(model_dir: Path) -> str:
    weights = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin"))
    if not weights:
        raise OperationalError(f"{model_dir}: no model weights (*.safetensors); run `ml-ci train` first")
    if len(weights) == 1:
        return file_sha256(weights[0])
    import hashlib

    return hashlib.sha256("".join(file_sha256(w) for w in weights).encode()).hexdigest()


def export_epoch(root: Path, env: Mapping[str, str]) -> int | None:
    """The build's rule (`ml_ci.provenance.source_date_epoch`): SOURCE_DATE_EPOCH, else the commit's
    time; None outside a repository without SOURCE_DATE_EPOCH."""
    from ml_ci.provenance import git_info, source_date_epoch

    commit = git_info(root, env).timestamp
    if commit is None and not env.get("SOURCE_DATE_EPOCH", "").strip():
        return None
    try:
        return source_date_epoch(env, commit, None)
    except ValueError as e:
        raise OperationalError(str(e)) from None


def installed_versions(dists: tuple[str, ...]) -> dict[str, str]:
    """Distribution -> installed version, for those installed."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for dist in dists:
        with contextlib.suppress(PackageNotFoundError):
            found[dist] = version(dist)
    return found


def key_of(config: Config, model_dir: Path, epoch: int | None) -> tuple[str, list[str]]:
    """The cache key, and the split roles it cannot see (an unpinned hub split)."""
    from ml_ci.versions import package_versions

    layout = Layout(config.root)
    fps = fingerprints(config, cache_inputs.ROLES)
    inputs = cache_inputs.cache_inputs(
        config,
        model_digest=folder_digest(model_dir),
        fingerprints=fps,
        golden_examples=golden_count(config),
        lineage=optional_file_digest(layout.lineage),
        eval_summary=headline(read_optional(layout.eval_record)),
        packages=package_versions(cache_inputs.PACKAGES),
        epoch=epoch,
        task_inputs=tasks.get(config.task).evaluation().key_inputs(config),
    )
    return cache_key(STAGE, inputs), unpinned(fps)


def read_result(folder: Path, task: str, *, cache_hit: bool) -> ExportResult:
    """The result as the folder on disk says it: the same whether just written or restored."""
    return ExportResult(
        folder=folder,
        parity=tasks.get(task).export().read_parity(read_optional(folder / "parity.json")),
        sha256=model_record.read(MODEL_RECORD.within(folder)).sha256,
        golden=len(golden_record.read(GOLDEN.within(folder)).examples),
        cache_hit=cache_hit,
    )


def run_export(
    config: Config, *, model_dir: Path | None = None, no_cache: bool = False, env: Mapping[str, str] | None = None
) -> ExportResult:
    layout = Layout(config.root)
    model_dir = model_dir or layout.model_dir
    if not any((model_dir / name).is_file() for name in ("config.json", "adapter_config.json")):  # a model, or an adapter
        raise OperationalError(f"{model_dir}: no trained model; run `ml-ci train` first")
    env = os.environ if env is None else env
    epoch = export_epoch(config.root, env)
    key, unseen = key_of(config, model_dir, epoch)
    _, cached = through_cache(
        StageCache(layout.cache),
        STAGE,
        key,
        layout.export_dir,
        mode=mode(no_cache=no_cache, unseen=unseen),
        compute=lambda: export(config, model_dir, epoch),
        restored=lambda: None,
    )
    announce(cached, env)
    return read_result(layout.export_dir, config.task, cache_hit=cached.hit)


def export(config: Config, model_dir: Path, epoch: int | None) -> None:
    """Export, check parity and write layout.export_dir whole; GateError (and nothing written) when parity fails.
    What the model is, how it is compared with PyTorch and what its golden examples hold is the task's."""
    from ml_ci.data.load import load_splits
    from ml_ci.export.onnx_export import quantize_int8

    task = tasks.get(config.task)
    half, serving = task.export(), task.serving()
    layout = Layout(config.root)
    splits = load_splits(config)
    if splits.get("validation") is None:
        raise OperationalError("the parity check needs a validation split; set data.validation")
    validation = half.examples(splits["validation"])
    golden_split = half.examples(splits.get("test") or splits["validation"])

    torch_model = half.load(model_dir, config)
    source_sha256 = _source_digest(model_dir)
    with staged_dir(layout.export_dir) as out:
        exported = out / ONNX_FILE
        if config.package.quantize == "int8":
            fp32 = out.parent / f".{out.name}.fp32.onnx"
            try:
                torch_model.export(fp32, config.package.opset)
                quantize_int8(fp32, exported)
            finally:
                fp32.unlink(missing_ok=True)
                fp32.with_name(fp32.name + ".data").unlink(missing_ok=True)
        else:
            torch_model.export(exported, config.package.opset)
        shutil.copyfile(model_dir / TOKENIZER, out / TOKENIZER)
        sha256 = onnx_sha256(exported)
        record = manifest(
            config,
            sha256=sha256,
            source_sha256=source_sha256,
            inputs=torch_model.inputs,
            pad_id=torch_model.pad_id,
            lineage=read_optional(layout.lineage),
            metrics=headline(read_optional(layout.eval_record)),
            versions=installed_versions(TOOLCHAIN),
            epoch=epoch,
        )
        model_record.write(MODEL_RECORD.within(out), record)

        # The exported side runs through the server's own code path: what passes here is what is served.
        served = serving.load(out)
        parity = half.parity(torch_model, served, *validation, config.package)
        write_json(out / "parity.json", {**parity.record(), "quantize": config.package.quantize, "sha256": sha256})
        golden = half.golden(torch_model, served, *golden_split, golden_count(config), tolerance_for(config.package.quantize))
        golden_record.write(GOLDEN.within(out), golden)
        if not parity.passed:
            raise GateError("the exported model does not match PyTorch:\n  " + "\n  ".join(parity.failures))
