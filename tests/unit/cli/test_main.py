"""The command group: --version, help, exit codes, lazily imported commands."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ml_ci import __version__, errors
from ml_ci.cli import main
from ml_ci.cli.app import run_guarded
from ml_ci.errors import EXIT_USAGE
from tests.modelrepo import make_model_repo


def test_version() -> None:
    result = CliRunner().invoke(main.cli, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"ml-ci, version {__version__}\n")


def test_help_lists_every_registered_command() -> None:
    result = CliRunner().invoke(main.cli, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == sorted(main.COMMANDS)


def test_every_registered_command_has_its_module() -> None:
    """No "not built yet" stand-in any more: each name in COMMANDS is a module that defines `command`
    (read, not imported, so that this test does not pay for torch)."""
    for name, (module, _) in main.COMMANDS.items():
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None, name
        assert re.search(r"^def command\(", Path(spec.origin).read_text(encoding="utf-8"), re.MULTILINE), name


def test_a_registered_command_whose_module_is_missing_is_a_bug_shown_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    """It used to become a "not built yet" command that exited 1; now the import error is not hidden."""
    monkeypatch.setitem(main.COMMANDS, "frobnicate", ("ml_ci.cli.frobnicate_not_there", "Frobnicate the model."))
    with pytest.raises(ModuleNotFoundError, match="frobnicate_not_there"):
        CliRunner().invoke(main.cli, ["frobnicate", "--some-flag", "x"], catch_exceptions=False)


def test_main_returns_the_exit_code(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    @click.command("frobnicate")
    def exits_1() -> None:
        raise SystemExit(1)

    monkeypatch.setattr(main.LazyGroup, "get_command", lambda self, ctx, name: exits_1 if name == "frobnicate" else None)
    assert main.main(["frobnicate"]) == 1
    assert main.main(["--version"]) == 0
    assert main.main(["no-such-command"]) == EXIT_USAGE  # not 2, which is an invalid ml.yaml
    assert "No such command 'no-such-command'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["no-such-command"],
        ["validate", "--no-such-option"],
        ["generate", "--format", "xml"],  # a bad choice
        ["train", "-c"],  # an option without its value
        ["run", "--only"],
        ["data"],  # a group without its subcommand
        ["data", "chek"],
    ],
)
def test_usage_errors_have_their_own_exit_code(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A script can tell a mistyped command line (64, sysexits' EX_USAGE) from an invalid ml.yaml (2)."""
    assert EXIT_USAGE == 64
    assert main.main(argv) == EXIT_USAGE
    assert "Error: " in capsys.readouterr().err or argv == ["data"]  # help, for a group without its subcommand


def test_a_usage_error_found_by_a_command_itself_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_model_repo(tmp_path)
    assert main.main(["run", "-c", str(repo), "--dry-run", "--only", "exprot"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Error: Invalid value for --only: no stage 'exprot' in this pipeline; stages: validate, data-check, " in err
    assert err.rstrip().endswith("; did you mean 'export'?")


def test_the_exit_codes_are_documented_alike(repo_root: Path) -> None:
    """README's table, the CLI's help and ml_ci/errors.py name the same codes."""
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Exit codes") :]
    table = table[: table.index("\n## ", 3)]
    rows = {int(line.split("|")[1]) for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()}
    assert rows == {0, 1, 2, 3, 4, 5, EXIT_USAGE}
    assert f"{EXIT_USAGE} usage error" in (main.cli.help or "")
    assert f"{EXIT_USAGE} usage error" in (errors.__doc__ or "")


def test_an_import_error_inside_a_built_command_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    # A command whose own import fails (a missing extra, say) is a bug to show, never swallowed.
    monkeypatch.setitem(main.COMMANDS, "broken", ("ml_ci.cli.validate", "x"))
    monkeypatch.setattr(importlib, "import_module", _raise_missing_dependency)
    with pytest.raises(ModuleNotFoundError, match="torch_not_installed"):
        CliRunner().invoke(main.cli, ["broken"], catch_exceptions=False)


def _raise_missing_dependency(name: str) -> None:
    raise ModuleNotFoundError("No module named 'torch_not_installed'", name="torch_not_installed")


@pytest.mark.parametrize("command", ["export", "evaluate", "schema"])
def test_every_command_silences_progress_bars_before_it_runs_unless_on_a_terminal(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """export's and evaluate's `Loading weights` bars reached CI logs: only train and tune decided. The
    group decides for every command, before the command's own code (here a stand-in that records it)."""
    from ml_ci.progress import QUIET_ENV

    for name in QUIET_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CI", "true")
    seen: dict[str, str | None] = {}

    @click.command(command)
    def stand_in() -> None:
        seen.update({name: importlib.import_module("os").environ.get(name) for name in QUIET_ENV})

    monkeypatch.setattr(main.LazyGroup, "get_command", lambda self, ctx, name: stand_in)
    assert main.main([command]) == 0
    assert seen == dict.fromkeys(QUIET_ENV, "1")


def test_an_error_annotation_escapes_its_message_as_the_actions_toolkit_does(capsys: pytest.CaptureFixture[str]) -> None:
    """run_guarded's ::error used its own escaping, which left a carriage return raw (it ends the command)."""

    def fails() -> int:
        raise errors.OperationalError("50% done\r\nthen: broke")

    assert run_guarded(fails, fmt="github") == 1
    assert capsys.readouterr().out == "::error title=ml-ci::50%25 done%0D%0Athen: broke\n"
