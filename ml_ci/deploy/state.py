"""What runs where, on this machine: .ml-ci/state/<env>/{release.json, eval.json}.

Written after every deploy (atomically: temp file, then rename), read by `ml-ci promote` when no
GitOps repository is configured. With GitOps, the repository is the record and this a cache.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

from ml_ci.deploy.records import Release, read_json
from ml_ci.pipeline.layout import Layout

RELEASE, EVAL, GOLDEN = "release.json", "eval.json", "golden.json"


def folder(root: Path, env: str) -> Path:
    return Layout(root).state / "state" / env


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(root: Path, release: Release, eval_record: Any, golden: Any = None) -> None:
    base = folder(root, release.environment)
    _atomic_write(base / EVAL, json.dumps(eval_record, indent=2, sort_keys=True) + "\n")
    if golden is not None:
        _atomic_write(base / GOLDEN, json.dumps(golden, indent=2, sort_keys=True) + "\n")
    _atomic_write(base / RELEASE, release.to_json())  # last: the release names a complete record


def load(root: Path, env: str) -> Optional[tuple[Release, Any, Any]]:
    """(release, eval record, golden examples or None), or None when nothing was deployed here."""
    base = folder(root, env)
    if not (base / RELEASE).is_file():
        return None
    release = Release.from_json((base / RELEASE).read_text(encoding="utf-8"), str(base / RELEASE))
    golden = read_json(base / GOLDEN, "golden examples", "") if (base / GOLDEN).is_file() else None
    return release, read_json(base / EVAL, "the evaluation record", "redeploy to write it again"), golden
