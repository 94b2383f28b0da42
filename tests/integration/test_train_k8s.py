"""`ml-ci train --emit-k8s`: the PyTorchJob and its kustomization render with the real `kubectl kustomize`
and the rendered job passes the Kubeflow CRD's schema (a fixture; there is no API server here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.modelrepo import make_model_repo
from tests.services import require_tool
from tests.unit.train.pytorchjob_schema import validate

pytestmark = pytest.mark.integration


def test_emitted_job_renders_with_kubectl_kustomize_and_fits_the_crd(tmp_path: Path) -> None:
    kubectl = require_tool("kubectl", "kubectl renders the kustomization")
    make_model_repo(
        tmp_path,
        overrides={
            "train": {"distributed": {"nproc_per_node": 4, "nodes": 2}},
            "image": {"registry": "127.0.0.1:5000", "repository": "acme/tiny"},
        },
    )
    done = subprocess.run(
        [sys.executable, "-m", "ml_ci", "train", "--emit-k8s", "k8s/pytorchjob.yaml", "--gpus-per-node", "4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "k8s").iterdir()) == ["kustomization.yaml", "pytorchjob.yaml"]
    assert not (tmp_path / ".ml-ci").exists()  # emitting trains nothing

    rendered = subprocess.run(
        [kubectl, "kustomize", str(tmp_path / "k8s")], capture_output=True, text=True, timeout=120, check=False
    )
    assert rendered.returncode == 0, rendered.stderr
    (job,) = list(yaml.safe_load_all(rendered.stdout))
    assert validate(job) == []
    assert job["kind"] == "PyTorchJob" and job["spec"]["nprocPerNode"] == "4"
    worker = job["spec"]["pytorchReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 1
    (container,) = worker["template"]["spec"]["containers"]
    assert container["image"] == "127.0.0.1:5000/acme/tiny-train:latest"
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "4"}
