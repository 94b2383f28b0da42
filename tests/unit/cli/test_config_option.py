"""Every command that reads ml.yaml takes -c/--config, named alike (issue 22, item 8)."""

from __future__ import annotations

import click

from ml_ci.cli.main import COMMANDS, cli

# Commands that read no ml.yaml, and why.
READS_NO_ML_YAML = {
    "schema": "prints the schema itself",
    "init": "writes a new ml.yaml into DIRECTORY",
    "keygen": "writes a key pair to the paths given; ml.yaml names its public half afterwards",
}


def _leaves(command: click.Command, path: str) -> list[tuple[str, click.Command]]:
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        return [leaf for name in command.list_commands(ctx) for leaf in _leaves(command.get_command(ctx, name), f"{path} {name}")]  # type: ignore[arg-type]
    return [(path, command)]


def test_every_command_that_reads_ml_yaml_takes_c_and_config() -> None:
    ctx = click.Context(cli)
    missing = []
    checked = 0
    for name in sorted(set(COMMANDS) - set(READS_NO_ML_YAML)):
        command = cli.get_command(ctx, name)
        assert command is not None, name
        for path, leaf in _leaves(command, name):
            checked += 1
            options = [p for p in leaf.params if isinstance(p, click.Option) and "--config" in p.opts]
            if not options or "-c" not in options[0].opts:
                missing.append(path)
    assert missing == []
    assert checked >= len(COMMANDS) - len(READS_NO_ML_YAML)


def test_the_exempt_commands_exist() -> None:
    assert set(READS_NO_ML_YAML) <= set(COMMANDS)
