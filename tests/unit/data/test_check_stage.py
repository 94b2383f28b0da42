"""`ml-ci data check` end to end in process: report files, runner outputs, formats, exit codes."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from ml_ci.cli.main import cli
from ml_ci.config import load_config
from ml_ci.data.check import data_check, github_annotations
from ml_ci.data.report import build, failure_message, markdown, text_lines
from ml_ci.errors import DataCheckError
from ml_ci.tasks.text_classification import data as tc
from tests.modelrepo import make_model_repo
from tests.unit.data.toy import data_config, table


def test_passing_repo_writes_report_summary_and_fingerprint(tmp_path: Path) -> None:
    config = load_config(make_model_repo(tmp_path)).config
    env = {"GITHUB_OUTPUT": str(tmp_path / "out.txt"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    out = io.StringIO()
    assert data_check(config, out=out, env=env) == 0
    folder = tmp_path / ".ml-ci/artifacts/data-check"
    assert sorted(p.name for p in folder.iterdir()) == ["report.json", "report.md"]
    report = json.loads((folder / "report.json").read_text())
    assert report["passed"] is True
    outputs = (tmp_path / "out.txt").read_text().splitlines()
    assert [line for line in outputs if not line.startswith("cache-key=")] == [
        f"fingerprint={report['fingerprint']}",
        "cache-hit=false",
    ]
    assert (tmp_path / "summary.md").read_text() == (folder / "report.md").read_text() + "\n"
    assert report["splits"]["train"]["rows"] == 160
    assert report["splits"]["train"]["labels"] == {"negative": 80, "positive": 80}
    assert out.getvalue().splitlines()[-1] == f"data check: all 28 checks passed ({report['fingerprint']})"
    assert not list(folder.parent.glob(".data-check*"))  # no temporary folder left behind


def test_a_failing_check_still_writes_the_report_then_raises(tmp_path: Path) -> None:
    config = load_config(make_model_repo(tmp_path)).config
    with (tmp_path / "data/test.csv").open("a", encoding="utf-8") as f:
        f.write("a lovely film,neutral\n")
    with pytest.raises(DataCheckError) as e:
        data_check(config, out=io.StringIO(), env={})
    assert e.value.exit_code == 3
    assert str(e.value) == (
        "1 data check failed:\n  labels: data/test.csv: 1 row with a label outside "
        "['negative', 'positive'] (or its indices 0-1): data/test.csv:42 ('neutral')\n"
        "    to pass: fix the data or change data.labels"
    )
    report = json.loads((tmp_path / ".ml-ci/artifacts/data-check/report.json").read_text())
    assert report["passed"] is False


def test_json_format_prints_the_report(tmp_path: Path) -> None:
    config = load_config(make_model_repo(tmp_path)).config
    out = io.StringIO()
    data_check(config, fmt="json", out=out, env={})
    assert json.loads(out.getvalue()) == json.loads((tmp_path / ".ml-ci/artifacts/data-check/report.json").read_text())


def sample_report() -> dict[str, object]:
    data = data_config(min_rows=3)
    tables = {
        "train": table("train", ["a", "b", "c", "d"], ["negative", "positive", "neutral", "positive"]),
        "validation": table("validation", ["x", "y"], [0, 1]),
    }
    from tests.unit.data.toy import run_checks

    return build(tables, run_checks(tables, data), lambda t: tc.describe(t, data))


def test_report_markdown_lists_failures_first_and_escapes_pipes() -> None:
    md = markdown(sample_report())
    lines = md.splitlines()
    assert lines[0] == "## Data check: ❌ 2 of 18 checks failed"
    assert lines[4] == "| train | `train.csv` | 4 | `sha256:train` |"
    assert lines[9] == "| ❌ | min_rows | validation | 2 | 3 | validation.csv: 2 rows, fewer than min_rows 3 |"
    assert lines[10] == (
        "| ❌ | labels | train | 1 | 0 | train.csv: 1 row with a label outside ['negative', 'positive'] "
        "(or its indices 0-1): train.csv:4 ('neutral') |"
    )
    assert "| ✅ | columns | train | 0 | 0 | train.csv: columns 'text', 'label' present |" in lines


def test_report_markdown_escapes_pipes_in_cells() -> None:
    report = {
        "splits": {},
        "checks": [
            {"check": "labels", "split": "train", "passed": False, "value": 1, "limit": 0, "message": "train.csv:2 ('a|b')"}
        ],
    }
    assert markdown(report).splitlines()[-1] == "| ❌ | labels | train | 1 | 0 | train.csv:2 ('a\\|b') |"


def test_report_text_and_failure_message() -> None:
    report = sample_report()
    lines = text_lines(report)
    assert lines[0] == "ok   columns            train             train.csv: columns 'text', 'label' present"
    assert lines[-1] == "data check: 2 of 18 checks failed"
    assert failure_message(report, tc.CHECKS).splitlines() == [
        "2 data checks failed:",
        "  min_rows: validation.csv: 2 rows, fewer than min_rows 3",
        "    to pass: fix the data, change data.checks.min_rows or make it a warning with data.checks.severity: {min_rows: warn}",
        "  labels: train.csv: 1 row with a label outside ['negative', 'positive'] (or its indices 0-1): train.csv:4 ('neutral')",
        "    to pass: fix the data or change data.labels",
    ]


def test_report_json_has_no_infinity() -> None:
    data = data_config()
    tables = {"train": table("train", ["a"], ["positive"])}
    from tests.unit.data.toy import run_checks

    report = build(tables, run_checks(tables, data), lambda t: tc.describe(t, data))
    balance = next(c for c in report["checks"] if c["check"] == "class_balance")
    assert balance["value"] is None
    json.dumps(report, allow_nan=False)


def test_github_annotations_point_at_the_first_offending_line(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("")
    assert github_annotations(sample_report(), tmp_path) == [
        "::error title=data check min_rows::validation.csv: 2 rows, fewer than min_rows 3",
        f"::error file={os.path.relpath(tmp_path / 'train.csv')},line=4,"
        "title=data check labels::train.csv: 1 row with a label outside ['negative', 'positive'] (or its indices 0-1): "
        "train.csv:4 ('neutral')",
    ]


def test_cli_exit_codes(tmp_path: Path) -> None:
    path = make_model_repo(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(cli, ["data", "check", "-c", str(path)])
    assert ok.exit_code == 0, ok.output
    (tmp_path / "data/validation.csv").write_text("text,label\na,positive,extra\n", encoding="utf-8")
    bad = runner.invoke(cli, ["data", "check", "-c", str(tmp_path), "--format", "github"])
    assert bad.exit_code == 3
    assert (
        "error: data/validation.csv:2: 3 fields, but the header has 2 (text, label); quote values that contain commas"
        in bad.output
    )
    assert "Traceback" not in bad.output
    (tmp_path / "data/validation.csv").unlink()
    gone = runner.invoke(cli, ["data", "check", "-c", str(tmp_path)])
    assert gone.exit_code == 1
    assert "error: data/validation.csv: no such file" in gone.output


def imbalanced_repo(tmp_path: Path, severity: dict[str, str] | None = None) -> Path:
    """Train with 9 positive rows to each negative one: above max_class_imbalance 3."""
    checks: dict[str, object] = {
        "min_rows": 5,
        "min_rows_per_class": 1,
        "max_class_imbalance": 3.0,
        "drift": {"threshold": 5.0},
    }  # validation and test stay balanced: their labels drift
    if severity is not None:
        checks["severity"] = severity
    path = make_model_repo(tmp_path, overrides={"data": {"checks": checks}})
    lines = (tmp_path / "data/train.csv").read_text(encoding="utf-8").splitlines()
    positives = [line for line in lines[1:] if line.endswith(",positive")]
    negatives = [line for line in lines[1:] if line.endswith(",negative")]
    (tmp_path / "data/train.csv").write_text("\n".join([lines[0], *positives[:72], *negatives[:8]]) + "\n", encoding="utf-8")
    return path


def test_a_failure_names_the_setting_that_changes_it(tmp_path: Path) -> None:
    """Issue 22: the class-balance failure gave no fix in the terminal."""
    config = load_config(imbalanced_repo(tmp_path)).config
    with pytest.raises(DataCheckError) as e:
        data_check(config, out=io.StringIO(), env={})
    assert str(e.value).splitlines() == [
        "1 data check failed:",
        "  class_balance: data/train.csv: most frequent label 'positive' has 72 rows, least frequent 'negative' 8: "
        "ratio 9.00, above max_class_imbalance 3.0",
        "    to pass: fix the data, change data.checks.max_class_imbalance or make it a warning with "
        "data.checks.severity: {class_balance: warn}",
    ]


def test_a_check_whose_severity_is_warn_reports_and_passes(tmp_path: Path) -> None:
    """Issue 22: data checks could only block; severity warn goes to the report and annotations, exit 0."""
    config = load_config(imbalanced_repo(tmp_path, {"class_balance": "warn"})).config
    env = {"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    out = io.StringIO()
    assert data_check(config, fmt="github", out=out, env=env) == 0
    report = json.loads((tmp_path / ".ml-ci/artifacts/data-check/report.json").read_text())
    assert (report["version"], report["passed"], report["warnings"]) == (2, True, 1)
    balance = next(c for c in report["checks"] if c["check"] == "class_balance")
    assert (balance["passed"], balance["severity"]) == (False, "warn")
    lines = out.getvalue().splitlines()
    assert (
        "warn class_balance      train             data/train.csv: most frequent label 'positive' has 72 rows, "
        "least frequent 'negative' 8: ratio 9.00, above max_class_imbalance 3.0"
    ) in lines
    assert f"data check: 27 of 28 checks passed, 1 warning ({report['fingerprint']})" in lines
    assert (
        "::warning title=data check class_balance::data/train.csv: most frequent label 'positive' has 72 rows, "
        "least frequent 'negative' 8: ratio 9.00, above max_class_imbalance 3.0"
    ) in lines
    assert not [line for line in lines if line.startswith("::error")]
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## Data check: ✅ 27 of 28 checks passed, 1 warning\n")
    assert "| ⚠️ | class_balance | train | 9 | 3 |" in summary


def test_columns_labels_and_nulls_cannot_be_made_warnings() -> None:
    """Training cannot use such rows: the schema does not offer them, and the runner ignores a severity given in code."""
    from ml_ci.config.by_task import effective
    from ml_ci.resources import schema
    from ml_ci.tasks.text_classification.data import CHECKS
    from tests.unit.data.toy import run_checks as run

    checks = effective(schema(), "text-classification")["properties"]["data"]["properties"]["checks"]
    names = checks["properties"]["severity"]["propertyNames"]["enum"]
    assert names == [c.name for c in CHECKS if c.can_warn]
    assert {c.name for c in CHECKS if not c.can_warn} == {"columns", "labels", "null_fraction"}
    data = data_config(min_rows=3, severity={"labels": "warn", "min_rows": "warn"})
    tables = {
        "train": table("train", ["a", "b", "c", "d"], ["negative", "positive", "neutral", "positive"]),
        "validation": table("validation", ["x", "y"], [0, 1]),
    }
    report = build(tables, run(tables, data), lambda t: tc.describe(t, data))
    assert report["passed"] is False
    assert failure_message(report, tc.CHECKS).splitlines() == [
        "1 data check failed:",
        "  labels: train.csv: 1 row with a label outside ['negative', 'positive'] (or its indices 0-1): train.csv:4 ('neutral')",
        "    to pass: fix the data or change data.labels",
    ]
    assert text_lines(report)[-1] == "data check: 1 of 18 checks failed, 1 warning"


def test_the_pr_comment_shows_a_warned_check_as_a_warning_not_a_failure(tmp_path: Path) -> None:
    from ml_ci.report.markdown import data_check as pr_section

    config = load_config(imbalanced_repo(tmp_path, {"class_balance": "warn"})).config
    data_check(config, out=io.StringIO(), env={})
    section = pr_section(json.loads((tmp_path / ".ml-ci/artifacts/data-check/report.json").read_text()))
    assert section.startswith("#### Data checks: ⚠️ 27 of 28 checks passed, 1 warning\n")
    assert "| ⚠️ | class_balance | train |" in section
    assert "❌" not in section
