"""The lock tests' shared pieces: ml-ci's extras as pyproject.toml declares them (tests/integration/test_lock_*.py run uv).

The metadata is read from pyproject.toml, not the installed ml-ci's (which lags behind until reinstalled), in
the shape a build backend writes it, with `ml-ci[data]` left as a self-reference for the expansion to follow.
"""

from __future__ import annotations

import tomllib  # Python 3.11+: CI and .ci/test run 3.11

from ml_ci.lock.requirements import Metadata
from tests.conftest import ROOT

__all__ = ["ROOT", "pyproject_metadata"]


def pyproject_metadata() -> Metadata:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra, requirements in project["optional-dependencies"].items():
        lines += [f'{r}; extra == "{extra}"' for r in requirements]
    return Metadata(tuple(lines), frozenset(project["optional-dependencies"]))
