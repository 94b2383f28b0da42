"""Every generated workflow and composite action passes zizmor (auditor persona, offline),
actionlint with shellcheck, and SchemaStore's schemas; and a hostile value admitted by the schema
executes nothing when the generated steps run.

The golden folders are the generator's output (tests/unit/generate/test_golden.py asserts that),
so the linters read them in place, together with the bundled actions and reusable workflow, and
with the default output of `ml-ci generate` (the actions vendored into .github/actions/ml-ci) for
every golden ml.yaml and the example.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_ci import __version__
from ml_ci.config import load_config
from ml_ci.generate.baselines import KEEP_EVAL
from ml_ci.generate.bundled import render_bundled
from ml_ci.generate.options import Options
from ml_ci.generate.render import render
from ml_ci.generate.tuning import PICK_BEST_BY_VALUE
from ml_ci.generate.vendor import VENDOR_PATH
from ml_ci.generate.workflows import GHCR_LOGIN, REGISTRY_LOGIN
from tests.conftest import EXAMPLE, ROOT
from tests.golden.variants import GOLDEN, variant_dirs
from tests.services import require_tool

pytestmark = pytest.mark.integration
BIN = ROOT / ".venv" / "bin"


def tool(name: str) -> str:
    return require_tool(name, "pip install -e '.[dev]'; apt-get install shellcheck")


def write_tree(root: Path, rendered: dict[str, str]) -> None:
    for rel, text in rendered.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every variant's golden files; the default output for every golden ml.yaml and the examples;
    the bundled actions and reusable workflow."""
    root = tmp_path_factory.mktemp("lint")
    shutil.copytree(GOLDEN, root / "golden", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    for folder in [*variant_dirs(), EXAMPLE, EXAMPLE.parent / "ner"]:
        write_tree(root / "default" / folder.name, render(load_config(folder / "ml.yaml").config, Options()))
    write_tree(root / "bundled", render_bundled())
    for repo in {p.parents[2] for p in workflows(root)}:
        # actionlint reads a `./` action from the repository root, the folder that holds .git.
        (repo / ".git").mkdir(exist_ok=True)
    return root


def workflows(root: Path) -> list[Path]:
    return sorted(root.glob("**/.github/workflows/*.yml"))


def actions(root: Path) -> list[Path]:
    """The bundled actions and every copy vendored into a model repository."""
    return sorted([*root.glob("bundled/actions/*/action.yml"), *root.glob("**/.github/actions/ml-ci/*/action.yml")])


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False)


def test_enough_inputs(tree: Path) -> None:
    assert len(workflows(tree)) >= 2 * 2 * 10 + 1
    assert len(actions(tree)) >= 9 + 10 * 7


