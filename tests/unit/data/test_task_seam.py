"""`ml-ci data check` and the loader ask the task's data half (ml_ci.tasks.protocols.data.DataHalf)
for its checks, its columns, what the report says of a split and how the held-out split is made."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ml_ci.config import load_config
from ml_ci.config.model import Data
from ml_ci.data.check import data_check
from ml_ci.data.checks import Outcome, Registered, Tables
from ml_ci.data.fingerprint import fingerprints
from ml_ci.data.load import load_tables
from ml_ci.data.table import Table
from ml_ci.errors import DataCheckError
from ml_ci.tasks.text_classification import data as tc
from tests.modelrepo import make_model_repo
from tests.unit.tasks.fake_task import half_like, register


def _rows_of(tables: Tables, data: Data) -> list[Outcome]:
    return [
        Outcome(check="rows_seen", split=role, passed=False, message=f"{t.source}: {len(t)} rows", value=len(t))
        for role, t in tables.items()
    ]


def test_the_stage_runs_the_tasks_checks_and_reports_what_the_task_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(make_model_repo(tmp_path)).config
    half = half_like(
        "data",
        checks=lambda: (tc.CHECKS[0], Registered("rows_seen", _rows_of, setting="fake.rows")),
        describe=lambda table, data: {"described": len(table)},
    )
    register(monkeypatch, data=half)
    with pytest.raises(DataCheckError) as e:
        data_check(config, out=io.StringIO(), env={}, no_cache=True)
    report = json.loads((tmp_path / ".ml-ci/artifacts/data-check/report.json").read_text())
    assert [c["check"] for c in report["checks"]] == ["columns"] * 3 + ["rows_seen"] * 3
    assert list(report["splits"]["train"]) == ["source", "rows", "described", "fingerprint"]
    assert report["splits"]["train"]["described"] == 160
    assert str(e.value).splitlines()[:3] == [
        "3 data checks failed:",
        "  rows_seen: data/train.csv: 160 rows",
        "    to pass: fix the data, change fake.rows or make it a warning with data.checks.severity: {rows_seen: warn}",
    ]


@pytest.mark.parametrize(
    ("columns", "checked"), [(("text", "label"), ["train", "validation", "test"]), (("text", "no such column"), [])]
)
def test_the_later_checks_skip_a_split_without_a_column_the_task_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, columns: tuple[str, ...], checked: list[str]
) -> None:
    config = load_config(make_model_repo(tmp_path)).config
    seen: list[str] = []

    def record(tables: Tables, data: Data) -> list[Outcome]:
        seen.extend(tables)
        return []

    checks = (Registered("columns", lambda tables, data: []), Registered("record", record))
    register(monkeypatch, data=half_like("data", columns=lambda data: columns, checks=lambda: checks))
    data_check(config, out=io.StringIO(), env={}, no_cache=True)
    assert seen == checked


def test_the_held_out_split_is_stratified_and_fingerprinted_by_the_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(
        make_model_repo(tmp_path, overrides={"data": {"validation": {"split_from": "train", "fraction": 0.2, "seed": 0}}})
    ).config
    real_fps, real_tables = fingerprints(config), load_tables(config)

    def one_stratum(table: Table, data: Data) -> list[int | None]:
        return [0] * len(table)

    register(monkeypatch, data=half_like("data", strata=one_stratum, split_keys=lambda data: ("another",)))
    fps, tables = fingerprints(config), load_tables(config)
    assert fps["validation"] != real_fps["validation"] and fps["train"] != real_fps["train"]
    assert (tables["validation"].fingerprint, tables["train"].fingerprint) == (fps["validation"], fps["train"])
    # One stratum: the rows held out are chosen regardless of label, so another set than by label.
    assert tables["validation"].locations != real_tables["validation"].locations
