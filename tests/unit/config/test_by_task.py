"""The task-dependent parts of the schema are made from the registry (ml_ci.config.by_task): the committed
schema is what the generator makes of it, each task gets its own branch, and a file is checked by its task's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ml_ci import tasks
from ml_ci.config import by_task, load
from ml_ci.config.load import check_file
from ml_ci.errors import ConfigError
from ml_ci.resources import schema
from tests.unit.config.fake_task import FAKE_METRICS, register_fake_task

MINIMAL = (Path(__file__).parent / "cases" / "positive" / "minimal.yaml").read_text(encoding="utf-8")


def test_the_committed_schema_is_the_generated_one(repo_root: Path) -> None:
    """schemas/ml.schema.json is stale when this fails: run `ml-ci schema --regenerate`."""
    text = (repo_root / "schemas" / "ml.schema.json").read_text(encoding="utf-8")
    assert by_task.dumps(by_task.generate(json.loads(text))) == text, "run `ml-ci schema --regenerate`"


def test_generation_notices_a_stale_enum() -> None:
    stale = json.loads(json.dumps(schema()))
    stale["allOf"][0]["then"]["properties"]["evaluate"]["properties"]["metrics"]["items"]["enum"].remove("roc_auc")
    stale["properties"]["task"]["enum"] = ["text-classification", "gone"]
    assert by_task.generate(stale) == schema()


@pytest.mark.parametrize("task", tasks.names())
def test_every_metric_of_a_task_has_a_range(task: str) -> None:
    """The range refuses gates no model can pass: every metric the task's schema offers has one."""
    effective = by_task.effective(schema(), task)
    ranges = set(by_task.metric_ranges(task))

    def named(node: dict[str, Any]) -> set[str]:  # the enum, beside a task's patterns (oneOf) or alone
        return set(node["enum"] if "enum" in node else node["oneOf"][0]["enum"])

    assert ranges == named(effective["$defs"]["gate"]["properties"]["metric"])
    assert ranges == named(effective["properties"]["evaluate"]["properties"]["metrics"]["items"])
    assert by_task.lower_is_better(task) <= ranges


def test_the_effective_schema_has_no_branches_left() -> None:
    effective = by_task.effective(schema(), "text-classification")
    assert "allOf" not in effective
    assert effective["properties"]["data"]["required"] == ["labels"]
    assert effective["properties"]["tune"]["properties"]["metric"]["default"] == "accuracy"
    assert "allOf" in schema()  # the published one is left alone


@pytest.fixture
def fake_task(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The schema generated with a second task registered; load checks files against it."""
    register_fake_task(monkeypatch)
    generated = by_task.generate(schema())
    monkeypatch.setattr(load, "schema", lambda: generated)
    return generated


def test_a_registered_task_gets_its_own_metric_enum(fake_task: dict[str, Any]) -> None:
    assert fake_task["properties"]["task"]["enum"] == [
        "text-classification",
        "token-classification",
        "text-generation",
        "fake-task",
    ]
    fake = by_task.effective(fake_task, "fake-task")
    assert fake["$defs"]["gate"]["properties"]["metric"]["enum"] == [*FAKE_METRICS, *by_task.GENERIC_METRICS]
    assert fake["properties"]["tune"]["properties"]["metric"]["enum"] == list(FAKE_METRICS)
    assert "question_column" in fake["properties"]["data"]["properties"]
    # text-classification's branch is unchanged by the second task, but for refusing the fake task's key
    before, after = by_task.effective(schema(), "text-classification"), by_task.effective(fake_task, "text-classification")
    refused = after["properties"]["data"]["properties"].pop("question_column")
    assert refused == {
        "description": "a key of task fake-task, not of text-classification: remove it, or set `task: fake-task`",
        "not": {},
    }
    assert after["$defs"] == before["$defs"]
    assert {k: v for k, v in after["properties"].items() if k != "task"} == {
        k: v for k, v in before["properties"].items() if k != "task"
    }


def _problems(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "ml.yaml").write_text(text, encoding="utf-8")
    try:
        check_file(tmp_path / "ml.yaml", display_name="ml.yaml")
    except ConfigError as e:
        return [str(p) for p in e.problems]
    return []


def test_a_file_is_checked_against_its_own_task(fake_task: dict[str, Any], tmp_path: Path) -> None:
    fake = MINIMAL.replace("name: demo", "name: demo\ntask: fake-task").replace("  labels: [negative, positive]\n", "")
    assert _problems(tmp_path, fake + "evaluate:\n  gates: [{metric: bleu, min: 0.2}]\n") == []
    assert _problems(tmp_path, fake + "evaluate:\n  gates: [{metric: accuracy, min: 0.2}]\n") == [
        "ml.yaml:11:20: evaluate.gates[0].metric: 'accuracy' is not one of: bleu, rouge_l, latency_p50_ms, "
        "latency_p95_ms, size_mb"
    ]
    # ... and a text-classification file still against text-classification's
    assert _problems(tmp_path, MINIMAL + "evaluate:\n  gates: [{metric: bleu, min: 0.2}]\n") == [
        "ml.yaml:11:20: evaluate.gates[0].metric: 'bleu' is not one of: accuracy, f1_macro, f1_micro, precision_macro, "
        "recall_macro, roc_auc, ece, latency_p50_ms, latency_p95_ms, size_mb"
    ]


def test_a_key_of_another_task_is_refused(fake_task: dict[str, Any], tmp_path: Path) -> None:
    fake = MINIMAL.replace("name: demo", "name: demo\ntask: fake-task")
    assert _problems(tmp_path, fake) == [
        "ml.yaml:8:3: data.labels: a key of task text-classification, not of fake-task: remove it, "
        "or set `task: text-classification`"
    ]
    assert _problems(tmp_path, MINIMAL.replace("  labels:", "  question_column: q\n  labels:")) == [
        "ml.yaml:7:3: data.question_column: a key of task fake-task, not of text-classification: remove it, "
        "or set `task: fake-task`"
    ]
