"""The plan of stages, from the config alone: dependencies come before their dependents."""

from __future__ import annotations

from pathlib import Path

from ml_ci.config import load_config
from ml_ci.pipeline.plan import plan
from tests.modelrepo import make_model_repo

EXAMPLE = Path(__file__).parents[3] / "examples" / "sentiment" / "ml.yaml"


def test_every_stage_comes_after_what_it_needs() -> None:
    stages = plan(load_config(EXAMPLE).config)
    position = {s.name: i for i, s in enumerate(stages)}
    assert len(position) == len(stages)
    for stage in stages:
        assert all(position[n] < position[stage.name] for n in stage.needs), stage


def test_tuning_off_trains_right_after_the_data_check(tmp_path: Path) -> None:
    stages = {s.name: s for s in plan(load_config(make_model_repo(tmp_path)).config)}
    assert "tune" not in stages and stages["train"].needs == ("data-check",)
    assert stages["train"].command == ("train",)


def test_after_tuning_train_reads_the_best_params() -> None:
    stages = {s.name: s for s in plan(load_config(EXAMPLE).config)}
    assert stages["train"].needs == ("tune",)
    assert stages["train"].command == ("train", "--params", ".ml-ci/artifacts/tune/best_params.json")
