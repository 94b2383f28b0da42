"""The files of the GitOps folder, as relative path -> text (pure).

    <path>/base/                 kustomization.yaml, deployment.yaml, service.yaml, servicemonitor.yaml
    <path>/overlays/<env>/       kustomization.yaml (namespace, image by digest), deployment-patch.yaml,
                                 hpa.yaml, pdb.yaml, prometheusrule.yaml, eval.json, release.json

Argo CD or Flux points at an overlay; `release.json` says what runs there and whether it passed
its smoke test; `eval.json` is the evaluation record of that model.
"""

from __future__ import annotations

from typing import Any

import yaml

from ml_ci.config.model import Config, Environment
from ml_ci.deploy import manifests
from ml_ci.records.imageref import ImageRef
from ml_ci.records.release import Deployed

HEADER = "# Written by `ml-ci deploy`; changes here are replaced on the next deploy.\n"
FILE_OF_KIND = {
    "Deployment": "deployment.yaml",
    "Service": "service.yaml",
    "ServiceMonitor": "servicemonitor.yaml",
    "HorizontalPodAutoscaler": "hpa.yaml",
    "PodDisruptionBudget": "pdb.yaml",
    "PrometheusRule": "prometheusrule.yaml",
}


def dump(obj: Any) -> str:
    return HEADER + yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=1000)


def base_dir(config: Config) -> str:
    assert config.deploy is not None and config.deploy.gitops is not None
    return f"{config.deploy.gitops.path.rstrip('/')}/base"


def overlay_dir(config: Config, env: str) -> str:
    assert config.deploy is not None and config.deploy.gitops is not None
    return f"{config.deploy.gitops.path.rstrip('/')}/overlays/{env}"


def base_files(config: Config) -> dict[str, str]:
    objs = manifests.base(config)
    files = {FILE_OF_KIND[o["kind"]]: dump(o) for o in objs}
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": list(files)}
    files["kustomization.yaml"] = dump(kustomization)
    return files


def overlay_files(config: Config, env: Environment, image: ImageRef, deployed: Deployed) -> dict[str, str]:
    objs = manifests.overlay(config, env)
    files = {FILE_OF_KIND[o["kind"]]: dump(o) for o in objs}
    files["deployment-patch.yaml"] = dump(manifests.deployment_patch(config, env))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": env.k8s_namespace,
        "resources": ["../../base", *sorted(f for f in files if f != "deployment-patch.yaml")],
        "patches": [{"path": "deployment-patch.yaml"}],
        # The base names the image by the model's name; this pins it by digest, never by tag.
        "images": [{"name": config.name, "newName": image.name, "digest": image.digest}],
    }
    files["kustomization.yaml"] = dump(kustomization)
    files.update(deployed.files())  # eval.json, golden.json, release.json
    return files


def environment_tree(config: Config, env: Environment, image: ImageRef, deployed: Deployed) -> dict[str, dict[str, str]]:
    """Folder -> {file name -> text}: each folder is owned whole (files not listed are removed)."""
    return {
        base_dir(config): base_files(config),
        overlay_dir(config, env.name): overlay_files(config, env, image, deployed),
    }
