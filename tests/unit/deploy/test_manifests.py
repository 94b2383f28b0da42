"""Rendering manifests is pure: config in, dicts out, each valid against the real schemas."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ml_ci.config import Config
from ml_ci.deploy import manifests
from ml_ci.records.imageref import parse
from ml_ci.serve.__main__ import parse as serve_flags
from tests.unit.deploy.helpers import IMAGE_A, config, environments, validate_any, validate_custom


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return config(tmp_path_factory.mktemp("repo"))


def by_kind(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in objs}


def test_every_rendered_object_passes_its_schema(cfg: Config) -> None:
    assert cfg.deploy is not None
    for env in cfg.deploy.environments:
        for obj in manifests.render(cfg, env, parse(IMAGE_A)):
            validate_any(obj)


def test_deployment_is_pinned_hardened_and_probed(cfg: Config) -> None:
    assert cfg.deploy is not None
    dep = by_kind(manifests.render(cfg, cfg.deploy.environment("staging"), parse(IMAGE_A)))["Deployment"]
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == IMAGE_A
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert dep["spec"]["progressDeadlineSeconds"] > 0
    assert dep["metadata"]["namespace"] == "ml-staging"
    assert dep["spec"]["replicas"] == 1
    assert {"name": "ML_CI_SERVE_PORT", "value": str(cfg.serve.port)} in c["env"]
    assert c["ports"][0]["containerPort"] == cfg.serve.port
    for key in ("name", "instance", "component", "part-of", "managed-by"):
        assert f"app.kubernetes.io/{key}" in dep["metadata"]["labels"]


def test_the_kubelet_probes_a_port_that_clients_cannot_fill(cfg: Config) -> None:
    """Probed on the serving port, liveness got the 503 of a full max_connections under a flood, and the
    kubelet restarted a pod that was only busy. Every probe goes to the server's probe port (the port that
    ML_CI_SERVE_PROBE_PORT opens), which the Service does not route clients to, and never serve.port."""
    assert cfg.deploy is not None
    for serve_port in (cfg.serve.port, manifests.PROBE_PORT):
        config = dataclasses.replace(cfg, serve=dataclasses.replace(cfg.serve, port=serve_port))
        assert config.deploy is not None
        objs = by_kind(manifests.render(config, config.deploy.environment("production"), parse(IMAGE_A)))
        (c,) = objs["Deployment"]["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        env = {e["name"]: e["value"] for e in c["env"]}
        assert ports["http"] == serve_port != ports["probe"] == int(env["ML_CI_SERVE_PROBE_PORT"])
        assert serve_flags([], env)[3].probe_port == ports["probe"], "the server opens the port the kubelet probes"
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert c[probe]["httpGet"]["port"] == "probe", probe
        assert [p["targetPort"] for p in objs["Service"]["spec"]["ports"]] == ["http"]


def test_staging_has_no_hpa_or_pdb_and_production_has_both(cfg: Config) -> None:
    assert cfg.deploy is not None
    staging = by_kind(manifests.render(cfg, cfg.deploy.environment("staging"), parse(IMAGE_A)))
    production = by_kind(manifests.render(cfg, cfg.deploy.environment("production"), parse(IMAGE_A)))
    assert set(staging) == {"Deployment", "Service", "ServiceMonitor", "PrometheusRule"}
    assert set(production) == {
        "Deployment",
        "Service",
        "ServiceMonitor",
        "PrometheusRule",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    hpa = production["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    # An HPA owns the replica count: the Deployment must not fight it.
    assert "replicas" not in production["Deployment"]["spec"]
    resources = production["Deployment"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
    assert (
        production["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
        == production["Deployment"]["spec"]["selector"]["matchLabels"]
    )


def test_pdb_follows_replicas_without_autoscale(tmp_path: Path) -> None:
    envs = environments(production={"autoscale": None})
    for env in envs:
        env.pop("autoscale", None)
    cfg = config(tmp_path, deploy={"strategy": "apply", "environments": envs})
    assert cfg.deploy is not None
    production = by_kind(manifests.render(cfg, cfg.deploy.environment("production"), parse(IMAGE_A)))
    assert "HorizontalPodAutoscaler" not in production
    assert "PodDisruptionBudget" in production
    assert production["Deployment"]["spec"]["replicas"] == 3


def test_monitoring_disabled_renders_no_prometheus_objects(tmp_path: Path) -> None:
    cfg = config(tmp_path, monitoring={"enabled": False})
    assert cfg.deploy is not None
    kinds = {o["kind"] for o in manifests.render(cfg, cfg.deploy.environment("staging"), parse(IMAGE_A))}
    assert kinds == {"Deployment", "Service"}


def test_the_strict_crd_check_catches_a_misspelled_field(cfg: Config) -> None:
    assert cfg.deploy is not None
    monitor = by_kind(manifests.render(cfg, cfg.deploy.environment("staging"), parse(IMAGE_A)))["ServiceMonitor"]
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        validate_custom(monitor)


def test_templates_are_not_mutated_by_rendering(cfg: Config) -> None:
    before = manifests.template("deployment")
    assert cfg.deploy is not None
    manifests.render(cfg, cfg.deploy.environment("production"), parse(IMAGE_A))
    assert manifests.template("deployment") == before


def test_the_release_record_is_a_valid_configmap(cfg: Config) -> None:
    assert cfg.deploy is not None
    cm = manifests.release_record(cfg, cfg.deploy.environment("production"), {"release.json": "{}"})
    validate_any(cm)
    assert (cm["metadata"]["name"], cm["metadata"]["namespace"]) == ("tiny-ml-ci-release", "ml-production")
