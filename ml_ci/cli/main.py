"""The `ml-ci` command group.

Each subcommand lives in its own module under ml_ci/cli and is imported only when called, so
that `ml-ci validate` (the pre-commit hook) never pays for torch or docker.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

import click

from ml_ci import __version__
from ml_ci.errors import EXIT_USAGE
from ml_ci.progress import quiet_unless_terminal

# name -> (module that defines `command`, one-line help). The one explicit list of commands.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("ml_ci.cli.validate", "Validate ml.yaml files."),
    "schema": ("ml_ci.cli.schema_cmd", "Print the JSON Schema of ml.yaml, or its reference."),
    "init": ("ml_ci.cli.init", "Write a commented starter ml.yaml."),
    "generate": ("ml_ci.cli.generate", "Write the GitHub Actions workflows from ml.yaml."),
    "data": ("ml_ci.cli.data", "Data stages: `ml-ci data check`."),
    "tune": ("ml_ci.cli.tune", "Search hyperparameters with Optuna."),
    "train": ("ml_ci.cli.train", "Fine-tune the model."),
    "evaluate": ("ml_ci.cli.evaluate", "Evaluate the model and check the quality gates."),
    "report": ("ml_ci.cli.report", "Write the PR report and post it as one sticky comment."),
    "export": ("ml_ci.cli.export", "Export the model to ONNX with a parity check."),
    "build": ("ml_ci.cli.build", "Build, verify and push the serving image."),
    "serve": ("ml_ci.cli.serve", "Run the inference server."),
    "deploy": ("ml_ci.cli.deploy", "Deploy the image to an environment."),
    "promote": ("ml_ci.cli.promote", "Promote the live digest from one environment to the next."),
    "keygen": ("ml_ci.cli.keygen", "Write a key pair that signs images' attestations (supply_chain)."),
    "verify": ("ml_ci.cli.verify", "Verify an image's signed provenance, SBOM and eval verdict."),
    "lock": ("ml_ci.cli.lock", "Write hash-pinned locks of the jobs' environments (or --check them)."),
    "run": ("ml_ci.cli.run", "Run the pipeline's stages in order on this machine."),
}


@contextlib.contextmanager
def _usage_exit_code() -> Iterator[None]:
    """click exits 2 on a usage error, the code of an invalid ml.yaml: give it its own."""
    try:
        yield
    except click.UsageError as e:
        e.exit_code = EXIT_USAGE  # type: ignore[misc]  # this error's code: click's handler reads e.exit_code
        raise


class LazyGroup(click.Group):
    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        with _usage_exit_code():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        # Every stage loads models or data that draw tqdm bars (export's and evaluate's `Loading weights`
        # too): one rule for all, decided before any of them runs.
        quiet_unless_terminal()
        # Covers the subcommand's own parsing and a usage error raised by its callback (click.BadParameter).
        with _usage_exit_code():
            return super().invoke(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        # Imported only when called: `ml-ci validate` never pays for torch. A module that fails to import
        # is a bug (or a missing extra) and shows as such.
        command: click.Command = importlib.import_module(COMMANDS[name][0]).command
        return command

    def format_commands(self, ctx: click.Context, formatter: Any) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ml-ci")
def cli() -> None:
    """ml-ci: CI/CD for machine-learning models, from one ml.yaml.

    Exit codes: 0 ok, 1 operational failure, 2 invalid config, 3 data check failed,
    4 quality gate failed, 5 deployment failed, 64 usage error (a command line not understood).
    ML_CI_DEBUG=1 shows tracebacks.
    """


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="ml-ci", standalone_mode=True)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0
