"""`ml-ci build`: plan, build, verify the running image against the golden examples, push, record."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ml_ci.build import docker_ops
from ml_ci.build.context import write_context
from ml_ci.build.git import git_info
from ml_ci.build.plan import RUNTIME, BuildPlan, data_fingerprint, make_plan
from ml_ci.build.verify import check_server, free_port, wait_ready
from ml_ci.config.model import Config
from ml_ci.errors import OperationalError
from ml_ci.export.files import read_json, write_json
from ml_ci.export.stage import eval_summary, installed_versions
from ml_ci.pipeline.layout import Layout

READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class BuildResult:
    record: dict[str, Any]

    @property
    def reference(self) -> str:
        return str(self.record["reference"])


def plan_build(config: Config, env: Mapping[str, str], extra_tags: tuple[str, ...] = ()) -> BuildPlan:
    """Everything about the image that can be known before Docker runs (reads artifacts, writes nothing)."""
    layout = Layout(config.root)
    manifest = read_json(layout.export_dir / "model.json")
    if not isinstance(manifest, dict):
        raise OperationalError(f"{layout.export_dir / 'model.json'} is missing; run `ml-ci export` first")
    try:
        return make_plan(config, git=git_info(config.root, env), manifest=manifest, pins=installed_versions(RUNTIME),
                         created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                         data_fingerprint=data_fingerprint(read_json(layout.artifacts("train") / "lineage.json"),
                                                           read_json(layout.eval_record), read_json(layout.data_report)),
                         metrics=eval_summary(read_json(layout.eval_record)) or manifest.get("metrics", {}),
                         extra_tags=extra_tags)
    except ValueError as e:
        raise OperationalError(str(e)) from None


def verify(c: Any, image_id: str, config: Config, golden: dict[str, Any], eval_record: Any,
           log: Callable[[str], None]) -> dict[str, Any]:
    """Run the image (host network, a free port on 127.0.0.1) and check it; raises when it fails."""
    port = free_port()
    container = docker_ops.run_detached(c, image_id, {"ML_CI_SERVE_HOST": "127.0.0.1", "ML_CI_SERVE_PORT": str(port)})
    base = f"http://127.0.0.1:{port}"
    exit_code = None
    try:
        def alive() -> bool:
            container.reload()
            return container.status in ("created", "running")

        try:
            seconds = wait_ready(base, READY_TIMEOUT_S, alive)
        except (TimeoutError, RuntimeError) as e:
            raise OperationalError(f"the image did not become ready: {e}\n{docker_ops.logs(container)}") from None
        # An int8 model is compared with its own golden answers only: PyTorch's may differ within the parity bounds.
        problems, compared = check_server(base, golden, config.serve.max_texts,
                                          eval_record if config.package.quantize == "none" else None)
        if problems:
            shown = "\n  ".join(problems[:10])
            raise OperationalError(f"the image answers {len(problems)} golden example(s) differently; "
                                   f"nothing was pushed:\n  {shown}")
    finally:
        exit_code = docker_ops.stop(container)
    if exit_code != 0:
        raise OperationalError(f"the image did not stop cleanly on SIGTERM (exit code {exit_code}); nothing was pushed")
    log(f"verified: ready in {seconds:.1f} s, {len(golden['examples'])} golden examples match"
        + (f" ({compared} also against evaluate's predictions)" if compared else "") + ", clean exit on SIGTERM")
    return {"ready_seconds": round(seconds, 3), "golden_examples": len(golden["examples"]), "compared_with_eval": compared}


def run_build(config: Config, *, push: bool, extra_tags: tuple[str, ...] = (), env: Mapping[str, str] | None = None,
              log: Callable[[str], None] = print) -> BuildResult:
    env = os.environ if env is None else env
    layout = Layout(config.root)
    plan = plan_build(config, env, extra_tags)
    golden = read_json(layout.export_dir / "golden.json")
    if not isinstance(golden, dict) or not golden.get("examples"):
        raise OperationalError(f"{layout.export_dir / 'golden.json'} has no golden examples; run `ml-ci export` again")
    auth = docker_ops.auth_config(config.image.registry_username_env, config.image.registry_password_env, env) if push else None
    c = docker_ops.client()
    with tempfile.TemporaryDirectory(prefix="ml-ci-build-") as tmp:
        write_context(plan, layout.export_dir, Path(tmp))
        log(f"building {plan.references[0]} FROM {config.image.base}")
        image = docker_ops.build(c, Path(tmp), plan.references[0], plan.labels, lambda line: None)
    for ref in plan.references[1:]:
        image.tag(plan.repository, tag=ref.rsplit(":", 1)[1])
    checks = verify(c, image.id, config, golden, read_json(layout.eval_record), log)

    record: dict[str, Any] = {"repository": plan.repository, "tags": list(plan.tags), "image_id": image.id,
                              "size": image.attrs.get("Size"), "labels": plan.labels, "verification": checks,
                              "pushed": push, "digest": None, "reference": plan.references[0]}
    if push:
        digests = {t: docker_ops.push(c, plan.repository, t, auth) for t in plan.tags}
        digest = digests[plan.tags[0]].digest
        if any(p.digest != digest for p in digests.values()):
            raise OperationalError(f"the tags of one image were pushed with different digests: {digests}")
        record.update(digest=digest, reference=f"{plan.repository}@{digest}")
        log(f"pushed {record['reference']} (tags: {', '.join(plan.tags)})")
    write_json(layout.image_record, record)
    return BuildResult(record)
