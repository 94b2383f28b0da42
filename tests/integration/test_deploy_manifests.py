"""The GitOps tree renders with the real `kubectl kustomize`, to exactly the objects `strategy: apply`
sends, and every file passes the `kubernetes-validate` CLI (custom kinds: the CRD fixtures)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_ci import tasks
from ml_ci.config import Config
from ml_ci.deploy import manifests, tree
from ml_ci.records.imageref import parse
from ml_ci.records.release import Deployed, Release
from tests.services import require_tool
from tests.unit.deploy.helpers import IMAGE_A, config, eval_record, golden_record, validate_custom

pytestmark = pytest.mark.integration


def write_tree(cfg: Config, out: Path) -> None:
    assert cfg.deploy is not None
    for env in cfg.deploy.environments:
        release = Release(
            environment=env.name, image=IMAGE_A, verdict="pass", smoke="passed", status="live", deployed_at="t", source="deploy"
        )
        for folder, files in tree.environment_tree(
            cfg, env, parse(IMAGE_A), Deployed(release=release, eval_record=eval_record(), golden=golden_record())
        ).items():
            (out / folder).mkdir(parents=True, exist_ok=True)
            for name, text in files.items():
                (out / folder / name).write_text(text, encoding="utf-8")


def kubectl() -> str:
    return require_tool("kubectl", "kubectl renders the kustomizations")


def key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Path]:
    root = tmp_path_factory.mktemp("repo")
    cfg = config(root)
    write_tree(cfg, root / "gitops")
    return cfg, root / "gitops"


@pytest.mark.parametrize("env", ["staging", "production"])
def test_kustomize_renders_each_overlay_to_what_apply_sends(rendered: tuple[Config, Path], env: str) -> None:
    cfg, out = rendered
    assert cfg.deploy is not None
    proc = subprocess.run(
        [kubectl(), "kustomize", str(out / "apps/tiny/overlays" / env)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    from_kustomize = {key(o): o for o in yaml.safe_load_all(proc.stdout)}
    from_python = {key(o): o for o in manifests.render(cfg, cfg.deploy.environment(env), parse(IMAGE_A))}
    assert from_kustomize == from_python
    image = from_kustomize[("Deployment", "tiny")]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == IMAGE_A


def test_every_rendered_object_passes_kubernetes_validate(rendered: tuple[Config, Path], tmp_path: Path) -> None:
    _, out = rendered
    builtin: list[Path] = []
    for env in ("staging", "production"):
        proc = subprocess.run(
            [kubectl(), "kustomize", str(out / "apps/tiny/overlays" / env)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        for i, obj in enumerate(yaml.safe_load_all(proc.stdout)):
            if obj["apiVersion"].startswith("monitoring.coreos.com/"):
                validate_custom(obj)
                continue
            path = tmp_path / f"{env}-{i}-{obj['kind'].lower()}.yaml"
            path.write_text(yaml.safe_dump(obj), encoding="utf-8")
            builtin.append(path)
    cli = Path(sys.executable).with_name("kubernetes-validate")
    proc = subprocess.run(
        [str(cli), "--strict", "--kubernetes-version", "1.32.0", *map(str, builtin)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("INFO") == len(builtin)


@pytest.mark.parametrize(("drain", "pre_stop", "grace"), [(5, 5, 55), (12.5, 13, 71), (0, None, 45)])
def test_a_rolling_update_waits_out_the_servers_drain(
    rendered: tuple[Config, Path], drain: float, pre_stop: int | None, grace: int
) -> None:
    """Issue 13: the pod's preStop delay, the server's drain (ML_CI_SERVE_DRAIN_SECONDS) and
    terminationGracePeriodSeconds follow serve.drain_seconds. The grace period covers the preStop sleep,
    the drain, a request's longest read (10 s) and prediction (30 s), and 5 s of margin; before, it was a
    fixed 30 s with no preStop, shorter than the server's own request timeout alone."""
    cfg, _ = rendered
    assert cfg.deploy is not None and cfg.serve.drain_seconds == 5  # the schema's default
    cfg = dataclasses.replace(cfg, serve=dataclasses.replace(cfg.serve, drain_seconds=drain))
    assert cfg.deploy is not None
    dep = manifests.render(cfg, cfg.deploy.environment("production"), parse(IMAGE_A))[0]
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["terminationGracePeriodSeconds"] == grace
    assert container.get("lifecycle") == ({"preStop": {"sleep": {"seconds": pre_stop}}} if pre_stop else None)
    assert {"name": "ML_CI_SERVE_DRAIN_SECONDS", "value": f"{drain:g}"} in container["env"]
    from ml_ci.serve.__main__ import parse as serve_flags

    env = {e["name"]: e["value"] for e in container["env"]}
    assert serve_flags([], env)[3].drain_seconds == drain, "the image's entry point reads what the manifest sets"


@pytest.mark.parametrize("env", ["staging", "production"])
def test_a_generating_models_gpu_and_start_up_survive_kustomize(tmp_path: Path, env: str) -> None:
    """The GPU limit of image.accelerator: cuda is in the environment's patch, beside ml.yaml's resources, and the
    longer start-up in the base: kustomize's strategic merge gives what apply sends."""
    from tests.unit.deploy.test_manifests_golden import generating

    cfg = generating(tmp_path)
    assert cfg.deploy is not None and cfg.deploy.gitops is not None
    write_tree(cfg, tmp_path / "gitops")
    overlay = tmp_path / "gitops" / cfg.deploy.gitops.path / "overlays" / env
    proc = subprocess.run([kubectl(), "kustomize", str(overlay)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    from_kustomize = {key(o): o for o in yaml.safe_load_all(proc.stdout)}
    assert from_kustomize == {key(o): o for o in manifests.render(cfg, cfg.deploy.environment(env), parse(IMAGE_A))}
    deployment = from_kustomize[("Deployment", cfg.name)]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    probe, startup = container["startupProbe"], tasks.get(cfg.task).config().STARTUP_SECONDS
    assert (
        probe["periodSeconds"] * probe["failureThreshold"] >= startup and deployment["spec"]["progressDeadlineSeconds"] > startup
    )
