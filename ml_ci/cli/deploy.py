"""`ml-ci deploy --env NAME [--image REF@sha256:...]`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

from ml_ci.cli.app import FORMAT_OPTION, config_option, run_guarded

if TYPE_CHECKING:
    from ml_ci.deploy.inputs import Result


def report(result: Result) -> int:
    from ml_ci.github import actions_io

    click.echo(result.message)
    if result.commit:
        click.echo(f"commit {result.commit}")
    actions_io.set_output("digest", result.release.digest)
    actions_io.set_output("image", result.release.image)
    # false when the digest already ran there (no commit, no apply): later steps can tell a no-op apart.
    actions_io.set_output("changed", "true" if result.changed else "false")
    r = result.release
    actions_io.add_summary(
        f"### ml-ci deploy: {r.environment}\n\n| image | smoke test | status |\n| --- | --- | --- |\n"
        f"| `{r.image}` | {r.smoke} | {r.status} |\n\n{result.message}"
    )
    return 0


def deploy(config_path: Path, env_name: str, image: Optional[str]) -> int:
    from ml_ci.config import load_config
    from ml_ci.deploy.deployer import Deployer
    from ml_ci.deploy.environments import environment
    from ml_ci.deploy.inputs import build_inputs

    config = load_config(config_path).config
    environment(config, env_name)  # an unknown environment fails before anything is read
    return report(Deployer(config, os.environ, log=click.echo).deploy(env_name, build_inputs(config, image)))


@click.command("deploy")
@config_option
@click.option(
    "--env", "env_name", required=True, envvar="ML_CI_ENV", help="Environment from deploy.environments. Env: ML_CI_ENV."
)
@click.option(
    "--image", default=None, metavar="REF@sha256:...", help="Image by digest (default: .ml-ci/artifacts/build/image.json)."
)
@FORMAT_OPTION
def command(config_path: Path, env_name: str, image: Optional[str], fmt: str) -> None:
    """Deploy the image to an environment: a GitOps commit, a server-side apply, or a local container.

    The digest must exist in its registry; the smoke test runs after the deploy, and a failure is
    rolled back (apply), reverted (gitops) or never replaces the old container (local). Exit 5 on failure.
    """
    raise SystemExit(run_guarded(lambda: deploy(config_path, env_name, image), fmt=fmt))
