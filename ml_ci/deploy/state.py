"""What runs where, on this machine: .ml-ci/state/<env>/{release.json, eval.json, golden.json}.

Written after every deploy (atomically: temp file, then rename), read by `ml-ci promote` when no
GitOps repository is configured. With GitOps, the repository is the record and this a cache.
The files' format: ml_ci.records.release.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ml_ci.pipeline.layout import Layout
from ml_ci.records.release import Deployed, read_deployed, write_deployed


def folder(root: Path, env: str) -> Path:
    return Layout(root).deployed(env)


def save(root: Path, deployed: Deployed) -> None:
    write_deployed(folder(root, deployed.release.environment), deployed)


def load(root: Path, env: str) -> Optional[Deployed]:
    """What was deployed to env from this machine, or None when nothing was."""
    return read_deployed(folder(root, env))
