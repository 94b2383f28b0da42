"""The effectful part of `ml-ci build`, through the docker SDK: build, run for verification, push."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_ci.errors import OperationalError

# Registry answers that retrying cannot fix.
PERMANENT = ("unauthorized", "denied", "authentication required", "name unknown", "manifest invalid")


def client() -> Any:
    import docker

    try:
        c = docker.from_env()
        c.ping()
    except Exception as e:
        raise OperationalError(f"cannot reach the Docker engine ({e}); start it or set DOCKER_HOST") from None
    return c


def engine_platform(c: Any) -> str:
    """The platform the engine builds for, as image.platforms writes it (linux/amd64)."""
    version = c.version()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(str(version.get("Arch")), str(version.get("Arch")))
    return f"{version.get('Os', 'linux')}/{arch}"


def diff_ids(c: Any, image: str) -> list[str]:
    """The layers of a local image (by uncompressed digest)."""
    import docker

    try:
        return list(c.images.get(image).attrs["RootFS"]["Layers"] or [])
    except docker.errors.ImageNotFound:
        raise OperationalError(f"the base image {image} is not in the Docker engine after the build") from None


def save(c: Any, image_id: str, target: Path) -> None:
    """`docker save` of one image into target."""
    with target.open("wb") as f:
        for chunk in c.images.get(image_id).save(named=False):
            f.write(chunk)


def load(c: Any, archive: Path, image_id: str) -> Any:
    """`docker load` of archive; the image it must contain, by id."""
    with archive.open("rb") as f:
        c.images.load(f)
    image = c.images.get(image_id)
    if image.id != image_id:
        raise OperationalError(f"docker load gave {image.id}, not the normalized image {image_id}")
    return image


def build(
    c: Any, context: Path, tag: str | None, labels: Mapping[str, str], log: Callable[[str], None], *, nocache: bool = False
) -> Any:
    """Build with host networking (pip inside the build reaches the package index through the host)."""
    import docker

    try:
        image, lines = c.images.build(
            path=str(context),
            tag=tag,
            labels=dict(labels),
            network_mode="host",
            rm=True,
            forcerm=True,
            pull=False,
            nocache=nocache,
        )
    except docker.errors.BuildError as e:
        tail = "".join(str(chunk.get("stream", chunk.get("error", ""))) for chunk in list(e.build_log)[-15:])
        raise OperationalError(f"the image build failed: {e.msg}\n{tail.rstrip()}") from None
    except docker.errors.APIError as e:
        why = str(e.explanation or e)
        hint = ""
        if any(word in why for word in ("registry-1.docker.io", "pull access denied", "no such host", "manifest unknown")):
            # The only image a build pulls is the FROM line, i.e. ml.yaml's image.base.
            hint = (
                "\nthe base image could not be pulled: set image.base in ml.yaml to an image this Docker engine "
                "has or can pull (docker images lists the local ones)"
            )
        raise OperationalError(f"the image build failed: {why}{hint}") from None
    for chunk in lines:
        if "stream" in chunk and chunk["stream"].strip():
            log(chunk["stream"].rstrip())
    return image


def auth_config(username_env: str | None, password_env: str | None, env: Mapping[str, str]) -> dict[str, str] | None:
    """Credentials from the variables ml.yaml names; None lets the SDK use the docker config."""
    if not password_env:
        return None
    password = env.get(password_env)
    if not password:
        raise OperationalError(f"image.registry_password_env names {password_env}, which is not set")
    username = env.get(username_env, "") if username_env else ""
    return {"username": username or "ml-ci", "password": password}


@dataclass(frozen=True)
class Pushed:
    digest: str
    size: int | None


def push(
    c: Any,
    repository: str,
    tag: str,
    auth: dict[str, str] | None,
    *,
    attempts: int = 4,
    backoff_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Pushed:
    """Push one tag; transient failures are retried with exponential backoff. Never prints credentials."""
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            digest, size, error = None, None, None
            for chunk in c.images.push(repository, tag=tag, auth_config=auth, stream=True, decode=True):
                if "error" in chunk:
                    error = str(chunk.get("error"))
                aux = chunk.get("aux") or {}
                if aux.get("Digest"):
                    digest, size = aux["Digest"], aux.get("Size")
            if error is None and digest:
                return Pushed(digest, size)
            last = error or "the registry reported no digest"
        except Exception as e:
            last = f"{type(e).__name__}: {e}"
        if any(word in last.lower() for word in PERMANENT) or attempt == attempts:
            break
        sleep(backoff_s * 2 ** (attempt - 1))
    raise OperationalError(f"push of {repository}:{tag} failed after {attempt} attempt(s): {last}")


class NoGpu(Exception):
    """Docker could not start a container with a GPU; the message is the engine's reason."""


def run_detached(c: Any, image: str, environment: Mapping[str, str], *, gpus: bool = False) -> Any:
    """Start the image (host network). `gpus`: with every GPU the engine has (docker run --gpus all); NoGpu when the
    engine cannot give one (no NVIDIA container toolkit: 'could not select device driver ...', or no driver)."""
    if not gpus:
        return c.containers.run(image, detach=True, network_mode="host", environment=dict(environment), remove=False)
    import docker

    container = c.containers.create(
        image,
        detach=True,
        network_mode="host",
        environment=dict(environment),
        device_requests=[docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])],
    )
    try:
        container.start()  # the engine picks its GPU driver here, not when it creates the container
    except docker.errors.APIError as e:
        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True)
        raise NoGpu(str(e.explanation or e).strip().splitlines()[0]) from None
    return container


def stop(container: Any, timeout: int = 20) -> int | None:
    """SIGTERM, wait, remove; the exit code (None when it had to be killed or vanished)."""
    import docker

    try:
        container.stop(timeout=timeout)
        code = container.wait(timeout=timeout).get("StatusCode")
        return int(code) if code is not None else None
    except (docker.errors.APIError, OSError):
        return None
    finally:
        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True)


def logs(container: Any, tail: int = 30) -> str:
    try:
        return str(container.logs(tail=tail).decode(errors="replace"))
    except Exception:
        return ""
