"""End to end with the real serving image: a tiny model -> `ml-ci export` -> `ml-ci build --push`
-> `ml-ci deploy` to a local environment -> `ml-ci promote`. The image comes from the real
registry by digest and runs under local deploy's hardening (read-only root, no capabilities)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ml_ci.cli.main import main
from ml_ci.net import free_port
from tests.integration.test_deploy_local import predict, remove_containers
from tests.modelrepo import tiny_model
from tests.services import base_image, registry
from tests.unit.deploy.helpers import config, eval_record

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MODEL = "deploye2e"


def test_the_built_image_deploys_smoke_tests_and_promotes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ports = free_port(), free_port()
    envs = [
        {"name": "staging", "kind": "local", "port": ports[0], "smoke_test": {"golden_examples": 8, "timeout_seconds": 120}},
        {"name": "production", "kind": "local", "port": ports[1], "smoke_test": {"golden_examples": 8}},
    ]
    cfg = config(
        tmp_path,
        name=MODEL,
        deploy={
            "strategy": "gitops",
            "environments": envs,
            "gitops": {"repo": ".ml-ci/gitops.git", "path": f"apps/{MODEL}", "create": True},
        },
    )
    # image.base must be the local base image here (no Docker Hub); the registry is the test one.
    text = cfg.path.read_text().replace("ml-ci-base:bookworm", base_image()).replace("127.0.0.1:5000", registry())
    cfg.path.write_text(text)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "init"],
        check=True,
    )
    tiny_model(tmp_path / ".ml-ci/artifacts/train/model")
    (tmp_path / ".ml-ci/artifacts/evaluate").mkdir(parents=True)
    (tmp_path / ".ml-ci/artifacts/evaluate/eval.json").write_text(json.dumps(eval_record()))
    try:
        assert main(["export", "-c", str(cfg.path)]) == 0, capsys.readouterr().err
        assert main(["build", "-c", str(cfg.path), "--push"]) == 0, capsys.readouterr().err
        image = json.loads((tmp_path / ".ml-ci/artifacts/build/image.json").read_text())["reference"]
        capsys.readouterr()
        assert main(["deploy", "-c", str(cfg.path), "--env", "staging"]) == 0, capsys.readouterr().err
        assert "golden examples match" in capsys.readouterr().out
        assert main(["promote", "-c", str(cfg.path), "--from", "staging", "--to", "production"]) == 0, capsys.readouterr().err
        golden = json.loads((tmp_path / ".ml-ci/artifacts/export/golden.json").read_text())
        texts = [e["text"] for e in golden["examples"][:8]]
        assert [p["label"] for p in predict(ports[1], texts)] == [e["expected"]["label"] for e in golden["examples"][:8]]
        model_sha256 = json.loads((tmp_path / ".ml-ci/artifacts/export/model.json").read_text())["sha256"]
        for env in ("staging", "production"):
            release = json.loads((tmp_path / f".ml-ci/state/{env}/release.json").read_text())
            # The smoke test checked that the server reports the exported model's sha256.
            assert (release["image"], release["extra"]) == (image, {"model_sha256": model_sha256})
    finally:
        remove_containers(f"ml-ci-{MODEL}-staging", f"ml-ci-{MODEL}-production")
        record = tmp_path / ".ml-ci/artifacts/build/image.json"
        if record.is_file():  # the image the test built; the registry keeps its copy
            import contextlib

            import docker
            import docker.errors

            with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
                docker.from_env().images.remove(json.loads(record.read_text())["image_id"], force=True)
