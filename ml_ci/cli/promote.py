"""`ml-ci promote --from A --to B`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ml_ci.cli.app import FORMAT_OPTION, config_option, run_guarded


def promote(config_path: Path, source: str, target: str) -> int:
    from ml_ci.cli.deploy import report
    from ml_ci.config import load_config
    from ml_ci.deploy.deployer import Deployer

    config = load_config(config_path).config
    return report(Deployer(config, os.environ, log=click.echo).promote(source, target))


@click.command("promote")
@config_option
@click.option("--from", "source", required=True, help="Environment whose live digest is promoted.")
@click.option("--to", "target", required=True, help="Environment that receives it.")
@FORMAT_OPTION
def command(config_path: Path, source: str, target: str, fmt: str) -> None:
    """Promote exactly the digest and evaluation record live in one environment to the next, with no rebuild.

    Refused (exit 5, reason named) when the source is unhealthy, its smoke test did not pass or its
    gates failed. Records a GitHub Deployment when GITHUB_TOKEN and GITHUB_REPOSITORY are set.
    """
    raise SystemExit(run_guarded(lambda: promote(config_path, source, target), fmt=fmt))