def test_zizmor_auditor_finds_nothing(tree: Path) -> None:
    result = run(tool("zizmor"), "--persona=auditor", "--offline", "--no-progress", tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_actionlint_with_shellcheck_finds_nothing(tree: Path) -> None:
    """As the generated tree stands: each repository's custom runner labels are declared in the
    .github/actionlint.yaml that ml-ci generate wrote there, which actionlint reads by itself."""
    assert any(tree.glob("**/gpu-runners/.github/actionlint.yaml"))
    # No flag at all: actionlint runs the shellcheck it finds on PATH (it skips scripts silently without one).
    assert shutil.which("shellcheck") == tool("shellcheck"), "shellcheck must be on PATH"
    result = run(tool("actionlint"), *workflows(tree))
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_the_generated_configuration_the_custom_labels_are_unknown(tree: Path, tmp_path: Path) -> None:
    """The clean result above comes from the generated .github/actionlint.yaml: without it actionlint
    flags ci.gpu_runner's labels."""
    repo = tmp_path / "repo"
    shutil.copytree(tree / "default" / "gpu-runners", repo)
    (repo / ".github" / "actionlint.yaml").unlink()
    result = run(tool("actionlint"), *workflows(repo))
    assert 'label "gpu" is unknown' in result.stdout and 'label "a100" is unknown' in result.stdout, result.stdout


def test_actionlint_reads_the_vendored_actions(tree: Path, tmp_path: Path) -> None:
    """The clean result above covers the workflows' inputs to the vendored actions: a copy whose
    input was renamed is caught."""
    repo = tmp_path / "repo"
    shutil.copytree(tree / "default" / "minimal", repo)
    action = repo / ".github/actions/ml-ci/train/action.yml"
    action.write_text(action.read_text().replace("\n  config:\n", "\n  konfig:\n"), encoding="utf-8")
    result = run(tool("actionlint"), *workflows(repo))
    assert 'input "config" is not defined in action "ml-ci train"' in result.stdout, result.stdout + result.stderr


def test_shellcheck_on_every_composite_action_script(tree: Path) -> None:
    shellcheck = tool("shellcheck")
    # The vendored copies hold the bundled scripts again: each distinct script is checked once.
    scripts = {
        step["run"]: f"{path.parent.name}: {step['name']}"
        for path in actions(tree)
        for step in yaml.safe_load(path.read_text())["runs"]["steps"]
        if "run" in step
    }
    for script, where in scripts.items():
        result = subprocess.run(
            [shellcheck, "--shell=bash", "-"], input=script, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, f"{where}\n{result.stdout}"


def test_schemastore_schemas(tree: Path) -> None:
    checker = tool("check-jsonschema")
    result = run(checker, "--builtin-schema", "vendor.github-workflows", *workflows(tree))
    assert result.returncode == 0, result.stdout + result.stderr
    result = run(checker, "--builtin-schema", "vendor.github-actions", *actions(tree))
    assert result.returncode == 0, result.stdout + result.stderr


def zizmor_findings(path: Path) -> list[dict[str, Any]]:
    result = run(tool("zizmor"), "--persona=auditor", "--offline", "--no-progress", "--format", "json", path)
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    return findings


def test_the_default_output_is_self_contained_and_clean(tree: Path) -> None:
    """With no --actions-ref every action the workflows use is a reviewed file of the model
    repository itself, and the auditor finds nothing in the workflows or those files."""
    for repo in sorted((tree / "default").iterdir()):
        text = "".join(p.read_text() for p in (repo / ".github/workflows").glob("*.yml"))
        assert "ml-ci/ml-ci/" not in text, repo.name
        used = set(re.findall(r"uses: \./(\.github/actions/ml-ci/[\w-]+) ", text))
        vendored = {p.parent.relative_to(repo).as_posix() for p in repo.glob(".github/actions/ml-ci/*/action.yml")}
        assert used and used == vendored, repo.name
    assert zizmor_findings(tree / "default") == []


def test_a_tag_is_flagged_only_as_unpinned(tmp_path: Path) -> None:
    """Why ml-ci generate warns about --actions-ref <tag>: zizmor's unpinned-uses flags exactly
    the lines that reference ml-ci's actions by tag, and nothing else."""
    write_tree(tmp_path, render(load_config(EXAMPLE / "ml.yaml").config, Options(actions_ref="v0.1.0")))
    findings = zizmor_findings(tmp_path)
    assert findings and {f["ident"] for f in findings} == {"unpinned-uses"}


# --- a hostile value runs through the generated steps -------------------------------------------

HOSTILE_NAME = "ml $(touch pwned-a) `touch pwned-b` ;touch pwned-c; 'x' \"y\" $HOME.yaml"
STUB = """#!/bin/sh
# Records its arguments, one per line, NUL-separated; prints a cache key when asked for one. As pip with --target DIR
# (the setup action installing uv), it leaves itself as DIR/bin/uv, for the step to run next.
printf '%s\\0' "$(basename "$0")" "$@" >> "$CALLS"
printf '\\n' >> "$CALLS"
case "$*" in *--print-cache-key*) echo 0123abcd ;; esac
prev=""
for arg in "$@"; do
  if [ "$prev" = --target ]; then mkdir -p "$arg/bin" && cp "$0" "$arg/bin/uv"; fi
  prev="$arg"
done
exit 0
"""


def _substitute(value: str, inputs: dict[str, str]) -> str:
    """What the runner does to `${{ inputs.x }}` in a step's env; other contexts get a dummy."""

    def one(m: re.Match[str]) -> str:
        expr = m.group(1).strip()
        return inputs.get(expr[len("inputs.") :], "") if expr.startswith("inputs.") else "dummy"

    return re.sub(r"\$\{\{(.*?)\}\}", one, value)


FIXED_SCRIPTS = (KEEP_EVAL, GHCR_LOGIN, REGISTRY_LOGIN, PICK_BEST_BY_VALUE)


def test_hostile_values_execute_nothing(tmp_path: Path) -> None:
    bash = tool("bash")
    repo = tmp_path / "repo"
    repo.mkdir()
    config_path = repo / HOSTILE_NAME
    shutil.copy(GOLDEN / "hostile-values" / "ml.yaml", config_path)
    rendered = render(load_config(config_path).config, Options())
    # The default output: the workflows and the actions vendored beside them.
    vendored: dict[str, Any] = {
        rel.split("/")[3]: yaml.safe_load(text)
        for rel, text in rendered.items()
        if rel.startswith(f"{VENDOR_PATH}/") and rel.endswith("/action.yml")  # not the locks beside setup's
    }
    workflow_texts = [text for rel, text in rendered.items() if rel.startswith(".github/workflows/")]
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in ("ml-ci", "python"):
        (stubs / name).write_text(STUB)
        (stubs / name).chmod(stat.S_IRWXU)
    calls = tmp_path / "calls"
    # The vendored setup action's folder, as the runner gives it: its locks and the installer's beside it.
    action_path = tmp_path / "setup-action"
    for rel, text in rendered.items():
        if rel.startswith(f"{VENDOR_PATH}/setup/") and not rel.endswith("/action.yml"):
            dest = action_path / rel.removeprefix(f"{VENDOR_PATH}/setup/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text)
    executed = 0
    for text in workflow_texts:
        for job in yaml.safe_load(text)["jobs"].values():
            for step in job["steps"]:
                uses = step.get("uses", "")
                if not uses.startswith(f"./{VENDOR_PATH}/"):
                    # A workflow's own scripts are fixed text of the generator, the same for every ml.yaml.
                    assert step.get("run") in (None, *FIXED_SCRIPTS), f"{step['name']}: not one of the generator's scripts"
                    continue
                action = vendored[uses.rsplit("/", 1)[1]]
                inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
                inputs.update({k: str(v) for k, v in step.get("with", {}).items()})
                assert inputs["config"] == HOSTILE_NAME
                for inner in action["runs"]["steps"]:
                    if "run" not in inner:
                        continue
                    env = {k: _substitute(str(v), inputs) for k, v in inner.get("env", {}).items()}
                    env.update(
                        PATH=f"{stubs}:/usr/bin:/bin",
                        CALLS=str(calls),
                        HOME=str(tmp_path),
                        GITHUB_OUTPUT=str(tmp_path / "output"),
                        GITHUB_ACTION_PATH=str(action_path),
                        GITHUB_WORKSPACE=str(repo),
                        RUNNER_TEMP=str(tmp_path / "runner-temp"),
                    )
                    result = subprocess.run(
                        [bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", inner["run"]],
                        cwd=repo,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=60,
                        check=False,
                    )
                    assert result.returncode == 0, result.stderr
                    executed += 1
    assert executed >= 10
    assert not list(tmp_path.rglob("pwned-*")) and not list(Path("/tmp").glob("ml-ci-pwned-*")), "a value ran as code"
    records = [r.split("\0") for r in calls.read_text().split("\0\n") if r]
    ml_ci_calls = [r for r in records if r[0] == "ml-ci"]
    assert ml_ci_calls and all(r[r.index("-c") + 1] == HOSTILE_NAME for r in ml_ci_calls if "-c" in r)
    assert any(r[1:] == ["validate", "--format", "github", HOSTILE_NAME] for r in ml_ci_calls)
    # uv, installed by pip from the action's uv.txt with its hash checked, installed each lock with every hash checked
    # and ml-ci itself by version alone.
    pip_uv = [r for r in records if r[0] == "python" and "--target" in r]
    assert pip_uv and all("--require-hashes" in r and r[-1] == str(action_path / "uv.txt") for r in pip_uv)
    assert (action_path / "uv.txt").read_text().count("--hash=sha256:") > 1
    installs = [r for r in records if r[0] == "uv"]
    assert len(installs) == 2 * len(pip_uv)
    assert all("--require-hashes" in r for r in installs if "-r" in r)
    assert all(r[-1] == f"ml-ci=={__version__}" for r in installs if "-r" not in r)


# --- the reusable workflow's default commit ---------------------------------------------------------


def test_the_reusable_workflows_default_commit_has_every_input_it_passes() -> None:
    """ml-pipeline.yml runs ml-ci's actions at ML_CI_COMMIT unless the caller names another commit:
    that commit is in this repository's history, and each of its actions declares every input the
    workflow gives it (a bump to an older or unrelated commit fails here, not on a user's runner).
    Needs the repository's history (CI checks out with fetch-depth 0)."""
    from ml_ci.generate.reusable import ML_CI_COMMIT

    git = tool("git")
    found = run(git, "cat-file", "-e", f"{ML_CI_COMMIT}^{{commit}}", cwd=ROOT)
    assert found.returncode == 0, f"{ML_CI_COMMIT} is not a commit of this repository: {found.stderr}"
    ancestor = run(git, "merge-base", "--is-ancestor", ML_CI_COMMIT, "HEAD", cwd=ROOT)
    assert ancestor.returncode == 0, f"{ML_CI_COMMIT} is not an ancestor of HEAD"
    # Not older than the actions it runs: a caller without ml-ci-ref gets the actions of this very tree (their
    # inputs, their outputs, the fixes behind them). Once, the pinned commit predated a new output of the tune
    # action, and the save step that read it was skipped without a word on every caller's runner.
    changed = run(git, "diff", "--name-only", ML_CI_COMMIT, "HEAD", "--", "actions/", cwd=ROOT)
    assert changed.returncode == 0 and not changed.stdout.strip(), (
        f"actions/ changed since ML_CI_COMMIT {ML_CI_COMMIT[:12]}: bump it in ml_ci/generate/reusable.py to a commit that "
        f"has them:\n{changed.stdout}"
    )
    doc = yaml.safe_load(render_bundled()[".github/workflows/ml-pipeline.yml"])
    checked = 0
    for job in doc["jobs"].values():
        for step in job["steps"]:
            uses = str(step.get("uses", ""))
            if not uses.startswith("./.ml-ci-src/actions/"):
                continue
            name = uses.rsplit("/", 1)[1]
            shown = run(git, "show", f"{ML_CI_COMMIT}:actions/{name}/action.yml", cwd=ROOT)
            assert shown.returncode == 0, f"actions/{name} is missing at {ML_CI_COMMIT}"
            declared = set(yaml.safe_load(shown.stdout)["inputs"])
            assert set(step.get("with", {})) <= declared, f"{name}: {set(step['with']) - declared} unknown at {ML_CI_COMMIT}"
            checked += 1
    assert checked >= 10
