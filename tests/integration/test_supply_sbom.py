"""The SBOM of a real image: ml_ci.supply.sbom's collector runs in the local base image ($ML_CI_TEST_BASE_IMAGE,
Debian with python3 and dpkg) through the Docker engine, without a network, and what it finds makes a
CycloneDX document that CycloneDX's strict schema accepts, the same bytes each time; an image without dpkg
says so."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ml_ci.supply import sbom
from ml_ci.supply.sbom import ModelFile
from tests.services import base_image, docker_engine

pytestmark = [pytest.mark.integration]

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def client() -> Any:
    return docker_engine()


@pytest.fixture(scope="module")
def without_dpkg(client: Any) -> Iterator[str]:
    """The base image less dpkg-query, with python3 as its entrypoint (as the serving image has its venv's)."""
    container = client.containers.run(
        base_image(), ["rm", "-f", "/usr/bin/dpkg-query"], detach=True, network_mode="none", entrypoint=[]
    )
    try:
        assert container.wait(timeout=60)["StatusCode"] == 0
        tag = f"ml-ci-tests/no-dpkg:{uuid.uuid4().hex[:8]}"
        container.commit(repository=tag.split(":")[0], tag=tag.split(":")[1], changes=['ENTRYPOINT ["/usr/bin/python3"]'])
    finally:
        container.remove(force=True)
    yield tag
    client.images.remove(tag, force=True)


def test_the_sbom_of_the_base_image(client: Any) -> None:
    contents = sbom.collect_image_contents(client, base_image())
    assert contents.python == "python3"  # the base has no entrypoint: python3 from its PATH
    assert contents.dpkg is True
    assert contents.distro == "debian" and contents.distro_release == "bookworm"
    packages = {p.name: p for p in contents.os_packages}
    assert {"dpkg", "libc6", "python3"} <= set(packages)
    assert packages["libc6"].arch in ("amd64", "arm64")
    assert {d.name.lower() for d in contents.distributions} >= {"pip"}  # Debian's python3-pip

    files = (ModelFile(path="/opt/model/model.onnx", sha256="1" * 64, model=True),)
    data = sbom.make_sbom(image="ml-ci-base", digest=DIGEST, contents=contents, model_files=files, base_model=None, epoch=0)
    sbom.validate(data)
    doc = json.loads(data)
    purls = {c.get("purl", "") for c in doc["components"]}
    libc = packages["libc6"]
    assert any(p.startswith(f"pkg:deb/debian/libc6@{libc.version.replace('+', '%2B')}?arch=") for p in purls)
    # The same image gives the same bytes.
    again = sbom.collect_image_contents(client, base_image())
    assert sbom.make_sbom(image="ml-ci-base", digest=DIGEST, contents=again, model_files=files, base_model=None, epoch=0) == data


def test_an_image_without_dpkg(client: Any, without_dpkg: str) -> None:
    contents = sbom.collect_image_contents(client, without_dpkg)
    assert contents.python == "/usr/bin/python3"  # the entrypoint's interpreter
    assert (contents.dpkg, contents.os_packages) == (False, ())
    data = sbom.make_sbom(image="no-dpkg", digest=DIGEST, contents=contents, model_files=(), base_model=None, epoch=0)
    sbom.validate(data)
    props = {p["name"]: p["value"] for p in json.loads(data)["properties"]}
    assert props["ml-ci:os-packages"].startswith("none: the image has no dpkg")


def test_an_image_that_is_not_there_is_named(client: Any) -> None:
    from ml_ci.errors import OperationalError

    with pytest.raises(OperationalError, match="the image ml-ci-tests/absent:x is not in the Docker engine"):
        sbom.collect_image_contents(client, "ml-ci-tests/absent:x")


def test_an_interpreter_that_fails_is_named(client: Any) -> None:
    from ml_ci.errors import OperationalError

    with pytest.raises(OperationalError, match=f"listing the packages of {base_image()} with /bin/false failed"):
        sbom.collect_image_contents(client, base_image(), python="/bin/false")


def test_a_listing_that_hangs_is_stopped(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from ml_ci.errors import OperationalError

    monkeypatch.setattr(sbom, "COLLECT_SCRIPT", "import time; time.sleep(60)")
    with pytest.raises(OperationalError, match=f"listing the packages of {base_image()} took over 2 s; stopped it"):
        sbom.collect_image_contents(client, base_image(), timeout=2)
    assert not client.containers.list(all=True, filters={"ancestor": base_image(), "status": "running"})
