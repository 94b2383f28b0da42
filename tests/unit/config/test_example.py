from pathlib import Path

from ml_ci.config import load_config
from ml_ci.pipeline.plan import plan
from tests.conftest import EXAMPLE
from tests.modelrepo import make_model_repo


def test_example_is_valid_and_uses_every_section() -> None:
    loaded = load_config(EXAMPLE / "ml.yaml")
    # Its GitOps repository is on disk, which on GitHub lasts one workflow run, and its production environment
    # runs locally, where approval and the Kubernetes keys are not applied: said, not an error.
    production = "deploy.environments[1]"
    assert [(p.path, p.severity) for p in loaded.warnings] == [
        ("deploy.gitops.repo", "warning"), *((f"{production}.{key}", "warning")
                                             for key in ("approval", "replicas", "resources", "autoscale"))]
    raw = loaded.document.data
    from ml_ci.resources import schema

    assert set(raw) == set(schema()["properties"]) - {"min_ml_ci_version"}


def test_plan_orders_stages_by_dependency() -> None:
    stages = plan(load_config(EXAMPLE).config)
    names = [s.name for s in stages]
    assert names == ["validate", "data-check", "tune", "train", "evaluate", "export", "build",
                     "deploy-staging", "promote-production"]
    seen: set[str] = set()
    for stage in stages:
        assert set(stage.needs) <= seen
        seen.add(stage.name)


def test_scratch_repo_is_valid(tmp_path: Path) -> None:
    config = load_config(make_model_repo(tmp_path)).config
    assert config.data.labels == ("negative", "positive")
    assert config.train.distributed.nproc_per_node == 1  # default from the schema
