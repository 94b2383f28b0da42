"""A Kubeflow Training Operator PyTorchJob (kubeflow.org/v1) for train.distributed.nodes > 1 (pure).

Every pod runs the same image and the same `ml-ci train` command as CI. The operator gives each
pod PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK, PET_MASTER_ADDR and PET_MASTER_PORT; `ml-ci
train` sees them and starts torch.distributed.run with them (see ml_ci.train.launch).
Master has one replica (the operator requires it); Worker has nodes - 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ml_ci.config.model import Config

CONTAINER = "pytorch"  # the operator finds the training container by this name


@dataclass(frozen=True, kw_only=True)
class JobOptions:
    image: str
    workdir: str = "/workspace"  # where the image holds the model repository
    config: str = "ml.yaml"  # relative to workdir
    gpus_per_node: int = 0
    memory: str | None = None
    namespace: str | None = None


def job_name(config: Config) -> str:
    """name is a DNS-1123 label already (the schema says so); the suffix must keep it within 63 characters."""
    return f"{config.name[:57].rstrip('-')}-train"


def default_image(config: Config) -> str:
    repository = config.image.repository or config.name
    return f"{config.image.registry}/{repository}-train:latest"


def _replica(config: Config, options: JobOptions, replicas: int) -> dict[str, Any]:
    nproc = config.train.distributed.nproc_per_node
    resources: dict[str, dict[str, str]] = {"requests": {"cpu": str(nproc)}}
    if options.memory:
        resources["requests"]["memory"] = options.memory
        resources["limits"] = {"memory": options.memory}
    if options.gpus_per_node:
        resources.setdefault("limits", {})["nvidia.com/gpu"] = str(options.gpus_per_node)
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": options.image,
        "imagePullPolicy": "IfNotPresent",
        "workingDir": options.workdir,
        "command": ["ml-ci", "train", "-c", options.config],
        # Plain log lines (no progress bar), and the hub stays closed as in CI.
        "env": [{"name": "CI", "value": "true"}, {"name": "HF_HUB_OFFLINE", "value": "1"}],
        "resources": resources,
    }
    return {
        "replicas": replicas,
        "restartPolicy": "OnFailure",
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": job_name(config), "app.kubernetes.io/component": "training"}},
            "spec": {"containers": [container]},
        },
    }


def render_job(config: Config, options: JobOptions) -> dict[str, Any]:
    nodes = config.train.distributed.nodes
    specs = {"Master": _replica(config, options, 1)}
    if nodes > 1:
        specs["Worker"] = _replica(config, options, nodes - 1)
    metadata: dict[str, Any] = {
        "name": job_name(config),
        "labels": {"app.kubernetes.io/name": job_name(config), "app.kubernetes.io/managed-by": "ml-ci"},
    }
    if options.namespace:
        metadata["namespace"] = options.namespace
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": metadata,
        "spec": {
            "nprocPerNode": str(config.train.distributed.nproc_per_node),
            "runPolicy": {"cleanPodPolicy": "None", "backoffLimit": 3},
            "pytorchReplicaSpecs": specs,
        },
    }


def render_kustomization(job_file: str) -> dict[str, Any]:
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": [job_file]}
