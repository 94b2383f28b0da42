"""`ml-ci schema` prints the committed schema; `--markdown` prints the reference that docs/ml-yaml.md holds."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

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
