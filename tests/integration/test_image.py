"""End to end: build the serving image for a scratch repository, push it to the real registry,
delete it locally, pull it back by digest, run it with host networking and compare its answers on
100 test examples with the exported model's (and `ml-ci evaluate`'s, through the build's check)."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from ml_ci.cli.main import main
from ml_ci.net import free_port
from ml_ci.serving_client import http_json, wait_ready
from ml_ci.tasks.text_classification.serving import Classifier
from tests.integration.test_serve_support import exported_repo
from tests.services import base_image, registry

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def git_commit(root: Path) -> str:
    """Make the scratch repository (and only it) a git repository with one commit; its sha."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("add", "-A")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "model")
    return git("rev-parse", "HEAD")


def image_overrides(name: str) -> dict[str, Any]:
    return {"image": {"registry": registry(), "repository": f"ml-ci-tests/{name}-{uuid.uuid4().hex[:8]}", "base": base_image()}}


def test_build_push_pull_by_digest_and_serve(tmp_path: Path) -> None:
    import docker

    overrides = {**image_overrides("e2e"), "evaluate": {"metrics": ["accuracy"], "gates": [], "latency_samples": 1}}
    path = exported_repo(tmp_path, n_test=120, overrides=overrides)
    sha = git_commit(tmp_path)
    assert main(["evaluate", "-c", str(path)]) == 0
    assert main(["build", "-c", str(path), "--tag", "e2e"]) == 0
    record = json.loads((tmp_path / ".ml-ci/artifacts/build/image.json").read_text())
    repository, digest = record["repository"], record["digest"]
    assert record["reference"] == f"{repository}@{digest}" and record["tags"] == [sha, "e2e"]
    assert record["verification"]["compared_with_eval"] == record["verification"]["golden_examples"] == 32

    client = docker.from_env()
    client.images.remove(record["image_id"], force=True)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(record["image_id"])
    image = client.images.pull(f"{repository}@{digest}")
    container = None
    try:
        assert image.id == record["image_id"], "the registry gives back the very image that was built"
        export = tmp_path / ".ml-ci/artifacts/export"
        manifest = json.loads((export / "model.json").read_text())
        labels = image.labels
        assert labels["org.opencontainers.image.revision"] == sha
        assert labels["io.ml-ci.model.sha256"] == manifest["sha256"]
        assert json.loads(labels["io.ml-ci.metrics"])["accuracy"] >= 0
        assert "io.ml-ci.data.fingerprint" in labels
        assert image.attrs["Config"]["User"] == "10001:10001"
        steps = [h["CreatedBy"] for h in reversed(image.history())]
        model_step = next(i for i, s in enumerate(steps) if "COPY dir:" in s or "COPY model" in s)
        assert any("pip install" in s for s in steps[:model_step]), "dependencies come before the model"

        port = free_port()
        container = client.containers.run(
            f"{repository}@{digest}",
            detach=True,
            network_mode="host",
            environment={"ML_CI_SERVE_HOST": "127.0.0.1", "ML_CI_SERVE_PORT": str(port)},
        )

        def alive() -> bool:
            container.reload()
            return container.status in ("created", "running")

        wait_ready(f"http://127.0.0.1:{port}", 60, alive=alive)
        texts = [line.split(",")[0] for line in (tmp_path / "data/test.csv").read_text().splitlines()[1:101]]
        assert len(texts) == 100
        status, body = http_json(f"http://127.0.0.1:{port}/v1/predict", {"texts": texts})
        assert status == 200
        expected = Classifier(export).probabilities(texts)
        names = manifest["labels"]
        for row, prediction in zip(expected, body["predictions"], strict=True):
            got = [prediction["probabilities"][n] for n in names]
            assert got == pytest.approx(row.tolist(), abs=1e-5)
            if abs(row[0] - row[1]) > 1e-5:  # a label is only defined where the classes differ
                assert prediction["label"] == names[int(row.argmax())]
        container.stop(timeout=20)
        assert container.wait(timeout=20)["StatusCode"] == 0, "SIGTERM ends the server cleanly"
    finally:
        if container is not None:
            container.remove(force=True)
        client.images.remove(image.id, force=True)
