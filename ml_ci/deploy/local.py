"""`kind: local` environments: the image runs in the local Docker engine on 127.0.0.1.

Host networking only (these machines have no bridge). The new image is first started as a
candidate on a free port and smoke-tested there; only when it passes is the environment's
container (on the environment's port) replaced. A candidate that fails leaves the old container
serving, untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from ml_ci.deploy.manifests import HOST_ENV, PORT_ENV, stop_grace_seconds
from ml_ci.deploy.smoke import SmokeReport
from ml_ci.errors import DeployError, OperationalError
from ml_ci.net import free_port
from ml_ci.records.imageref import ImageRef
from ml_ci.serving_client import ready_problem as wait_ready

LABEL = "dev.ml-ci.environment"


def container_name(model: str, env: str) -> str:
    return f"ml-ci-{model}-{env}"


def docker_client() -> Any:
    import docker
    import docker.errors

    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as e:
        raise OperationalError(f"the Docker engine does not answer ({e}); local environments need it") from None
    return client


class LocalEngine:
    def __init__(self, client: Any, model: str, env: str, *, drain_seconds: float, gpu: bool = False):
        self.client = client
        self.model = model
        self.env = env
        # image.accelerator: cuda: the container gets one of the machine's GPUs (`docker run --gpus 1`), as the pod asks
        # the scheduler for one; an engine without NVIDIA's container runtime refuses to start it, and deploy says so.
        self.gpu = gpu
        self.name = container_name(model, env)
        # serve.drain_seconds (the image's ML_CI_SERVE_DRAIN_SECONDS): how long the old container keeps
        # answering after SIGTERM; `docker stop` waits for it, and what is in flight, before its SIGKILL.
        self.stop_timeout = stop_grace_seconds(drain_seconds)

    def _get(self, name: str) -> Optional[Any]:
        import docker.errors

        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            return None

    def _remove(self, name: str) -> None:
        c = self._get(name)
        if c is not None:
            c.remove(force=True)

    def ensure_image(self, ref: ImageRef) -> None:
        import docker.errors

        try:
            self.client.images.get(str(ref))
        except docker.errors.ImageNotFound:
            try:
                self.client.images.pull(str(ref))
            except docker.errors.APIError as e:
                raise DeployError(f"cannot pull {ref}: {e.explanation or e}") from None

    def _start(self, name: str, ref: ImageRef, port: int, role: str) -> Any:
        import docker.errors

        self._remove(name)
        gpus: dict[str, Any] = {}
        if self.gpu:
            from docker.types import DeviceRequest

            gpus["device_requests"] = [DeviceRequest(count=1, capabilities=[["gpu"]])]
        try:
            return self.client.containers.run(
                str(ref),
                name=name,
                detach=True,
                network_mode="host",
                environment={PORT_ENV: str(port), HOST_ENV: "127.0.0.1"},
                labels={LABEL: self.env, "dev.ml-ci.model": self.model, "dev.ml-ci.role": role, "dev.ml-ci.image": str(ref)},
                restart_policy={"Name": "unless-stopped"} if role == "live" else {"Name": "no"},
                read_only=True,
                tmpfs={"/tmp": "size=256m"},
                security_opt=["no-new-privileges"],
                cap_drop=["ALL"],
                **gpus,
            )
        except docker.errors.APIError as e:
            raise DeployError(f"cannot start {ref} for {self.env}: {e.explanation or e}") from None

    def running_image(self) -> Optional[str]:
        c = self._get(self.name)
        if c is None or c.status != "running":
            return None
        return str(c.labels.get("dev.ml-ci.image")) if c.labels.get("dev.ml-ci.image") else None

    def _alive(self, name: str) -> Callable[[], bool]:
        def check() -> bool:
            c = self._get(name)
            if c is None:
                return False
            c.reload()
            return bool(c.status in ("created", "running"))

        return check

    def trial(self, ref: ImageRef, smoke: Callable[[str, Callable[[], bool]], SmokeReport]) -> SmokeReport:
        """Run `ref` as a candidate on a free port and smoke-test it; the candidate is removed either way.
        Raises DeployError when it fails; the environment's container is not touched."""
        self.ensure_image(ref)
        candidate = f"{self.name}-candidate"
        cport = free_port()
        self._start(candidate, ref, cport, "candidate")
        try:
            report = smoke(f"http://127.0.0.1:{cport}", self._alive(candidate))
            if not report.passed:
                logs = self._tail(candidate)
                raise DeployError(f"{self.env}: {report.summary()}; the previous container keeps serving{logs}")
        finally:
            self._remove(candidate)
        return report

    def swap(self, ref: ImageRef, port: int, ready_timeout: float) -> str:
        """Replace the environment's container with `ref` on `port`; restores the old one if the new one
        does not become ready (and raises DeployError)."""
        return self._swap(ref, port, ready_timeout)

    def _swap(self, ref: ImageRef, port: int, ready_timeout: float) -> str:
        previous = self._get(self.name)
        backup = f"{self.name}-previous"
        self._remove(backup)
        if previous is not None:
            previous.stop(timeout=self.stop_timeout)
            previous.rename(backup)
        new = self._start(self.name, ref, port, "live")
        problem = wait_ready(f"http://127.0.0.1:{port}", ready_timeout, alive=self._alive(self.name))
        if problem is None:
            self._remove(backup)
            return str(new.name)
        logs = self._tail(self.name)
        self._remove(self.name)
        if previous is not None:
            previous.rename(self.name)
            previous.start()
        restored = "the previous one was restored" if previous is not None else "there was no previous one to restore"
        raise DeployError(f"{self.env}: the new container did not become ready on port {port} ({problem}); {restored}{logs}")

    def _tail(self, name: str) -> str:
        c = self._get(name)
        if c is None:
            return ""
        text = c.logs(tail=10).decode("utf-8", "replace").strip()
        return f"\n--- last lines of {name}'s log ---\n{text}" if text else ""

    def healthy(self, port: int, timeout: float = 5) -> Optional[str]:
        """None when the environment's container runs and answers /readyz; else what is wrong."""
        c = self._get(self.name)
        if c is None:
            return f"no container {self.name} exists"
        if c.status != "running":
            return f"container {self.name} is {c.status}"
        return wait_ready(f"http://127.0.0.1:{port}", timeout)
