"""Hand edits are noticed, drift is shown as a diff, nothing is written half-way."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ml_ci.cli.main import main
from ml_ci.generate import files, header
from tests.golden.variants import GOLDEN

PR = ".github/workflows/ml-pr.yml"
RELEASE = ".github/workflows/ml-release.yml"


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


def test_dry_run_writes_nothing_and_lists_each_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate(repo, "--dry-run") == 0
    assert capsys.readouterr().out.splitlines() == [f"create      {PR}", f"create      {RELEASE}"]
    assert not (repo / ".github").exists()


def test_write_then_check_then_identical(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate(repo) == 0
    first = (repo / PR).read_bytes()
    assert generate(repo, "--check") == 0
    assert generate(repo) == 0
    assert (repo / PR).read_bytes() == first, "same input, same bytes"
    capsys.readouterr()
    assert generate(repo, "--dry-run") == 0
    assert capsys.readouterr().out.splitlines() == [f"identical   {PR}", f"identical   {RELEASE}"]
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
    assert err == (f"error: refusing to overwrite:\n  {PR}: edited by hand since it was generated\n"
                   "move your changes into ml.yaml (or the options of ml-ci generate), or rerun with --force to overwrite\n")
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


def test_write_atomic_leaves_the_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "w.yml"
    target.write_text("old\n")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        files.write_atomic(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["w.yml"]


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
