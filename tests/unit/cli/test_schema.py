"""`ml-ci schema` prints the committed schema; `--markdown` prints the reference that docs/ml-yaml.md holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ml_ci.cli import schema_cmd
from ml_ci.cli.main import cli
from ml_ci.resources import schema


def test_schema_prints_the_committed_file(repo_root: Path) -> None:
    result = CliRunner().invoke(cli, ["schema"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == (repo_root / "schemas" / "ml.schema.json").read_text(encoding="utf-8")
    assert json.loads(result.stdout) == schema()


def test_schema_markdown_is_the_committed_reference(repo_root: Path) -> None:
    """docs/ml-yaml.md is generated; regenerate it with `ml-ci schema --markdown > docs/ml-yaml.md`."""
    result = CliRunner().invoke(cli, ["schema", "--markdown"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == (repo_root / "docs" / "ml-yaml.md").read_text(encoding="utf-8"), (
        "docs/ml-yaml.md is stale: run `ml-ci schema --markdown > docs/ml-yaml.md`"
    )


def test_regenerate_rewrites_the_task_dependent_parts(repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a task is added (or its metrics change), `ml-ci schema --regenerate` brings the schema up to date."""
    committed = (repo_root / "schemas" / "ml.schema.json").read_text(encoding="utf-8")
    stale = json.loads(committed)
    stale["properties"]["task"]["enum"] = ["text-classification", "gone"]
    del stale["allOf"]
    copy = tmp_path / "ml.schema.json"
    copy.write_text(json.dumps(stale, indent=2) + "\n", encoding="utf-8")
    monkeypatch.setattr(schema_cmd, "resource", lambda relative: copy)
    result = CliRunner().invoke(cli, ["schema", "--regenerate"], catch_exceptions=False)
    assert (result.exit_code, result.stderr) == (0, f"wrote {copy}; then `ml-ci schema --markdown > docs/ml-yaml.md`\n")
    assert copy.read_text(encoding="utf-8") == committed
    result = CliRunner().invoke(cli, ["schema", "--regenerate"], catch_exceptions=False)
    assert result.stderr.startswith("unchanged:")
