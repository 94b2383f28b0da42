"""Find the services the integration tests use; skip locally, fail in CI, when one is missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, NoReturn

import pytest

VENV_BIN = Path(__file__).resolve().parents[1] / ".venv" / "bin"


def missing(message: str) -> NoReturn:
    """Skip in a bare local `pytest`; fail with CI=true, which the README's test command (`bash .ci/test`,
    what .ci/run calls) sets, so that no run of it hides a test behind a missing service."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_service(var: str, what: str) -> str:
    """The service's address from the environment (bash .ci/services.sh prints these variables)."""
    value = os.environ.get(var)
    if not value:
        missing(f"{what} is not available: set {var} (bash .ci/services.sh starts it)")
    return value


def require_tool(name: str, hint: str) -> str:
    """Path of a program, looked up in the project's .venv/bin first, then on PATH."""
    found = shutil.which(name, path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        missing(f"{name} is not installed ({hint})")
    return found


def registry() -> str:
    return require_service("ML_CI_TEST_REGISTRY", "the OCI registry")


def base_image() -> str:
    return require_service("ML_CI_TEST_BASE_IMAGE", "the local base image")


def postgres() -> str:
    return require_service("ML_CI_TEST_POSTGRES", "PostgreSQL")


def docker_engine() -> Any:
    """A Docker SDK client of an engine that answers (bash .ci/services.sh starts one)."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as e:  # the SDK raises its own and requests' errors
        missing(f"the Docker engine is not available: {e}")
    return client
