"""The image check of a CUDA image on a Docker engine without a GPU (this machine's: no NVIDIA container toolkit,
no GPU): asking for one fails as such an engine fails it, the check goes on on the CPU with
ML_CI_SERVE_DEVICE=cpu, and no container is left behind. A stand-in image (the base, sleeping) is run: the CUDA
image's own multi-GB wheels are not downloaded in tests."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml_ci.build import docker_ops
from ml_ci.build.verify import start
from tests.services import base_image
from tests.unit.build.test_accelerator import config

pytestmark = [pytest.mark.integration]


@pytest.fixture
def sleeper() -> Iterator[str]:
    client = docker_ops.client()
    tag = f"ml-ci-tests/sleeper:{uuid.uuid4().hex[:8]}"
    dockerfile = f'FROM {base_image()}\nCMD ["python3", "-c", "import time; time.sleep(60)"]\n'
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, pull=False, rm=True)
    yield tag
    client.images.remove(tag, force=True)


def containers_of(client: object, image: str) -> list[str]:
    return [c.id for c in client.containers.list(all=True) if image in c.image.tags]  # type: ignore[attr-defined]


def test_no_gpu_in_docker_is_told_apart_and_leaves_no_container(sleeper: str) -> None:
    client = docker_ops.client()
    if any("nvidia" in name for name in client.info().get("Runtimes", {})):
        pytest.skip("this Docker engine has the NVIDIA runtime: the no-GPU path cannot be shown here")
    with pytest.raises(docker_ops.NoGpu, match="could not select device driver"):
        docker_ops.run_detached(client, sleeper, {}, gpus=True)
    assert containers_of(client, sleeper) == []


def test_a_cuda_image_is_checked_on_the_cpu_where_docker_has_no_gpu(tmp_path: Path, sleeper: str) -> None:
    client = docker_ops.client()
    if any("nvidia" in name for name in client.info().get("Runtimes", {})):
        pytest.skip("this Docker engine has the NVIDIA runtime: the no-GPU path cannot be shown here")
    lines: list[str] = []
    container, device = start(
        client, sleeper, {"ML_CI_SERVE_PORT": "1"}, config(tmp_path, "text-generation", "cuda"), lines.append
    )
    try:
        assert device == "cpu"
        container.reload()
        assert container.status == "running"
        assert "ML_CI_SERVE_DEVICE=cpu" in container.attrs["Config"]["Env"]
        assert containers_of(client, sleeper) == [container.id], "the GPU attempt left no container"
        assert len(lines) == 1 and "was NOT exercised" in lines[0]
    finally:
        docker_ops.stop(container, timeout=1)
