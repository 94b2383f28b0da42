"""The PyTorchJob for nodes > 1, checked against the Kubeflow CRD's schema and the operator's rules."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from ml_ci.config import load_config
from ml_ci.config.model import Config
from ml_ci.train.pytorchjob import JobOptions, default_image, job_name, render_job, render_kustomization
from tests.modelrepo import make_model_repo
from tests.unit.train.pytorchjob_schema import SCHEMA, validate


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(
        make_model_repo(
            tmp_path,
            name="tiny-sentiment",
            overrides={
                "train": {"distributed": {"nproc_per_node": 2, "nodes": 3}},
                "image": {"registry": "ghcr.io", "repository": "acme/tiny"},
            },
        )
    ).config


def test_job_has_a_master_and_nodes_minus_one_workers_running_ml_ci_train(config: Config) -> None:
    job = render_job(config, JobOptions(image="ghcr.io/acme/tiny-train@sha256:" + "a" * 64, gpus_per_node=2, memory="8Gi"))
    assert validate(job) == []
    spec = job["spec"]
    assert (job["apiVersion"], job["kind"], job["metadata"]["name"]) == ("kubeflow.org/v1", "PyTorchJob", "tiny-sentiment-train")
    assert spec["nprocPerNode"] == "2"
    assert {k: v["replicas"] for k, v in spec["pytorchReplicaSpecs"].items()} == {"Master": 1, "Worker": 2}
    (container,) = spec["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"]
    assert container["command"] == ["ml-ci", "train", "-c", "ml.yaml"]
    assert container["resources"] == {
        "requests": {"cpu": "2", "memory": "8Gi"},
        "limits": {"memory": "8Gi", "nvidia.com/gpu": "2"},
    }
    assert spec["pytorchReplicaSpecs"]["Master"]["template"] == spec["pytorchReplicaSpecs"]["Worker"]["template"]


def test_one_node_is_a_master_alone(tmp_path: Path) -> None:
    config = load_config(make_model_repo(tmp_path)).config
    job = render_job(config, JobOptions(image=default_image(config)))
    assert validate(job) == []
    assert list(job["spec"]["pytorchReplicaSpecs"]) == ["Master"]
    assert default_image(config) == f"{config.image.registry}/tiny-sentiment-train:latest"


def test_the_schema_check_can_fail(config: Config) -> None:
    """The fixture and the strict closing catch the mistakes a hand-written job makes."""
    job = render_job(config, JobOptions(image="img"))
    bad = copy.deepcopy(job)
    bad["spec"]["pytorchReplicaSpecs"]["Worker"]["restartPolicy"] = "Sometimes"
    bad["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = 2
    bad["spec"]["nprocPerNode"] = 2
    bad["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["name"] = "trainer"
    bad["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "two"
    bad["spec"]["runPolicy"]["cleanPodPolicies"] = "All"
    quantity = SCHEMA["properties"]["spec"]["properties"]["runPolicy"]["properties"]["schedulingPolicy"]["properties"][
        "minResources"
    ]["additionalProperties"]["pattern"]
    assert validate(bad) == [
        "spec/nprocPerNode: 2 is not of type 'string'",
        "spec/pytorchReplicaSpecs/Worker/restartPolicy: 'Sometimes' is not one of ['Always', 'OnFailure', 'Never', 'ExitCode']",
        f"spec/pytorchReplicaSpecs/Worker/template/spec/containers/0/resources/requests/cpu: 'two' does not match {quantity!r}",
        "spec/runPolicy: Additional properties are not allowed ('cleanPodPolicies' was unexpected)",
        "Master must have exactly one replica",
        "Worker has no container named pytorch with an image",
    ]


def test_job_name_is_a_dns_label(config: Config) -> None:
    assert job_name(config) == "tiny-sentiment-train"


def test_kustomization_lists_the_job() -> None:
    assert render_kustomization("pytorchjob.yaml") == {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["pytorchjob.yaml"],
    }
