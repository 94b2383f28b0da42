"""Kubernetes manifests for one model and environment, as data (dicts), from templates/k8s/.

Two views of the same thing:
- `base()` + `overlay()`: the kustomize base (shared by every environment) and one
  environment's additions and patch, which the GitOps repository holds;
- `render()`: the final objects for an environment, what `kubectl kustomize` makes of the
  overlay, and what `ml-ci deploy` applies under `strategy: apply`.
A test checks that the two agree.
"""

from __future__ import annotations

import copy
import math
from functools import cache
from typing import Any

import yaml

from ml_ci import tasks
from ml_ci.config.model import Config, Environment, ResourceSet
from ml_ci.deploy import alerts
from ml_ci.records.imageref import ImageRef
from ml_ci.resources import resource
from ml_ci.serve.limits import Limits

Manifest = dict[str, Any]
CONTAINER = "server"
# What `python -m ml_ci.serve` reads: in a pod it must listen on the pod's address, not loopback.
PORT_ENV, HOST_ENV = "ML_CI_SERVE_PORT", "ML_CI_SERVE_HOST"
DRAIN_ENV = "ML_CI_SERVE_DRAIN_SECONDS"
# The server's second port, for kubelet's probes only (ml_ci/serve/server.py): never the Service's.
PROBE_ENV, PROBE_PORT = "ML_CI_SERVE_PROBE_PORT", 8081
# Seconds left to the kubelet between the end of the drain and SIGKILL, beyond the server's own bounds.
GRACE_MARGIN_S = 5
# image.accelerator: cuda asks the scheduler for one GPU (the NVIDIA device plugin's resource), in limits as
# extended resources must be (their request follows the limit).
GPU_RESOURCE, GPU_ACCELERATOR = "nvidia.com/gpu", "cuda"


@cache
def _template(name: str) -> Manifest:
    with resource(f"templates/k8s/{name}.yaml").open(encoding="utf-8") as f:
        loaded: Manifest = yaml.safe_load(f)
    return loaded


def template(name: str) -> Manifest:
    """A fresh copy of templates/k8s/<name>.yaml (the cache must never be mutated)."""
    return copy.deepcopy(_template(name))


def selector_labels(config: Config) -> dict[str, str]:
    # Selectors are immutable on a Deployment: keep them to what never changes.
    return {"app.kubernetes.io/name": config.name, "app.kubernetes.io/instance": config.name}


def common_labels(config: Config) -> dict[str, str]:
    return {
        **selector_labels(config),
        "app.kubernetes.io/component": "inference",
        "app.kubernetes.io/part-of": config.name,
        "app.kubernetes.io/managed-by": "ml-ci",
    }


def _named(kind: str, config: Config) -> Manifest:
    obj = template(kind)
    obj["metadata"] = {"name": config.name, "labels": common_labels(config)}
    return obj


def _quantities(rs: ResourceSet | None) -> dict[str, str]:
    if rs is None:
        return {}
    return {k: v for k, v in (("cpu", rs.cpu), ("memory", rs.memory)) if v is not None}


def needs_pdb(env: Environment) -> bool:
    return env.replicas > 1 or (env.autoscale is not None and env.autoscale.min_replicas > 1)


def deployment(config: Config, image: str) -> Manifest:
    obj = _named("deployment", config)
    spec = obj["spec"]
    spec["selector"]["matchLabels"] = selector_labels(config)
    spec["template"]["metadata"]["labels"] = common_labels(config)
    container = spec["template"]["spec"]["containers"][0]
    container["image"] = image
    ports = {p["name"]: p for p in container["ports"]}
    ports["http"]["containerPort"] = config.serve.port
    ports["probe"]["containerPort"] = probe = probe_port(config.serve.port)
    container["env"] = [
        {"name": HOST_ENV, "value": "0.0.0.0"},
        {"name": PORT_ENV, "value": str(config.serve.port)},
        {"name": PROBE_ENV, "value": str(probe)},
        {"name": DRAIN_ENV, "value": f"{config.serve.drain_seconds:g}"},
    ]
    _termination(spec["template"]["spec"], container, config.serve.drain_seconds)
    _startup(spec, container, tasks.get(config.task).config().STARTUP_SECONDS)
    return obj


def _startup(spec: Manifest, container: Manifest, startup_seconds: int) -> None:
    """Time for a server that loads for long (ConfigHalf.STARTUP_SECONDS: a language model's minutes).

    The template's startup probe (its period times its failure threshold) and the rollout's progress deadline are
    made for a model that loads in seconds. For a longer start both grow by the difference: the kubelet keeps
    liveness off for that long (the probe asks /healthz, which answers while the model loads unless loading stalls
    the accept loop, and then a restart would start the load over), and `ml-ci deploy` and Argo CD do not call a
    rollout failed while its new pod is still loading (readiness waits for the load either way)."""
    probe = container["startupProbe"]
    window = probe["periodSeconds"] * probe["failureThreshold"]
    if startup_seconds > window:
        probe["failureThreshold"] = math.ceil(startup_seconds / probe["periodSeconds"])
        spec["progressDeadlineSeconds"] += startup_seconds - window


def probe_port(serve_port: int) -> int:
    """The probes' port: 8081, or the next one when serve.port takes it."""
    return PROBE_PORT if serve_port != PROBE_PORT else PROBE_PORT + 1


