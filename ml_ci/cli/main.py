"""The `ml-ci` command group. Each subcommand lives in its own module."""

from __future__ import annotations

import click

from ml_ci import __version__
from ml_ci.cli import init, run, schema_cmd, validate
from ml_ci.cli.app import not_built

_NOT_BUILT = {
    "generate": "Write the GitHub Actions workflows from ml.yaml.",
    "train": "Fine-tune the model.",
    "tune": "Search hyperparameters with Optuna.",
    "evaluate": "Evaluate the model and check the quality gates.",
    "export": "Export the model to ONNX with a parity check.",
    "build": "Build, verify and push the serving image.",
    "deploy": "Deploy the image to an environment.",
    "promote": "Promote the live digest from one environment to the next.",
    "serve": "Run the inference server.",
}


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ml-ci")
def cli() -> None:
    """ml-ci: CI/CD for machine-learning models, from one ml.yaml.

    Exit codes: 0 ok, 1 operational failure, 2 invalid config, 3 data check failed,
    4 quality gate failed, 5 deployment failed.
    """


for module in (validate, schema_cmd, init, run):
    cli.add_command(module.command)


@cli.group("data")
def data() -> None:
    """Data stages."""


def _register_not_built(group: click.Group, name: str, help_: str, full: str) -> None:
    group.add_command(click.command(name, help=f"{help_} (not built yet: exits 1)", context_settings={"ignore_unknown_options": True})(
        click.argument("args", nargs=-1, type=click.UNPROCESSED)(not_built(full))))


_register_not_built(data, "check", "Run the data checks that ml.yaml names.", "data check")
for _name, _help in _NOT_BUILT.items():
    _register_not_built(cli, _name, _help, _name)


def main() -> int:
    try:
        cli.main(prog_name="ml-ci", standalone_mode=True)
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    return 0
