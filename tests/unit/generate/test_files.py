"""Hand edits are noticed, drift is shown as a diff, nothing is written half-way."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from ml_ci.cli.main import main
from ml_ci.generate import files, header
from tests.conftest import ROOT
from tests.golden.variants import GOLDEN

PR = ".github/workflows/ml-pr.yml"
RELEASE = ".github/workflows/ml-release.yml"
# The actions the minimal variant's workflows use (no tuning, no deployment), vendored by default.
VENDORED = tuple(
    sorted(
        [
            *(
                f".github/actions/ml-ci/{name}/action.yml"
                for name in ("build", "data-check", "evaluate", "export", "report", "setup", "train")
            ),
            # The locks the setup action installs from, beside it: the profiles these workflows use (no cuda).
            *(f".github/actions/ml-ci/setup/locks/{p}.txt" for p in ("build", "cpu", "data", "deploy", "light")),
            ".github/actions/ml-ci/setup/uv.txt",  # the installer of the locks, pinned by hash
        ]
    )
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copy(GOLDEN / "minimal" / "ml.yaml", tmp_path / "ml.yaml")
    return tmp_path


def generate(repo: Path, *args: str) -> int:
    return main(["generate", "-c", str(repo / "ml.yaml"), *args])


def test_header_hash_detects_a_changed_body() -> None:
    text = header.with_header("name: x\n", source="ml.yaml", regenerate="ml-ci generate")
    assert header.parse(text) == header.Parsed(generated=True, intact=True)
    assert header.parse(text.replace("name: x", "name: y")) == header.Parsed(generated=True, intact=False)
    assert header.parse("name: x\n") == header.Parsed(generated=False, intact=False)


def test_classify() -> None:
    new = header.with_header("a: 1\n", source="ml.yaml", regenerate="r")
    older = header.with_header("a: 0\n", source="ml.yaml", regenerate="r")
    assert files.classify(new, None) == "create"
    assert files.classify(new, new) == "identical"
    assert files.classify(new, older) == "changed"
    assert files.classify(new, older.replace("a: 0", "a: 2")) == "hand-edited"
    assert files.classify(new, "on: push\n") == "foreign"
    # A generated file that is no longer rendered.
    assert files.classify(None, older) == "remove"
    assert files.classify(None, older.replace("a: 0", "a: 2")) == "hand-edited"


def test_dry_run_writes_nothing_and_lists_each_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate(repo, "--dry-run") == 0
    assert capsys.readouterr().out.splitlines() == [f"create      {rel}" for rel in (*VENDORED, PR, RELEASE)]
    assert not (repo / ".github").exists()


def test_write_then_check_then_identical(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate(repo) == 0
    first = {p: p.read_bytes() for p in (repo / ".github").rglob("*") if p.is_file()}
    assert generate(repo, "--check") == 0
    assert generate(repo) == 0
    assert {p: p.read_bytes() for p in (repo / ".github").rglob("*") if p.is_file()} == first, "same input, same bytes"
    capsys.readouterr()
    assert generate(repo, "--dry-run") == 0
    assert capsys.readouterr().out.splitlines() == [f"identical   {rel}" for rel in (*VENDORED, PR, RELEASE)]
    assert not list(repo.rglob("*.tmp")), "no temporary file left behind"


def test_check_shows_a_unified_diff_when_ml_yaml_changed(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate(repo) == 0
    config = repo / "ml.yaml"
    config.write_text(config.read_text() + "ci:\n  timeout_minutes: 90\n")
    capsys.readouterr()
    assert generate(repo, "--check") == 1
    out = capsys.readouterr().out
    assert f"--- a/{PR}" in out and f"+++ b/{PR}" in out
    assert "-    timeout-minutes: 60\n+    timeout-minutes: 90\n" in out
    assert generate(repo, "--dry-run") == 0
    assert f"changed     {PR}" in capsys.readouterr().out
    assert generate(repo) == 0, "a regenerated (not hand-edited) file is replaced"
    assert generate(repo, "--check") == 0


def test_a_hand_edit_is_never_overwritten_silently(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate(repo) == 0
    edited = (repo / PR).read_text().replace("timeout-minutes: 60", "timeout-minutes: 61")
    (repo / PR).write_text(edited)
    capsys.readouterr()
    assert generate(repo) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: refusing to overwrite:\n  {PR}: edited by hand since it was generated\n"
        "move your changes into ml.yaml (or the options of ml-ci generate), or rerun with --force to overwrite\n"
    )
    assert (repo / PR).read_text() == edited
    assert generate(repo, "--dry-run") == 0
    assert f"hand-edited {PR}" in capsys.readouterr().out
    assert generate(repo, "--force") == 0
    assert generate(repo, "--check") == 0


def test_a_foreign_file_is_kept(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / RELEASE).parent.mkdir(parents=True)
    (repo / RELEASE).write_text("on: push\n")
    assert generate(repo) == 1
    assert "not written by ml-ci generate" in capsys.readouterr().err
    assert (repo / RELEASE).read_text() == "on: push\n"
    assert not (repo / PR).exists(), "nothing is written when any file is refused"


def test_invalid_config_exits_2_without_traceback(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "ml.yaml").write_text("version: 1\nname: Bad_Name\n")
    assert generate(repo) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "name" in err


def test_bad_actions_ref_is_refused(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate(repo, "--actions-ref", "../elsewhere") == 1
    assert "--actions-ref '../elsewhere'" in capsys.readouterr().err


def test_options_are_kept_from_the_files_generated_before(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert generate(repo, "--actions-ref", sha) == 0
    assert f"ml-ci/ml-ci/actions/setup@{sha} # v" in (repo / PR).read_text()
    assert f"--actions-ref {sha}`" in (repo / PR).read_text()
    assert generate(repo, "--check") == 0, "the pre-commit hook runs a plain --check"
    assert generate(repo) == 0
    assert f"@{sha}" in (repo / RELEASE).read_text()
    assert generate(repo, "--actions-ref", "v9") == 0, "an explicit option wins"
    assert "ml-ci/ml-ci/actions/setup@v9\n" in (repo / PR).read_text()


# --- the vendored actions (.github/actions/ml-ci) -----------------------------------------------------

SHA = "0123456789abcdef0123456789abcdef01234567"
TRAIN = ".github/actions/ml-ci/train/action.yml"
TUNE = ".github/actions/ml-ci/tune/action.yml"


def test_the_default_vendors_the_actions_the_workflows_use(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate(repo) == 0
    assert "warning" not in capsys.readouterr().err
    text = (repo / PR).read_text() + (repo / RELEASE).read_text()
    used = set(re.findall(r"uses: \./\.github/actions/ml-ci/([\w-]+) # zizmor: ignore\[self-repository\]\n", text))
    assert {f".github/actions/ml-ci/{name}/action.yml" for name in used} == {v for v in VENDORED if v.endswith("action.yml")}
    assert "ml-ci/ml-ci/actions" not in text, "nothing is fetched from ml-ci's repository"
    for rel in VENDORED:
        vendored = (repo / rel).read_text()
        assert header.parse(vendored) == header.Parsed(generated=True, intact=True), rel
        assert header.regenerate_args(vendored) == header.regenerate_args((repo / PR).read_text()) == ["-c", "ml.yaml"]
        if rel.endswith(".txt"):  # a lock: the shipped file whole, below the header
            shipped = (ROOT / "actions" / rel.removeprefix(".github/actions/ml-ci/")).read_text()
            assert vendored.partition("\n\n")[2] == shipped, f"{rel}: not ml-ci's lock"
            continue
        shipped = (ROOT / "actions" / rel.split("/")[3] / "action.yml").read_text()
        assert vendored.partition("\n\n")[2] == shipped.partition("\n\n")[2], f"{rel}: not ml-ci's actions/"


def test_a_hand_edited_vendored_action_is_kept(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate(repo) == 0
    edited = (repo / TRAIN).read_text().replace("default: ml.yaml", "default: other.yaml")
    (repo / TRAIN).write_text(edited)
    capsys.readouterr()
    assert generate(repo, "--check") == 1
    assert f"--- a/{TRAIN}" in capsys.readouterr().out
    assert generate(repo) == 1
    assert f"  {TRAIN}: edited by hand since it was generated\n" in capsys.readouterr().err
    assert (repo / TRAIN).read_text() == edited
    assert generate(repo, "--force") == 0
    assert generate(repo, "--check") == 0


def test_actions_no_longer_used_are_removed(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = repo / "ml.yaml"
    plain = config.read_text()
    config.write_text(
        plain + "tune:\n  enabled: true\n  trials: 2\n  search_space:\n"
        "    learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3}\n"
    )
    assert generate(repo) == 0
    assert (repo / TUNE).is_file()
    config.write_text(plain)
    capsys.readouterr()
    assert generate(repo, "--check") == 1
    assert f"--- a/{TUNE}" in capsys.readouterr().out
    assert generate(repo, "--dry-run") == 0
    assert f"remove      {TUNE}" in capsys.readouterr().out.splitlines()
    assert generate(repo) == 0
    assert f"removed   {TUNE}" in capsys.readouterr().out.splitlines()
    assert not (repo / TUNE).parent.exists(), "the emptied folder goes too"
    assert generate(repo, "--check") == 0


def test_a_pinned_sha_references_ml_ci_and_removes_the_copies(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate(repo) == 0
    mine = repo / ".github/actions/ml-ci/mine/action.yml"  # the user's own file in that folder
    mine.parent.mkdir()
    mine.write_text("name: mine\n")
    edited = (repo / TRAIN).read_text() + "# a note\n"
    (repo / TRAIN).write_text(edited)
    capsys.readouterr()
    assert generate(repo, "--actions-ref", SHA) == 1
    assert f"  {TRAIN}: edited by hand since it was generated, and no longer generated\n" in capsys.readouterr().err
    assert (repo / TRAIN).read_text() == edited
    assert generate(repo, "--actions-ref", SHA, "--force") == 0
    assert not (repo / TRAIN).exists() and not any((repo / rel).exists() for rel in VENDORED)
    assert mine.read_text() == "name: mine\n", "a file ml-ci did not write is left alone"
    assert f"uses: ml-ci/ml-ci/actions/setup@{SHA} # v" in (repo / PR).read_text()
    assert generate(repo, "--check") == 0
    assert "warning" not in capsys.readouterr().err
    # Back to the default: the default is recorded as no option at all, and vendors again.
    assert generate(repo, "--actions-ref", "./.github/actions/ml-ci") == 0
    assert header.regenerate_args((repo / PR).read_text()) == ["-c", "ml.yaml"]
    assert all((repo / rel).is_file() for rel in VENDORED)


def test_a_tag_works_with_a_warning(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate(repo, "--actions-ref", "v0.1.0") == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: --actions-ref v0.1.0: a tag or branch can be moved to other code, and zizmor flags it")
    assert "give a commit SHA, or --actions-ref ./.github/actions/ml-ci (the default)" in err
    assert "uses: ml-ci/ml-ci/actions/setup@v0.1.0\n" in (repo / PR).read_text()
    assert not (repo / ".github/actions").exists()
    assert generate(repo, "--check") == 0, "the recorded tag is kept"
    assert "warning: --actions-ref v0.1.0" in capsys.readouterr().err, "and still warned about"


def test_a_local_folder_is_referenced_not_written(repo: Path) -> None:
    assert generate(repo, "--actions-ref", "./ci/ml-ci-actions") == 0
    assert "uses: ./ci/ml-ci-actions/setup # zizmor: ignore[self-repository]\n" in (repo / PR).read_text()
    assert not (repo / "ci").exists() and not (repo / ".github/actions").exists()
    assert header.regenerate_args((repo / PR).read_text()) == ["-c", "ml.yaml", "--actions-ref", "./ci/ml-ci-actions"]


def test_a_damaged_installation_is_an_operational_error(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ml_ci.generate import vendor

    damaged = tmp_path / "action.yml"
    damaged.write_text((ROOT / "actions/train/action.yml").read_text().replace("ml-ci train", "something else"))
    monkeypatch.setattr(vendor, "resource", lambda rel: damaged)
    assert generate(repo) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "actions/build/action.yml of ml-ci was changed after it was generated; reinstall ml-ci" in err
    assert not (repo / ".github").exists()


ACTIONLINT = ".github/actionlint.yaml"


def test_custom_runner_labels_are_declared_for_actionlint(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ml.yaml's custom runner labels go to .github/actionlint.yaml, a generated file like the others:
    written with a header, shown by --dry-run and --check, protected from hand edits, removed when
    ml.yaml names no custom label any more."""
    config = repo / "ml.yaml"
    plain = config.read_text()
    assert "ci:" not in plain
    config.write_text(plain + "ci:\n  runner: [self-hosted, linux, x64, cpu-big]\n  gpu_runner: [self-hosted, gpu, a100]\n")
    assert generate(repo, "--dry-run") == 0
    assert f"create      {ACTIONLINT}" in capsys.readouterr().out.splitlines()
    assert generate(repo) == 0
    text = (repo / ACTIONLINT).read_text()
    assert header.parse(text).intact
    assert yaml.safe_load(text) == {"self-hosted-runner": {"labels": ["a100", "cpu-big", "gpu"]}}
    assert generate(repo, "--check") == 0
    # A hand edit is kept and reported, like a workflow's.
    (repo / ACTIONLINT).write_text(text + "    - mine\n")
    capsys.readouterr()
    assert generate(repo) == 1
    assert f"  {ACTIONLINT}: edited by hand since it was generated\n" in capsys.readouterr().err
    (repo / ACTIONLINT).write_text(text)
    # Back on GitHub's runners: nothing to declare, and the file goes.
    config.write_text(plain)
    assert generate(repo, "--check") == 1
    assert generate(repo) == 0
    assert f"removed   {ACTIONLINT}" in capsys.readouterr().out.splitlines()
    assert not (repo / ACTIONLINT).exists()
    assert generate(repo, "--check") == 0


@pytest.mark.parametrize("name", ["actionlint.yaml", "actionlint.yml"])
def test_an_actionlint_configuration_of_the_repository_is_kept(repo: Path, name: str) -> None:
    """The repository's own configuration wins, with or without custom labels in ml.yaml: never
    overwritten, never shadowed by a second file, and generate is not blocked by it."""
    mine = "self-hosted-runner:\n  labels: [mine, gpu]\n"
    (repo / ".github").mkdir()
    (repo / ".github" / name).write_text(mine)
    assert generate(repo) == 0
    config = repo / "ml.yaml"
    config.write_text(config.read_text() + "ci:\n  gpu_runner: [self-hosted, gpu]\n")
    assert generate(repo) == 0
    assert generate(repo, "--check") == 0
    assert (repo / ".github" / name).read_text() == mine
    assert sorted(p.name for p in (repo / ".github").glob("actionlint.*")) == [name]
