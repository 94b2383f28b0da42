"""ml_ci.versions: package versions from metadata, for cache keys and lineage."""

from __future__ import annotations

from importlib import metadata

from ml_ci import __version__
from ml_ci.versions import package_versions


def test_versions_of_installed_and_absent_packages_and_ml_ci_first() -> None:
    got = package_versions(("click", "ml-ci-no-such-package"))
    assert got == {"ml-ci": __version__, "click": metadata.version("click"), "ml-ci-no-such-package": "not installed"}
    assert next(iter(got)) == "ml-ci"
