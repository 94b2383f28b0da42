"""Versions of installed packages, for cache keys and lineage: read from their metadata, never imported
(importing torch to learn its version would cost seconds on the light path)."""

from __future__ import annotations

from importlib import metadata

from ml_ci import __version__


def package_versions(names: tuple[str, ...]) -> dict[str, str]:
    """ml-ci's version and each named package's, `not installed` for one that is not."""
    out = {"ml-ci": __version__}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
