"""What to build, computed without Docker: the Dockerfile, pinned requirements, tags and labels."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from string import Template
from typing import Any

from ml_ci import tasks
from ml_ci.build.reproducible import rfc3339
from ml_ci.config.model import GENERATION_LIMITS, Config, Serve
from ml_ci.provenance import GitInfo
from ml_ci.records.model import ModelRecord
from ml_ci.resources import resource
from ml_ci.serve import device

# The serving runtime. Versions are pinned to what this ml-ci runs with (see `pins`), so the image
# serves with the onnxruntime and tokenizers that the export's parity check ran.
RUNTIME = ("onnxruntime", "tokenizers", "numpy", "prometheus_client")
# Installed without their dependencies: tokenizers depends on huggingface_hub (with httpx, hf_xet,
# fsspec, pyyaml, tqdm: about 25 MB) only to download from the hub; the server reads tokenizer.json.
NO_DEPS = ("tokenizers",)
# The GPU flavour (image.accelerator: cuda): onnxruntime's CUDA builds in place of the CPU ones, the CUDA and cuDNN
# libraries coming from PyPI with onnxruntime-gpu's [cuda,cudnn] extras (any base image works: only the NVIDIA
# driver comes from the host). They are not installed where ml-ci runs (building needs no GPU), so they are pinned
# here, the whole set as pip resolved it (CPython 3.11, linux/x86_64, 2026-12-05) for the CPU runtime of CUDA_FOR;
# onnxruntime-gpu's newest release then was 1.31.1, one behind the CPU build's. tests/unit/build/test_accelerator.py
# fails when the installed CPU runtime moves off CUDA_FOR, so that these are resolved again with it.
CUDA_BUILDS = {"onnxruntime": "onnxruntime-gpu[cuda,cudnn]", "onnxruntime-genai": "onnxruntime-genai-cuda"}
CUDA_FOR = {"onnxruntime": "1.32.0", "onnxruntime-genai": "0.18.0"}
CUDA_PINS = {"onnxruntime-gpu": "1.31.1", "onnxruntime-genai-cuda": "0.18.0"}
# onnxruntime-gpu 1.31's extras: CUDA 13 (an NVIDIA driver >= 580 on the host) and cuDNN 9.
CUDA_LIBRARIES = {
    "nvidia-cublas": "13.10.0.20",
    "nvidia-cuda-nvrtc": "13.5.37",
    "nvidia-cuda-runtime": "13.5.37",
    "nvidia-cudnn-cu13": "9.28.1.4",
    "nvidia-cufft": "12.5.0.14",
    "nvidia-curand": "10.4.5.25",
    "nvidia-nvjitlink": "13.5.37",
}
ACCELERATORS = ("cpu", "cuda")
SEMVER = re.compile(r"^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)$")
# A Docker tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
LABEL_PREFIX = "io.ml-ci"


@dataclass(frozen=True, kw_only=True)
class BuildPlan:
    repository: str  # registry/repository
    tags: tuple[str, ...]
    dockerfile: str
    requirements: str
    epoch: int = 0  # SOURCE_DATE_EPOCH: the image's created time and its files' mtimes
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(f"{self.repository}:{t}" for t in self.tags)


def repository(config: Config) -> str:
    name = config.image.repository or re.sub(r"[^a-z0-9._/-]+", "-", config.name.lower()).strip("-._/") or "model"
    return f"{config.image.registry}/{name}"


def pinned(dist: str, pins: dict[str, str]) -> str:
    """A requirement (`name` or `name[extras]`); a distribution without a known version is left unpinned."""
    name = dist.split("[", 1)[0]
    return f"{dist}=={pins[name]}" if name in pins else dist


def runtime(task: str) -> tuple[str, ...]:
    """What the image installs to serve the task: the generic runtime, then what the task's serving half adds
    (its ServingHalf.RUNTIME: text-generation's onnxruntime-genai)."""
    from ml_ci import tasks

    return (*RUNTIME, *(d for d in tasks.get(task).serving().RUNTIME if d not in RUNTIME))


def flavour(
    accelerator: str | None, pins: dict[str, str], dependencies: dict[str, str] | None, distributions: tuple[str, ...]
) -> tuple[dict[str, str], dict[str, str] | None, tuple[str, ...]]:
    """`requirements`' arguments for image.accelerator (None: cpu, as given): for cuda, each CPU build's CUDA build
    (CUDA_BUILDS) pinned at CUDA_PINS, and the CUDA libraries (CUDA_LIBRARIES) beside the CPU runtime's other
    dependencies (the CUDA builds depend on the same ones)."""
    if (accelerator or "cpu") == "cpu":
        return pins, dependencies, distributions
    if accelerator != "cuda":
        raise ValueError(f"image.accelerator {accelerator!r} is not one of {', '.join(ACCELERATORS)}")
    swapped = tuple(CUDA_BUILDS.get(d, d) for d in distributions)
    return {**pins, **CUDA_PINS}, {**(dependencies or {}), **CUDA_LIBRARIES}, swapped


def requirements(
    pins: dict[str, str], dependencies: dict[str, str] | None = None, distributions: tuple[str, ...] = RUNTIME
) -> str:
    """requirements.txt: the runtime (`distributions`) installed with its dependencies, these pinned too where
    known (`dependency_pins`), so that the same ml-ci installs the same files into the image at any later date."""
    top = [pinned(d, pins) for d in distributions if d not in NO_DEPS]
    return "".join(f"{line}\n" for line in top + [f"{d}=={v}" for d, v in sorted((dependencies or {}).items())])


def dependency_pins(roots: tuple[str, ...], installed: Mapping[str, tuple[str, list[str]]]) -> dict[str, str]:
    """Every distribution the roots need (their requirements, without extras, whose markers hold here), and
    theirs, at the version installed here: name -> version. installed: name -> (version, requirement strings)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    table = {canonicalize_name(name): value for name, value in installed.items()}
    found: dict[str, str] = {}
    todo = [canonicalize_name(r) for r in roots]
    seen = set(todo)
    while todo:
        for text in table.get(todo.pop(), ("", []))[1]:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            name = canonicalize_name(req.name)
            if name in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
                continue
            seen.add(name)
            if name in table:
                found[name] = table[name][0]
                todo.append(name)
    return found


def generation_limits(serve: Serve) -> dict[str, int]:
    """The serve keys of a model that generates that ml.yaml sets (Limits' names): the image's ENV and `ml-ci serve`
    pass these alone, so that a config without them serves, and renders its Dockerfile, as it always did."""
    return {name: value for name in GENERATION_LIMITS if (value := getattr(serve, name)) is not None}


def render_dockerfile(config: Config, pins: dict[str, str] | None = None, template: str | None = None) -> str:
    text = template if template is not None else resource("templates/docker/Dockerfile.onnx").read_text(encoding="utf-8")
    s = config.serve
    no_deps = " ".join(pinned(d, pins or {}) for d in NO_DEPS)
    # The server's device (ml_ci.serve.device); a CPU image sets none, so that its Dockerfile is what it always was.
    device_env = f" \\\n    {device.ENV}=cuda" if config.image.accelerator == "cuda" else ""
    return Template(text).substitute(
        base=config.image.base,
        device_env=device_env,
        generation_env="".join(f" \\\n    ML_CI_SERVE_{name.upper()}={value}" for name, value in generation_limits(s).items()),
        no_deps=no_deps,
        port=s.port,
        max_batch_size=s.max_batch_size,
        max_batch_delay_ms=s.max_batch_delay_ms,
        max_body_bytes=s.max_body_bytes,
        max_texts=s.max_texts,
        max_text_chars=s.max_text_chars,
        threads=s.threads,
        drain_seconds=s.drain_seconds,
    )


def tags(git: GitInfo, model_sha256: str, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The git sha (else the model's digest), the version of a semver git tag, and any --tag given."""
    out = [git.sha if git.sha else f"model-{model_sha256[:12]}"]
    if git.tag and (m := SEMVER.match(git.tag)):
        out.append(m.group(1))
    for t in extra:
        if not TAG.match(t):
            raise ValueError(f"{t!r} is not a valid image tag (letters, digits, '_', '.', '-'; at most 128)")
        out.append(t)
    return tuple(dict.fromkeys(out))


def labels(
    config: Config, git: GitInfo, model: ModelRecord, *, created: str, data_fingerprint: str | None, metrics: dict[str, Any]
) -> dict[str, str]:
    """OCI annotations (as image labels) and ml-ci's own: the model's digest, the task's own (its export half's
    image_labels, under io.ml-ci.model), its data and its evaluation."""
    semver = SEMVER.match(git.tag) if git.tag else None
    version = semver.group(1) if semver else (git.sha or model.sha256)[:12]
    out = {
        "org.opencontainers.image.title": config.name,
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.version": version,
        f"{LABEL_PREFIX}.model.sha256": model.sha256,
        f"{LABEL_PREFIX}.model.source-sha256": model.source_sha256 or "",
        f"{LABEL_PREFIX}.model.quantize": model.quantize or "none",
        **{f"{LABEL_PREFIX}.model.{name}": value for name, value in tasks.get(config.task).export().image_labels(model).items()},
        f"{LABEL_PREFIX}.metrics": json.dumps(metrics, sort_keys=True, separators=(",", ":")),
        f"{LABEL_PREFIX}.version": model.ml_ci_version or "",
    }
    if git.source:
        out["org.opencontainers.image.source"] = git.source
    if git.sha:
        out["org.opencontainers.image.revision"] = git.sha
    if data_fingerprint:
        out[f"{LABEL_PREFIX}.data.fingerprint"] = data_fingerprint
    return out


def data_fingerprint(lineage: Any, *others: Any) -> str | None:
    """The training data's fingerprint: train's lineage.json first, else the first of the other
    records (evaluate's eval.json, data check's report.json) that has one."""
    data = lineage.get("data") if isinstance(lineage, dict) else None
    train = data.get("train") if isinstance(data, dict) else None  # lineage: data.<role>.fingerprint
    for record in (lineage, data, train, *others):
        if isinstance(record, dict):
            for key in ("data_fingerprint", "fingerprint"):
                if isinstance(record.get(key), str):
                    return str(record[key])
    return None


def make_plan(
    config: Config,
    *,
    git: GitInfo,
    model: ModelRecord,
    pins: dict[str, str],
    epoch: int,
    data_fingerprint: str | None,
    metrics: dict[str, Any],
    extra_tags: tuple[str, ...] = (),
    dependencies: dict[str, str] | None = None,
) -> BuildPlan:
    """The plan; `epoch` (SOURCE_DATE_EPOCH, else the commit's time) is the image's created time, never the clock."""
    return BuildPlan(
        repository=repository(config),
        tags=tags(git, model.sha256, extra_tags),
        dockerfile=render_dockerfile(config, pins),
        requirements=requirements(*flavour(config.image.accelerator, pins, dependencies, runtime(config.task))),
        epoch=epoch,
        labels=labels(config, git, model, created=rfc3339(epoch), data_fingerprint=data_fingerprint, metrics=metrics),
    )
