"""The command group: --version, help, and commands whose stage is not built yet."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ml_ci import __version__
from ml_ci.cli import main


def test_version() -> None:
    result = CliRunner().invoke(main.cli, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"ml-ci, version {__version__}\n")


def test_help_lists_every_registered_command() -> None:
    result = CliRunner().invoke(main.cli, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == sorted(main.COMMANDS)


def test_a_command_whose_module_is_missing_exits_1_saying_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(main.COMMANDS, "frobnicate", ("ml_ci.cli.frobnicate_not_built", "Frobnicate the model."))
    result = CliRunner().invoke(main.cli, ["frobnicate", "--some-flag", "x"])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "error: `ml-ci frobnicate` is not built in ml-ci yet; it is part of the roadmap.\n"


def test_main_returns_the_exit_code(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(main.COMMANDS, "frobnicate", ("ml_ci.cli.frobnicate_not_built", "Frobnicate the model."))
    assert main.main(["frobnicate"]) == 1
    assert main.main(["--version"]) == 0
    assert main.main(["no-such-command"]) == 2  # click's usage error
    assert "No such command 'no-such-command'" in capsys.readouterr().err


def test_an_import_error_inside_a_built_command_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    # A built command whose own import fails is a bug to show, not "not built".
    monkeypatch.setitem(main.COMMANDS, "broken", ("ml_ci.cli.validate", "x"))
    monkeypatch.setattr(main.importlib, "import_module", _raise_missing_dependency)
    with pytest.raises(ModuleNotFoundError, match="torch_not_installed"):
        CliRunner().invoke(main.cli, ["broken"], catch_exceptions=False)


def _raise_missing_dependency(name: str) -> None:
    raise ModuleNotFoundError("No module named 'torch_not_installed'", name="torch_not_installed")
