"""`ml-ci init` writes a starter ml.yaml that validates, and never overwrites one silently."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ml_ci import tasks
from ml_ci.cli.init import init
from ml_ci.cli.main import cli
from ml_ci.config import load_config
from ml_ci.errors import EXIT_USAGE
from tests.unit.config.fake_task import FAKE_METRICS, register_fake_task


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_init_writes_a_file_that_validates(tmp_path: Path) -> None:
    repo = tmp_path / "Sentiment_Model"
    code, out, err = _run("init", str(repo), "--owner", "acme")
    target = repo / "ml.yaml"
    assert (code, err) == (0, "")
    assert out == (
        f"wrote {target}; edit the data paths and labels, then run `ml-ci validate {target}`\n"
        f"added .ml-ci/ to {repo / '.gitignore'}: artifacts, caches and local state stay out of git\n"
    )
    loaded = load_config(target)
    assert loaded.config.name == "sentiment-model"  # the folder's name, made a DNS-1123 label
    assert loaded.config.image.repository == "acme/sentiment-model"
    # Only warnings: the data files named in the template do not exist yet.
    splits = ("train", "validation", "test")
    assert [p.message for p in loaded.warnings] == [f"'data/{s}.csv' does not exist (yet)" for s in splits]
    assert sorted(p.name for p in repo.iterdir()) == [".gitignore", "ml.yaml"]  # no temporary file left behind
    code, _, _ = _run("validate", "-q", str(target))
    assert code == 0


def test_init_takes_a_name(tmp_path: Path) -> None:
    assert _run("init", str(tmp_path), "--name", "reviews")[0] == 0
    assert load_config(tmp_path).config.name == "reviews"


def test_init_refuses_a_name_that_is_not_a_label(tmp_path: Path) -> None:
    code, out, err = _run("init", str(tmp_path), "--name", "Reviews!")
    assert (code, out) == (EXIT_USAGE, "")  # a bad option, not an invalid ml.yaml
    assert err.endswith("Error: Invalid value for --name: 'Reviews!' must be a DNS-1123 label (lowercase letters, digits, '-')\n")
    assert not (tmp_path / "ml.yaml").exists()


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    (tmp_path / "ml.yaml").write_text("# mine\n", encoding="utf-8")
    code, out, err = _run("init", str(tmp_path))
    assert (code, out) == (1, "")
    assert err == f"error: {tmp_path / 'ml.yaml'} already exists; pass --force to overwrite it\n"
    assert (tmp_path / "ml.yaml").read_text(encoding="utf-8") == "# mine\n"


def test_init_overwrites_with_force(tmp_path: Path) -> None:
    (tmp_path / "ml.yaml").write_text("# mine\n", encoding="utf-8")
    assert _run("init", str(tmp_path), "--force", "--name", "demo")[0] == 0
    assert load_config(tmp_path).config.name == "demo"


def test_init_adds_the_state_folder_to_gitignore_once_and_keeps_the_rest(tmp_path: Path) -> None:
    """getting-started asks for .ml-ci/ in .gitignore: init adds it, idempotently, after what is there."""
    (tmp_path / ".gitignore").write_text("__pycache__/\n*.log", encoding="utf-8")  # no final newline
    assert _run("init", str(tmp_path))[0] == 0
    added = "# ml-ci: artifacts, caches and local state\n.ml-ci/\n"
    assert (tmp_path / ".gitignore").read_text(encoding="utf-8") == "__pycache__/\n*.log\n" + added
    code, out, _ = _run("init", str(tmp_path), "--force")
    assert code == 0
    assert "added .ml-ci/" not in out
    assert (tmp_path / ".gitignore").read_text(encoding="utf-8") == "__pycache__/\n*.log\n" + added


def test_init_leaves_a_gitignore_that_already_ignores_the_state_folder(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("/.ml-ci\n", encoding="utf-8")
    code, out, _ = _run("init", str(tmp_path))
    assert code == 0
    assert "added .ml-ci/" not in out
    assert (tmp_path / ".gitignore").read_text(encoding="utf-8") == "/.ml-ci\n"


def test_init_writes_the_tasks_own_data_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The task gives its starter keys and what to edit; the rest of the template is the same for every task."""
    classifier = tmp_path / "classifier"
    assert init(classifier, "demo", "acme", False) == 0
    register_fake_task(monkeypatch)
    assert init(tmp_path / "fake", "demo", "acme", False, task="fake-task") == 0
    assert capsys.readouterr().out.splitlines()[2] == (
        f"wrote {tmp_path / 'fake' / 'ml.yaml'}; edit the data paths and the question column, "
        f"then run `ml-ci validate {tmp_path / 'fake' / 'ml.yaml'}`"
    )
    written = (classifier / "ml.yaml").read_text(encoding="utf-8")
    assert "task: text-classification\n" in written
    assert (
        "  test: data/test.csv\n  text_column: text\n  label_column: label\n  labels: [negative, positive]\n  checks:\n"
        in written
    )
    fake = (tmp_path / "fake" / "ml.yaml").read_text(encoding="utf-8")
    assert fake == written.replace("task: text-classification", "task: fake-task").replace(
        "  text_column: text\n  label_column: label\n  labels: [negative, positive]\n", "  question_column: question\n"
    ).replace("metric: accuracy,", f"metric: {FAKE_METRICS[0]},")


@pytest.mark.parametrize("task", tasks.names())
def test_init_for_every_task_validates(tmp_path: Path, task: str) -> None:
    """Each task's starter is valid as written: its data keys, and gates on one of its own metrics."""
    repo = tmp_path / "model"
    code, _, err = _run("init", str(repo), "--task", task)
    assert (code, err) == (0, "")
    loaded = load_config(repo / "ml.yaml")
    assert loaded.config.task == task
    assert all(p.message.endswith("does not exist (yet)") for p in loaded.warnings)
    assert {g.metric for g in loaded.config.evaluate.gates} == {tasks.get(task).config().TUNE_METRICS[0]}