def _termination(pod: Manifest, container: Manifest, drain_seconds: float) -> None:
    """A pod that is deleted loses no request (templates/k8s/README.md, docs/architecture.md).

    Kubernetes removes a terminating pod from its Service's endpoints while it runs the preStop hook,
    but kube-proxy, ingress controllers and meshes learn it only seconds later, and keep sending it new
    connections meanwhile. So: preStop sleeps drain_seconds (the server serves as usual), then SIGTERM
    starts the server's own drain of drain_seconds (still accepting, each answer saying `Connection:
    close` so that keep-alive clients move to other pods), then the server finishes what it has read.
    terminationGracePeriodSeconds covers all of it: both waits, the longest a request may take to arrive
    and to be predicted, and a margin; otherwise the kubelet's SIGKILL would cut the last answers."""
    wait = math.ceil(drain_seconds)
    if wait > 0:  # a sleep action of 0 s is refused unless a newer feature gate allows it; no wait needs no hook
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": wait}}}
    pod["terminationGracePeriodSeconds"] = wait + stop_grace_seconds(drain_seconds)


def stop_grace_seconds(drain_seconds: float) -> int:
    """From SIGTERM to the server's exit at the latest: its drain of drain_seconds, then the longest a request
    already accepted may take to arrive and be predicted, and a margin. A SIGKILL before that (the kubelet's,
    `docker stop`'s) cuts the last answers short."""
    limits = Limits()
    return math.ceil(drain_seconds) + math.ceil(limits.request_read_timeout_s + limits.request_timeout_s) + GRACE_MARGIN_S


def service(config: Config) -> Manifest:
    obj = _named("service", config)
    obj["spec"]["selector"] = selector_labels(config)
    return obj


def _selecting(kind: str, config: Config) -> Manifest:
    """A template whose spec.selector picks the model's pods (ServiceMonitor, PodDisruptionBudget)."""
    obj = _named(kind, config)
    obj["spec"]["selector"]["matchLabels"] = selector_labels(config)
    return obj


def service_monitor(config: Config) -> Manifest:
    return _selecting("servicemonitor", config)


def prometheus_rule(config: Config, env: Environment) -> Manifest:
    obj = _named("prometheusrule", config)
    obj["spec"]["groups"] = [
        {
            "name": f"{config.name}.rules",
            "rules": alerts.rules(
                config.name, env.k8s_namespace, config.monitoring, tasks.get(config.task).config().CLIENT_PATHS
            ),
        }
    ]
    return obj


def hpa(config: Config, env: Environment) -> Manifest:
    assert env.autoscale is not None
    obj = _named("hpa", config)
    spec = obj["spec"]
    spec["scaleTargetRef"]["name"] = config.name
    spec["minReplicas"] = env.autoscale.min_replicas
    spec["maxReplicas"] = env.autoscale.max_replicas
    spec["metrics"][0]["resource"]["target"]["averageUtilization"] = env.autoscale.target_cpu_utilization
    return obj


def pdb(config: Config) -> Manifest:
    return _selecting("pdb", config)


def deployment_patch(config: Config, env: Environment) -> Manifest:
    """The environment's strategic-merge patch: replicas (unless an HPA owns them) and resources (a GPU in limits for
    image.accelerator: cuda)."""
    spec: dict[str, Any] = {}
    if env.autoscale is None:
        spec["replicas"] = env.replicas
    limits = _quantities(env.resources.limits)
    if config.image.accelerator == GPU_ACCELERATOR:
        limits[GPU_RESOURCE] = "1"
    resources = {k: v for k, v in (("requests", _quantities(env.resources.requests)), ("limits", limits)) if v}
    if resources:
        spec["template"] = {"spec": {"containers": [{"name": CONTAINER, "resources": resources}]}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": config.name}, "spec": spec}


def base(config: Config) -> list[Manifest]:
    """Objects shared by every environment; the image is a placeholder name that overlays pin by digest."""
    objs = [deployment(config, config.name), service(config)]
    if config.monitoring.enabled:
        objs.append(service_monitor(config))
    return objs


def overlay(config: Config, env: Environment) -> list[Manifest]:
    """Objects only this environment has (namespace set by the overlay's kustomization)."""
    objs: list[Manifest] = []
    if env.autoscale is not None:
        objs.append(hpa(config, env))
    if needs_pdb(env):
        objs.append(pdb(config))
    if config.monitoring.enabled:
        objs.append(prometheus_rule(config, env))
    return objs


def _apply_patch(dep: Manifest, patch: Manifest) -> None:
    spec = patch["spec"]
    if "replicas" in spec:
        dep["spec"]["replicas"] = spec["replicas"]
    for c_patch in spec.get("template", {}).get("spec", {}).get("containers", []):
        for c in dep["spec"]["template"]["spec"]["containers"]:
            if c["name"] == c_patch["name"]:
                c["resources"] = c_patch["resources"]


def render(config: Config, env: Environment, image: ImageRef) -> list[Manifest]:
    """The final objects for an environment: base + overlay + patch, namespaced, image pinned by digest."""
    objs = base(config) + overlay(config, env)
    for obj in objs:
        obj["metadata"]["namespace"] = env.k8s_namespace
    dep = objs[0]
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = str(image)
    _apply_patch(dep, deployment_patch(config, env))
    return objs


def release_record(config: Config, env: Environment, files: dict[str, str]) -> Manifest:
    """The ConfigMap that says, inside the cluster, what runs (`strategy: apply`): release.json, the
    evaluation record without its per-example predictions, and golden.json, for the next promotion."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{config.name}-ml-ci-release", "namespace": env.k8s_namespace, "labels": common_labels(config)},
        "data": files,
    }
