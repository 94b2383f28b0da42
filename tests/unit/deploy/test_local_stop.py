"""A local swap stops the old container with time for its drain (serve.drain_seconds), not a fixed 10 s."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest

from ml_ci.deploy import local
from ml_ci.deploy.manifests import stop_grace_seconds
from ml_ci.records.imageref import parse
from ml_ci.serve.limits import Limits
from tests.unit.deploy.helpers import IMAGE_B


class Container:
    def __init__(self, name: str):
        self.name = name
        self.stopped_with: list[int] = []

    def stop(self, timeout: int) -> None:
        self.stopped_with.append(timeout)

    def rename(self, name: str) -> None:
        self.name = name

    def remove(self, force: bool) -> None:
        self.name = ""


class Containers:
    """The part of docker's client that a swap uses, with no engine behind it."""

    def __init__(self, *running: Container):
        self.all = list(running)
        self.options: dict[str, Any] = {}  # the last run's keyword arguments

    def get(self, name: str) -> Container:
        for c in self.all:
            if c.name == name:
                return c
        raise docker.errors.NotFound(name)

    def run(self, image: str, *, name: str, **options: Any) -> Container:
        self.options = options
        started = Container(name)
        self.all.append(started)
        return started


class Client:
    def __init__(self, *running: Container):
        self.containers = Containers(*running)


@pytest.mark.parametrize("drain_seconds", [0.0, 5.0, 30.0])
def test_the_old_container_gets_its_drain_and_its_last_requests_before_a_kill(
    drain_seconds: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "wait_ready", lambda *args, **kwargs: None)  # the new one is ready
    old = Container(local.container_name("tiny", "staging"))
    engine = local.LocalEngine(Client(old), "tiny", "staging", drain_seconds=drain_seconds)
    engine.swap(parse(IMAGE_B), 18000, 5)
    [timeout] = old.stopped_with
    limits = Limits()
    # SIGTERM, then drain_seconds of serving, then what was read finishes: docker stop's SIGKILL waits for all of it.
    assert timeout >= drain_seconds + limits.request_read_timeout_s + limits.request_timeout_s
    assert timeout == stop_grace_seconds(drain_seconds), "the same bound as the pod's grace period after preStop"


@pytest.mark.parametrize("gpu", [False, True])
def test_a_cuda_image_gets_one_gpu(gpu: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """image.accelerator: cuda runs the container as `docker run --gpus 1` does; others get no device."""
    monkeypatch.setattr(local, "wait_ready", lambda *args, **kwargs: None)
    client = Client()
    local.LocalEngine(client, "tiny", "staging", drain_seconds=0, gpu=gpu).swap(parse(IMAGE_B), 18000, 5)
    requests: Any = client.containers.options.get("device_requests")
    if not gpu:
        assert requests is None
        return
    [request] = requests
    assert (request["Count"], request["Capabilities"]) == (1, [["gpu"]])
