"""`ml-ci build`: plan, build, verify the running image against the golden examples, push, record."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ml_ci import tasks
from ml_ci.build import docker_ops
from ml_ci.build.context import MODEL_FILES, write_context
from ml_ci.build.plan import NO_DEPS, RUNTIME, BuildPlan, data_fingerprint, dependency_pins, make_plan, runtime
from ml_ci.build.reproducible import normalize_saved
from ml_ci.build.verify import verify
from ml_ci.config.load import check_file
from ml_ci.config.model import Config
from ml_ci.errors import ConfigError, MlCiError, OperationalError, Problem
from ml_ci.export.stage import installed_versions
from ml_ci.jsonfile import read_optional
from ml_ci.pipeline.layout import Layout
from ml_ci.provenance import GitInfo, git_info, source_date_epoch
from ml_ci.records import image as image_record
from ml_ci.records.evaluation import headline
from ml_ci.records.golden import GoldenRecord
from ml_ci.records.image import ImageRecord
from ml_ci.records.model import ModelRecord
from ml_ci.supply import attest


@dataclass(frozen=True)
class BuildResult:
    record: ImageRecord
    attestation: attest.Attestation | None = None  # when supply_chain.attest made one after the push

    @property
    def reference(self) -> str:
        return self.record.reference


def build_epoch(git: GitInfo, model: ModelRecord, env: Mapping[str, str]) -> int:
    """The one time the image carries (its created label, config and file times): SOURCE_DATE_EPOCH, else
    the commit's time, else when the model was exported (kept by export's cache), never the clock."""
    exported = model.exported_at
    try:
        fallback = int(datetime.fromisoformat(exported).timestamp()) if isinstance(exported, str) else None
    except ValueError:
        fallback = None
    try:
        return source_date_epoch(env, git.timestamp, fallback)
    except ValueError as e:
        raise OperationalError(str(e)) from None


def read_model(path: Path) -> ModelRecord:
    """export/model.json; OperationalError when it is absent, not JSON or not what `ml-ci export` writes."""
    data = read_optional(path)
    if not isinstance(data, dict):
        raise OperationalError(f"{path} is missing; run `ml-ci export` first")
    try:
        return ModelRecord.from_data(data)
    except KeyError as e:
        raise OperationalError(f"{path}: the model record has no {e}; run `ml-ci export` again") from None
    except (TypeError, ValueError) as e:
        raise OperationalError(f"{path}: the model record is not one `ml-ci export` writes: {e}") from None


def runtime_dependencies(roots: tuple[str, ...] = RUNTIME) -> dict[str, str]:
    """The installed versions of what the runtime (but tokenizers, installed --no-deps) depends on."""
    from importlib.metadata import distributions

    try:
        installed = {d.metadata["Name"]: (d.version, list(d.requires or [])) for d in distributions() if d.metadata["Name"]}
        pins = dependency_pins(tuple(d for d in roots if d not in NO_DEPS), installed)
    except ImportError:  # packaging: what onnxruntime itself needs; without it, pip resolves them at build time
        return {}
    top = {d.lower().replace("_", "-") for d in roots}
    return {name: version for name, version in pins.items() if name not in top}


def plan_build(config: Config, env: Mapping[str, str], extra_tags: tuple[str, ...] = ()) -> BuildPlan:
    """Everything about the image that can be known before Docker runs (reads artifacts, writes nothing)."""
    layout = Layout(config.root)
    model = read_model(layout.model_record)
    git = git_info(config.root, env)
    epoch = build_epoch(git, model, env)
    try:
        return make_plan(
            config,
            git=git,
            model=model,
            pins=installed_versions(runtime(config.task)),
            epoch=epoch,
            dependencies=runtime_dependencies(runtime(config.task)),
            data_fingerprint=data_fingerprint(
                read_optional(layout.lineage),
                read_optional(layout.eval_record),
                read_optional(layout.data_report),
            ),
            metrics=headline(read_optional(layout.eval_record)) or model.metrics,
            extra_tags=extra_tags,
        )
    except ValueError as e:
        raise OperationalError(str(e)) from None


def check_platforms(config: Config, engine: str) -> None:
    """Build what image.platforms asks or refuse: the classic builder builds for the engine's platform only."""
    asked = config.image.platforms
    if asked == (engine,):
        return
    message = (
        f"{', '.join(asked)} cannot be built by this Docker engine, which builds {engine} images only (ml-ci "
        f"builds one image, for the engine's own platform); set image.platforms: [{engine}] or build on a "
        f"{asked[0]} machine"
    )
    try:
        problem = check_file(config.path).document.problem(("image", "platforms"), message, key=True)
    except MlCiError:
        problem = Problem(str(config.path), 0, 0, "image.platforms", message)
    raise ConfigError([problem])


