"""Find the services the integration tests use; skip locally, fail in CI, when one is missing."""

from __future__ import annotations

import os

import pytest


def require_service(var: str, what: str) -> str:
    """The service's address from the environment (bash .ci/services.sh prints these variables).

    With CI=true a missing service fails the test instead of skipping it.
    """
    value = os.environ.get(var)
    if not value:
        message = f"{what} is not available: set {var} (bash .ci/services.sh starts it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return value


def registry() -> str:
    return require_service("ML_CI_TEST_REGISTRY", "the OCI registry")


def base_image() -> str:
    return require_service("ML_CI_TEST_BASE_IMAGE", "the local base image")


def postgres() -> str:
    return require_service("ML_CI_TEST_POSTGRES", "PostgreSQL")
