"""`ml-ci run`'s loop on toy plans: order, failures skip dependents, selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_ci.pipeline import runner
from ml_ci.pipeline.layout import Layout
from ml_ci.pipeline.plan import Stage
from ml_ci.pipeline.runner import CACHED, FAILED, OK, SKIPPED, PlanError, StageRun, argv, execute, exit_code, select

PLAN = [
    Stage("validate", ("validate",)),
    Stage("data-check", ("data", "check"), ("validate",)),
    Stage("train", ("train",), ("data-check",)),
    Stage("evaluate", ("evaluate",), ("train",)),
    Stage("export", ("export",), ("evaluate",)),
    Stage("docs", ("docs",), ("validate",)),  # independent of training
]


def run(codes: dict[str, int], *, hits: frozenset[str] = frozenset()) -> tuple[list[str], list[runner.Result]]:
    ran: list[str] = []

    def run_one(stage: Stage) -> StageRun:
        ran.append(stage.name)
        return StageRun(codes.get(stage.name, 0), 1.5, stage.name in hits)

    results = execute(PLAN, run_one)
    return ran, results


def test_all_stages_run_in_plan_order() -> None:
    ran, results = run({}, hits=frozenset({"train"}))
    assert ran == [s.name for s in PLAN]
    assert [r.status for r in results] == [OK, OK, CACHED, OK, OK, OK]
    assert exit_code(results) == 0


def test_a_failure_skips_its_dependents_and_gives_the_run_its_exit_code() -> None:
    ran, results = run({"train": 3})
    assert ran == ["validate", "data-check", "train", "docs"]
    assert [(r.stage.name, r.status, r.reason) for r in results] == [
        ("validate", OK, ""),
        ("data-check", OK, ""),
        ("train", FAILED, "exit 3"),
        ("evaluate", SKIPPED, "train failed"),
        ("export", SKIPPED, "train failed"),
        ("docs", OK, ""),
    ]
    assert exit_code(results) == 3


def test_select_from_and_only() -> None:
    assert [s.name for s in select(PLAN, start="evaluate")] == ["evaluate", "export", "docs"]
    assert [s.name for s in select(PLAN, only="train")] == ["train"]
    with pytest.raises(PlanError, match="no stage 'trian' in this pipeline; stages: validate, data-check"):
        select(PLAN, only="trian")


def test_each_stage_is_its_cli_command_with_the_config() -> None:
    assert argv(PLAN[0], "ml.yaml") == ["validate", "ml.yaml"]
    assert argv(PLAN[1], "ml.yaml") == ["data", "check", "-c", "ml.yaml"]


def test_summary_table_names_status_duration_and_artifact(tmp_path: Path) -> None:
    _, results = run({"evaluate": 4}, hits=frozenset({"train"}))
    rows = runner.summary(results, Layout(tmp_path), relative_to=tmp_path)
    assert rows[:5] == [
        ("validate", "ok", "1.5 s", ""),
        ("data-check", "ok", "1.5 s", ".ml-ci/artifacts/data-check"),
        ("train", "cache hit", "1.5 s", ".ml-ci/artifacts/train"),
        ("evaluate", "failed (exit 4)", "1.5 s", ""),
        ("export", "skipped (evaluate failed)", "-", ""),
    ]
    assert runner.table(rows).splitlines()[:2] == [
        "stage       status                     duration  artifact",
        "----------  -------------------------  --------  ---------------------------",
    ]
