from __future__ import annotations

from click.testing import CliRunner

from ml_ci.cli.main import cli
from tests.unit.tune.conftest import MakeConfig


def test_tune_with_tuning_disabled_exits_2(make_config: MakeConfig) -> None:
    config = make_config(enabled=False)
    result = CliRunner().invoke(cli, ["tune", "-c", str(config.path)])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"{config.path}: tune.enabled: tuning is disabled in ml.yaml: set tune.enabled: true "
        "and a tune.search_space to run `ml-ci tune`"
    )


def test_help_names_the_storage_and_the_exit_codes() -> None:
    result = CliRunner().invoke(cli, ["tune", "--help"])
    assert result.exit_code == 0
    words = " ".join(result.output.split())  # click wraps the help
    for text in ("--trials", "--workers", "--timeout-minutes", "tune.storage_env", "Exit 2 when tuning is disabled"):
        assert text in words
    assert "--no-report" not in result.output  # internal to local workers
