from pathlib import Path

from ml_ci.config import load_config
from ml_ci.pipeline.plan import plan
from ml_ci.tasks.text_classification import config as tc_config
from tests.conftest import EXAMPLE
from tests.modelrepo import make_model_repo


def test_example_is_valid_and_uses_every_section() -> None:
    loaded = load_config(EXAMPLE / "ml.yaml")
    # One warning, on purpose: its GitOps repository is on disk (so the example runs with nothing outside this
    # machine), which on GitHub lasts one workflow run. Nothing it writes is ignored: its local production
    # environment keeps approval (a review branch in that repository) and has no Kubernetes-only keys.
    assert [(p.path, p.severity) for p in loaded.warnings] == [("deploy.gitops.repo", "warning")]
    production = loaded.config.deploy.environment("production") if loaded.config.deploy else None
    assert production is not None and production.kind == "local" and production.approval
    raw = loaded.document.data
    from ml_ci.resources import schema

    # supply_chain is left out until the example's release workflow has a signing key to attest with (issue 19):
    # its act runs and generated goldens stay as they are.
    assert set(raw) == set(schema()["properties"]) - {"min_ml_ci_version", "supply_chain"}


def test_plan_orders_stages_by_dependency() -> None:
    stages = plan(load_config(EXAMPLE).config)
    names = [s.name for s in stages]
    assert names == [
        "validate",
        "data-check",
        "tune",
        "train",
        "evaluate",
        "export",
        "build",
        "deploy-staging",
        "promote-production",
    ]
    seen: set[str] = set()
    for stage in stages:
        assert set(stage.needs) <= seen
        seen.add(stage.name)


def test_scratch_repo_is_valid(tmp_path: Path) -> None:
    config = load_config(make_model_repo(tmp_path)).config
    assert tc_config.of(config).labels == ("negative", "positive")
    assert config.train.distributed.nproc_per_node == 1  # default from the schema
