from __future__ import annotations

from pathlib import Path

import click

from ml_ci.cli.app import run_guarded
from ml_ci.config import load_config
from ml_ci.pipeline.plan import plan


def run(path: Path, dry_run: bool) -> int:
    config = load_config(path).config
    stages = plan(config)
    click.echo(f"{config.path}: valid; pipeline of {config.name}:")
    for i, stage in enumerate(stages, 1):
        needs = f" (after {', '.join(stage.needs)})" if stage.needs else ""
        click.echo(f"  {i:2}. {stage.name:<20} ml-ci {' '.join(stage.command):<40} {stage.description}{needs}")
    if dry_run:
        return 0
    pending = [s.name for s in stages if s.name != "validate"]
    click.echo(f"validate: ok. Not built in this release yet, so not run: {', '.join(pending)}")
    return 0


@click.command("run")
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option("--dry-run", is_flag=True, help="Print the plan of stages and stop.")
def command(path: Path, dry_run: bool) -> None:
    """Run the pipeline's stages in order on this machine, as CI runs them (PATH: repository or ml.yaml)."""
    raise SystemExit(run_guarded(lambda: run(path, dry_run)))
