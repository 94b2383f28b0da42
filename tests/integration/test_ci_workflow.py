"""ml-ci's own workflow (.github/workflows/ci.yml) passes zizmor (auditor persona), actionlint with
shellcheck, and SchemaStore's workflow schema; each linter is first shown to catch a bad workflow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.services import require_tool

pytestmark = pytest.mark.integration

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
BIN = Path(sys.executable).parent
# An unpinned third-party action and a script shellcheck warns about (unquoted expansions).
BAD = """\
name: bad
on: push
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo $HOME/$1
"""
# A job without steps: valid YAML, but not a workflow.
NOT_A_WORKFLOW = BAD.replace("    steps:", "    step:")


def _lint(tool: str, path: Path) -> subprocess.CompletedProcess[str]:
    commands = {
        "zizmor": [str(BIN / "zizmor"), "--persona=auditor", "--offline", "--no-progress", str(path)],
        "actionlint": [str(BIN / "actionlint"), str(path)],
        "check-jsonschema": [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
    }
    return subprocess.run(commands[tool], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module", autouse=True)
def _shellcheck() -> None:
    # actionlint skips shell scripts silently when shellcheck is missing.
    require_tool("shellcheck", "apt-get install shellcheck; .ci/install.sh does")


@pytest.mark.parametrize("tool", ["zizmor", "actionlint", "check-jsonschema"])
def test_ci_workflow_is_clean(tool: str) -> None:
    result = _lint(tool, WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("tool", "text", "finding"),
    [
        ("zizmor", BAD, "unpinned-uses"),
        ("actionlint", BAD, "shellcheck reported issue"),
        ("check-jsonschema", NOT_A_WORKFLOW, "'step' was unexpected"),
    ],
)
def test_each_linter_catches_a_bad_workflow(tool: str, text: str, finding: str, tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(text, encoding="utf-8")
    result = _lint(tool, bad)
    assert result.returncode != 0
    assert finding in result.stdout + result.stderr


def test_third_party_actions_are_pinned_to_full_commits() -> None:
    uses = [line.split("uses:", 1)[1].strip() for line in WORKFLOW.read_text(encoding="utf-8").splitlines() if "uses:" in line]
    assert uses
    for use in uses:
        ref, _, comment = use.partition(" # ")
        sha = ref.split("@", 1)[1]
        assert len(sha) == 40 and all(c in "0123456789abcdef" for c in sha), use
        assert comment.startswith("v"), f"{use}: say which version the commit is"
