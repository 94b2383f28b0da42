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
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ml_ci import __version__
from ml_ci.atomic import staged_dir, write_json
from ml_ci.cache import StageCache, announce, cache_key, folder_digest, mode, optional_file_digest, through_cache, unpinned
from ml_ci.config.model import Config
from ml_ci.data.fingerprint import fingerprints
from ml_ci.digest import file_sha256
from ml_ci.errors import GateError, OperationalError
from ml_ci.export import cache_inputs
from ml_ci.export.golden import golden_record, tolerance_for
from ml_ci.export.parity import Parity, compare
from ml_ci.jsonfile import read_optional
from ml_ci.pipeline.layout import Layout

STAGE = "export"
ONNX_FILE = "model.onnx"
# Recorded in model.json: what made the export.
TOOLCHAIN = ("torch", "transformers", "onnx", "onnxruntime", "tokenizers")
# Enough golden examples for the image check even when no environment asks for more.
MIN_GOLDEN = 32
# Measured, not computed: two evaluations of the same model differ in them. They stay in eval.json (which
# travels beside the image in the GitOps record) and out of model.json, the image's labels and the cache key.
MEASURED_METRICS = frozenset({"latency_p50_ms", "latency_p95_ms"})


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    parity: Parity
    sha256: str
    golden: int
    cache_hit: bool = False


def golden_count(config: Config) -> int:
    wanted = [env.smoke_test.golden_examples for env in (config.deploy.environments if config.deploy else ())]
    return max([MIN_GOLDEN, *wanted])


def eval_summary(record: Any) -> dict[str, Any]:
    """The headline numbers of evaluate/eval.json (its `metrics` and `verdict`), when present; not the measured ones."""
    if not isinstance(record, dict):
        return {}
    summary: dict[str, Any] = {}
    metrics = record.get("metrics")
    if isinstance(metrics, dict):
        summary.update(
            {
                k: v
                for k, v in metrics.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in MEASURED_METRICS
            }
        )
    if isinstance(record.get("verdict"), str):
        summary["verdict"] = record["verdict"]
    return summary


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
) -> dict[str, Any]:
    """model.json: what the server and the image labels need to know about the exported model.
    `exported_at` is `epoch` (`export_epoch`), None without one: never the clock, which would make a new image."""
    return {
        "name": config.name,
        "task": config.task,
        "labels": list(config.data.labels),
        "max_length": config.model.max_length,
        "onnx": ONNX_FILE,
        "sha256": sha256,
        "quantize": config.package.quantize,
        "opset": config.package.opset,
        "inputs": list(inputs),
        "pad_id": pad_id,
        "source_sha256": source_sha256,
        "lineage": lineage if isinstance(lineage, dict) else {},
        "metrics": metrics,
        "ml_ci_version": __version__,
        "versions": versions,
        "exported_at": None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds"),
    }


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
        lineage=optional_file_digest(layout.artifacts("train") / "lineage.json"),
        eval_summary=eval_summary(read_optional(layout.eval_record)),
        packages=package_versions(cache_inputs.PACKAGES),
        epoch=epoch,
    )
    return cache_key(STAGE, inputs), unpinned(fps)


def read_result(folder: Path, *, cache_hit: bool) -> ExportResult:
    """The result as the folder on disk says it: the same whether just written or restored."""
    parity = read_optional(folder / "parity.json")
    names = {f.name for f in fields(Parity)}
    return ExportResult(
        folder=folder,
        parity=Parity(**{k: v for k, v in parity.items() if k in names}),
        sha256=read_optional(folder / "model.json")["sha256"],
        golden=len(read_optional(folder / "golden.json")["examples"]),
        cache_hit=cache_hit,
    )


def run_export(
    config: Config, *, model_dir: Path | None = None, no_cache: bool = False, env: Mapping[str, str] | None = None
) -> ExportResult:
    layout = Layout(config.root)
    model_dir = model_dir or layout.model_dir
    if not (model_dir / "config.json").is_file():
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
    return read_result(layout.export_dir, cache_hit=cached.hit)


def export(config: Config, model_dir: Path, epoch: int | None) -> None:
    """Export, check parity and write layout.export_dir whole; GateError (and nothing written) when parity fails."""
    from ml_ci.data.load import load_splits
    from ml_ci.export.onnx_export import TorchModel, quantize_int8
    from ml_ci.serve.model import TOKENIZER, Classifier

    layout = Layout(config.root)
    splits = load_splits(config)
    if splits.get("validation") is None:
        raise OperationalError("the parity check needs a validation split; set data.validation")
    validation = _columns(splits["validation"])
    golden_split = _columns(splits.get("test") or splits["validation"])

    torch_model = TorchModel(model_dir, config.model.max_length)
    if len(torch_model.id2label()) != len(config.data.labels):
        raise OperationalError(
            f"the model has {len(torch_model.id2label())} outputs but data.labels has {len(config.data.labels)}"
        )
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
        shutil.copyfile(model_dir / "tokenizer.json", out / TOKENIZER)
        sha256 = file_sha256(exported)
        record = manifest(
            config,
            sha256=sha256,
            source_sha256=source_sha256,
            inputs=torch_model.inputs,
            pad_id=torch_model.pad_id,
            lineage=read_optional(layout.artifacts("train") / "lineage.json"),
            metrics=eval_summary(read_optional(layout.eval_record)),
            versions=installed_versions(TOOLCHAIN),
            epoch=epoch,
        )
        write_json(out / "model.json", record)

        # The exported side runs through the server's own code path: what passes here is what is served.
        served = Classifier(out)
        texts, truth = validation
        parity = compare(
            torch_model.logits(texts),
            served.logits(texts),
            truth,
            min_agreement=config.package.min_agreement,
            max_accuracy_drop=config.package.max_accuracy_drop,
        )
        write_json(out / "parity.json", {**parity.record(), "quantize": config.package.quantize, "sha256": sha256})
        g_texts, g_truth = golden_split
        write_json(
            out / "golden.json",
            golden_record(
                g_texts,
                g_truth,
                served.labels,
                served.probabilities(g_texts),
                _softmax(torch_model.logits(g_texts)),
                golden_count(config),
                tolerance_for(config.package.quantize),
            ),
        )
        if not parity.passed:
            raise GateError("the exported model does not match PyTorch:\n  " + "\n  ".join(parity.failures))


def _columns(dataset: Any) -> tuple[list[str], list[int]]:
    return list(dataset["text"]), [int(x) for x in dataset["label"]]


def _softmax(logits: Any) -> Any:
    from ml_ci.serve.model import softmax

    return softmax(logits)
