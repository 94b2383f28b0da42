"""The records deploy reads from other stages (build/image.json, evaluate/eval.json).

What deploy itself writes (release.json and the per-environment deploy record) is
ml_ci.records.release; export/golden.json is ml_ci.records.golden.
"""

from __future__ import annotations

from typing import Any

from ml_ci.errors import DeployError
from ml_ci.records.imageref import ImageRef, parse


def image_from_record(data: Any, source: str) -> ImageRef:
    """The digest reference from build/image.json (`image` or `reference` holds REPO@sha256:...)."""
    if isinstance(data, dict):
        for key in ("image", "reference", "ref"):
            value = data.get(key)
            if isinstance(value, str) and "@" in value:
                return parse(value)
        if data.get("pushed") is False:
            raise DeployError(
                f"{source}: the image was built but not pushed; deploys need it in the registry (`ml-ci build --push`)"
            )
        repo, digest = data.get("repository"), data.get("digest")
        if isinstance(repo, str) and isinstance(digest, str):
            return parse(f"{repo}@{digest}")
    raise DeployError(f'{source}: no image reference by digest in it (expected "image": "REGISTRY/REPO@sha256:...")')


def verdict_of(eval_record: Any) -> str:
    """The gate verdict recorded by `ml-ci evaluate` ("pass" or "fail"); "unknown" when absent."""
    if isinstance(eval_record, dict):
        verdict = eval_record.get("verdict")
        if isinstance(verdict, str):
            return verdict.lower()
        if isinstance(verdict, dict) and isinstance(verdict.get("status"), str):
            return str(verdict["status"]).lower()
        if isinstance(eval_record.get("passed"), bool):
            return "pass" if eval_record["passed"] else "fail"
    return "unknown"