def normalize(c: Any, image_id: str, base: str, plan: BuildPlan, work: Path) -> Any:
    """The built image, saved, made reproducible (`ml_ci.build.reproducible`) and loaded back."""
    saved = work / "saved.tar"
    docker_ops.save(c, image_id, saved)
    try:
        result = normalize_saved(saved, work / "normalized", base_diff_ids=docker_ops.diff_ids(c, base), epoch=plan.epoch)
    except (ValueError, OSError, KeyError) as e:
        raise OperationalError(f"the built image could not be normalized: {e}") from None
    finally:
        saved.unlink(missing_ok=True)
    return docker_ops.load(c, result.archive, result.image_id)


def run_build(
    config: Config,
    *,
    push: bool,
    extra_tags: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
    log: Callable[[str], None] = print,
    no_cache: bool = False,
) -> BuildResult:
    env = os.environ if env is None else env
    layout = Layout(config.root)
    plan = plan_build(config, env, extra_tags)
    golden = read_optional(layout.golden)
    if not isinstance(golden, dict) or not golden.get("examples"):
        raise OperationalError(f"{layout.golden} has no golden examples; run `ml-ci export` again")
    golden_examples = GoldenRecord.from_data(golden, str(layout.golden))
    auth = docker_ops.auth_config(config.image.registry_username_env, config.image.registry_password_env, env) if push else None
    # The signing key is read before anything is built: a missing secret fails in seconds, not after the push.
    attesting = push and config.supply_chain is not None and config.supply_chain.attest
    signing = attest.signer(config, env) if attesting else None
    c = docker_ops.client()
    check_platforms(config, docker_ops.engine_platform(c))
    with tempfile.TemporaryDirectory(prefix="ml-ci-build-") as tmp:
        context = Path(tmp) / "context"
        write_context(plan, layout.export_dir, context, tasks.get(config.task).export().SERVED_FILES)
        log(f"building {plan.references[0]} FROM {config.image.base}")
        # Untagged: the classic builder's image keeps its layer cache; what is tagged and pushed is the normalized one.
        built = docker_ops.build(c, context, None, plan.labels, lambda line: None, nocache=no_cache)
        image = normalize(c, built.id, config.image.base, plan, Path(tmp))
    for ref in plan.references:
        image.tag(plan.repository, tag=ref.rsplit(":", 1)[1])
    checks = verify(c, image.id, config, golden_examples, read_optional(layout.eval_record), log)

    record = ImageRecord(
        repository=plan.repository,
        tags=plan.tags,
        image_id=image.id,
        size=image.attrs.get("Size"),
        labels=plan.labels,
        source_date_epoch=plan.epoch,
        verification=checks,
        pushed=push,
        digest=None,
        reference=plan.references[0],
    )
    if push:
        digests = {t: docker_ops.push(c, plan.repository, t, auth) for t in plan.tags}
        digest = digests[plan.tags[0]].digest
        if any(p.digest != digest for p in digests.values()):
            raise OperationalError(f"the tags of one image were pushed with different digests: {digests}")
        record = replace(record, digest=digest, reference=f"{plan.repository}@{digest}")
        log(f"pushed {record.reference} (tags: {', '.join(plan.tags)})")
    image_record.write(layout.image_record, record)
    if signing is None:
        return BuildResult(record)
    # What write_context copied into the image's /opt/model (its folder is gone with the temporary directory).
    served = tasks.get(config.task).export().SERVED_FILES
    names = (*MODEL_FILES, *(f for f in served if (layout.export_dir / f).is_file()))
    attestation = attest.attest(
        config, record, env=env, docker=c, model_files=[layout.export_dir / n for n in names], signing=signing, log=log
    )
    return BuildResult(record, attestation)
