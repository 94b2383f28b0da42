"""The Kubernetes objects of whole configs, kept as golden files (tests/unit/deploy/golden/<case>.yaml): every
environment's rendered objects and its GitOps patch, as `ml-ci deploy` writes them. The classifier's file was
written before text-generation had manifests of its own and must not change with them; the text-generation file
shows what a generating model gets (the longer start-up, a GPU for `image.accelerator: cuda`, the token alerts).
ML_CI_UPDATE_GOLDEN=1 rewrites them after an intended change: review the diff."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from ml_ci.config import Config, load_config
from ml_ci.deploy import manifests, tree
from ml_ci.records.imageref import parse
from tests.conftest import EXAMPLE
from tests.unit.deploy.helpers import IMAGE_A, config, environments, validate_any

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("ML_CI_UPDATE_GOLDEN") == "1"


def classifier(tmp: Path) -> Config:
    return config(tmp)


def ner(tmp: Path) -> Config:
    return load_config(EXAMPLE.parent / "ner" / "ml.yaml").config


def generating(tmp: Path) -> Config:
    """The assistant example on a GPU, deployed to Kubernetes (the helpers' staging and production), with the
    token alerts."""
    repo = tmp / "assistant"
    shutil.copytree(EXAMPLE.parent / "assistant", repo, ignore=shutil.ignore_patterns(".ml-ci", ".github"))
    data = yaml.safe_load((repo / "ml.yaml").read_text(encoding="utf-8"))
    data["image"]["accelerator"] = "cuda"
    data["deploy"]["environments"] = environments()
    data["monitoring"] = {"time_to_first_token_p95_ms": 2000, "min_tokens_per_second": 10, "no_traffic_minutes": 30}
    (repo / "ml.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_config(repo / "ml.yaml").config


CASES: dict[str, Callable[[Path], Config]] = {
    "text-classification": classifier,
    "token-classification": ner,
    "text-generation-cuda": generating,
}


def rendered(cfg: Config) -> str:
    assert cfg.deploy is not None
    parts: list[str] = []
    for env in cfg.deploy.environments:
        objs = [*manifests.render(cfg, env, parse(IMAGE_A)), manifests.deployment_patch(cfg, env)]
        for obj in objs[:-1]:
            validate_any(obj)
        parts.extend(f"# {env.name}: {obj['kind']}{' patch' if obj is objs[-1] else ''}\n" + tree.dump(obj) for obj in objs)
    return "---\n".join(parts)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_rendered_objects_are_the_golden_ones(case: str, tmp_path: Path) -> None:
    text = rendered(CASES[case](tmp_path))
    path = GOLDEN / f"{case}.yaml"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"{path.name} differs (ML_CI_UPDATE_GOLDEN=1 rewrites it)"
