"""`ml-ci run` reads ml.yaml as every command does (-c/--config, or PATH as before), and --dry-run only plans."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ml_ci.cli.main import cli
from ml_ci.errors import EXIT_USAGE
from tests.modelrepo import make_model_repo


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_run_takes_c_and_path_alike(tmp_path: Path) -> None:
    repo = make_model_repo(tmp_path)
    by_c = _run("run", "-c", str(repo), "--dry-run")
    by_long = _run("run", "--config", str(repo), "--dry-run")
    by_path = _run("run", str(repo), "--dry-run")
    assert by_c[0] == 0
    assert "pipeline of tiny-sentiment:" in by_c[1]
    assert by_c == by_long == by_path


def test_run_refuses_both_path_and_c_as_a_usage_error(tmp_path: Path) -> None:
    repo = make_model_repo(tmp_path)
    code, out, err = _run("run", str(repo), "-c", str(repo), "--dry-run")
    assert (code, out) == (EXIT_USAGE, "")
    assert "give the ml.yaml once: PATH" in err


def test_a_mistyped_stage_gets_a_suggestion(tmp_path: Path) -> None:
    repo = make_model_repo(tmp_path)
    code, _, err = _run("run", "-c", str(repo), "--from", "evalute", "--dry-run")
    assert code == EXIT_USAGE
    assert "Invalid value for --from: no stage 'evalute' in this pipeline; stages: " in err
    assert err.rstrip().endswith("did you mean 'evaluate'?")
    code, _, err = _run("run", "-c", str(repo), "--only", "zzz", "--dry-run")
    assert code == EXIT_USAGE
    assert "did you mean" not in err
