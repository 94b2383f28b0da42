"""`ml-ci validate`: exit codes and the three output formats, through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ml_ci.cli.main import cli
from tests.conftest import ROOT

# A valid file that needs no data files (nine lines).
VALID = (ROOT / "tests" / "unit" / "config" / "cases" / "positive" / "minimal_hub.yaml").read_text(encoding="utf-8")
INVALID = VALID + "train:\n  learning_rate: -1\n  epochz: 2\n"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "good" / "ml.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "bad" / "ml.yaml").write_text(INVALID, encoding="utf-8")
    return {"good": tmp_path / "good" / "ml.yaml", "bad": tmp_path / "bad" / "ml.yaml"}


def test_valid_file_exits_0(files: dict[str, Path]) -> None:
    code, out, err = _run("validate", str(files["good"]))
    assert (code, out, err) == (0, f"{files['good']}: valid (demo, text-classification)\n", "")


def test_quiet_prints_nothing_for_a_valid_file(files: dict[str, Path]) -> None:
    assert _run("validate", "-q", str(files["good"])) == (0, "", "")


def test_invalid_file_exits_2_with_every_problem_on_stderr(files: dict[str, Path]) -> None:
    code, out, err = _run("validate", str(files["bad"]))
    bad = files["bad"]
    assert code == 2
    assert out == ""
    assert err == (
        f"{bad}:11:18: train.learning_rate: -1 is less than the minimum 0\n"
        f"{bad}:12:3: train.epochz: unknown key; did you mean 'epochs'?\n"
    )


def test_folder_means_its_ml_yaml(files: dict[str, Path]) -> None:
    code, out, _ = _run("validate", str(files["good"].parent))
    assert code == 0
    assert out == f"{files['good']}: valid (demo, text-classification)\n"


def test_several_files_report_together_and_exit_with_the_worst(files: dict[str, Path]) -> None:
    code, out, err = _run("validate", str(files["good"]), str(files["bad"]))
    assert code == 2
    assert out == f"{files['good']}: valid (demo, text-classification)\n"
    assert err.count(str(files["bad"])) == 2


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    code, _, err = _run("validate", str(tmp_path / "ml.yaml"))
    assert (code, err) == (2, f"{tmp_path / 'ml.yaml'}: no such file; create one with `ml-ci init`\n")


def test_unreadable_file_is_operational(tmp_path: Path) -> None:
    (tmp_path / "repo" / "ml.yaml").mkdir(parents=True)  # a folder where the file should be: reading it fails
    code, out, err = _run("validate", str(tmp_path / "repo"))
    assert (code, out) == (1, "")
    assert err == f"error: {tmp_path / 'repo' / 'ml.yaml'}: cannot read: Is a directory\n"


def test_format_json_is_one_document(files: dict[str, Path]) -> None:
    code, out, err = _run("validate", "--format", "json", str(files["good"]), str(files["bad"]))
    assert code == 2
    assert err == ""
    report = json.loads(out)
    assert report == {
        "valid": False,
        "problems": [
            {
                "file": str(files["bad"]),
                "line": 11,
                "column": 18,
                "path": "train.learning_rate",
                "message": "-1 is less than the minimum 0",
                "severity": "error",
            },
            {
                "file": str(files["bad"]),
                "line": 12,
                "column": 3,
                "path": "train.epochz",
                "message": "unknown key; did you mean 'epochs'?",
                "severity": "error",
            },
        ],
    }


def test_format_json_of_a_valid_file(files: dict[str, Path]) -> None:
    code, out, _ = _run("validate", "--format", "json", str(files["good"]))
    assert (code, json.loads(out)) == (0, {"valid": True, "problems": []})


def test_format_github_prints_annotations(files: dict[str, Path]) -> None:
    code, out, err = _run("validate", "--format", "github", str(files["bad"]))
    bad = str(files["bad"]).replace(":", "%3A").replace(",", "%2C")
    assert code == 2
    assert err == ""
    assert out == (
        f"::error file={bad},line=11,col=18,title=ml.yaml train.learning_rate::"
        "train.learning_rate: -1 is less than the minimum 0\n"
        f"::error file={bad},line=12,col=3,title=ml.yaml train.epochz::"
        "train.epochz: unknown key; did you mean 'epochs'?\n"
    )


def test_format_from_the_environment(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_CI_FORMAT", "json")
    code, out, _ = _run("validate", str(files["good"]))
    assert (code, json.loads(out)["valid"]) == (0, True)


def test_warnings_do_not_fail(tmp_path: Path) -> None:
    (tmp_path / "ml.yaml").write_text(
        VALID.replace("  hub: {id: stanfordnlp/sst2}\n", "  train: t.csv\n  validation: v.csv\n"), encoding="utf-8"
    )
    code, out, err = _run("validate", str(tmp_path / "ml.yaml"))
    assert code == 0
    assert err == (
        f"{tmp_path / 'ml.yaml'}:5:10: warning: data.train: 't.csv' does not exist (yet)\n"
        f"{tmp_path / 'ml.yaml'}:6:15: warning: data.validation: 'v.csv' does not exist (yet)\n"
    )
    assert out.endswith("valid (demo, text-classification)\n")


def test_broken_yaml_never_shows_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "ml.yaml").write_bytes(b"version: 1\nname: [unclosed\n")
    code, out, err = _run("validate", str(tmp_path / "ml.yaml"))
    assert code == 2
    assert "Traceback" not in out + err
    assert err.startswith(f"{tmp_path / 'ml.yaml'}:3:1: invalid YAML: ")


def test_validate_takes_c_like_every_command(files: dict[str, Path]) -> None:
    code, out, err = _run("validate", "-c", str(files["good"]))
    assert (code, out, err) == (0, f"{files['good']}: valid (demo, text-classification)\n", "")
    code, out, _ = _run("validate", "--config", str(files["good"].parent), "-c", str(files["bad"]))
    assert code == 2
    assert out == f"{files['good']}: valid (demo, text-classification)\n"


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    """Opening a named pipe for reading waits for a writer: validate must not hang on one."""
    import os
    import threading

    fifo = tmp_path / "ml.yaml"
    os.mkfifo(fifo)
    done: list[tuple[int, str, str]] = []
    worker = threading.Thread(target=lambda: done.append(_run("validate", str(fifo))), daemon=True)
    worker.start()
    worker.join(10)
    if not done:  # it is blocked in open(): a writer that closes at once lets it go, and the test fails
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(10)
    assert done, "validate blocked on a FIFO"
    assert done[0] == (2, "", f"{fifo}: is a named pipe (FIFO), not a file; ml.yaml must be a regular file\n")
