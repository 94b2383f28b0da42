"""The project's own habits (issue 14.7): CI in a fast and a slow job, pre-commit for this repository, tests
type-checked, the layers linted. These read the files; the linters themselves run in CI and .ci/test."""

from __future__ import annotations

from typing import Any

import tomllib  # Python 3.11+: CI and .ci/test run 3.11
import yaml

from tests.conftest import ROOT


def _yaml(rel: str) -> Any:
    return yaml.safe_load((ROOT / rel).read_text(encoding="utf-8"))


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job["steps"])


def test_ci_runs_the_fast_job_first_and_the_slow_one_after_it() -> None:
    jobs = _yaml(".github/workflows/ci.yml")["jobs"]
    assert set(jobs) == {"fast", "slow"}
    assert jobs["slow"]["needs"] == "fast"  # a broken unit test is heard of before the services start
    fast = _runs(jobs["fast"])
    for command in ("ruff check", "ruff format --check", "mypy", "lint-imports", "zizmor", "pytest -q tests/unit"):
        assert command in fast, command
    assert "bash .ci/test tests/integration" in _runs(jobs["slow"])
    assert jobs["fast"]["timeout-minutes"] < jobs["slow"]["timeout-minutes"]


def test_the_readme_test_command_runs_every_linter_too() -> None:
    script = (ROOT / ".ci" / "test").read_text(encoding="utf-8")
    order = [
        script.index(line)
        for line in ('pytest "$@"', "bin/ruff check", "bin/ruff format --check", "bin/mypy", "bin/lint-imports")
    ]
    assert order == sorted(order)
    assert (ROOT / ".ci" / "run").read_text(encoding="utf-8").rstrip().endswith('bash .ci/test "$@"')


def test_pre_commit_runs_the_linters_and_ml_ci_s_own_hooks_on_the_example() -> None:
    hooks = {hook["id"]: hook for repo in _yaml(".pre-commit-config.yaml")["repos"] for hook in repo["hooks"]}
    assert {"ruff", "ruff-format", "mypy", "import-linter"} <= set(hooks)
    own = {hook["id"] for hook in _yaml(".pre-commit-hooks.yaml")}
    assert own <= set(hooks), "each hook ml-ci offers model repositories also runs here, on the example"
    assert "examples/sentiment" in hooks["ml-ci-generate-check"]["entry"]
    for hook in hooks.values():
        assert hook["entry"].startswith(".venv/bin/"), hook["id"]  # the versions CI uses, nothing downloaded


def test_tests_are_type_checked_and_the_layers_are_contracts() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["mypy"]["files"] == ["ml_ci", "tests"]
    contracts = {c["id"]: c for c in pyproject["tool"]["importlinter"]["contracts"]}
    assert {"layers", "tasks-through-the-registry", "light-path", "serving-image"} <= set(contracts)
    layers = contracts["layers"]["layers"]
    assert layers[0] == "ml_ci.cli" and layers[-1] == "ml_ci.errors"
    assert any(dep.startswith("import-linter") for dep in pyproject["project"]["optional-dependencies"]["dev"])
