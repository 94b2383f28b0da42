"""`ml-ci build`: the serving image, verified before it is pushed."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ml_ci.cache import NO_CACHE_ENV
from ml_ci.cli.app import config_option, run_guarded
from ml_ci.config import load_config


def build(config_path: Path, push: bool, tags: tuple[str, ...], no_cache: bool = False) -> int:
    from ml_ci.build.stage import run_build
    from ml_ci.github import actions_io

    config = load_config(config_path).config
    result = run_build(config, push=push, extra_tags=tags, log=click.echo, no_cache=no_cache)
    record = result.record
    size = f"{record.size / 1e6:.0f} MB" if record.size else "unknown size"
    click.echo(f"image: {record.reference} ({size})")
    actions_io.set_output("image", record.reference, os.environ)
    actions_io.set_output("digest", record.digest or "", os.environ)
    actions_io.add_summary(
        f"### ml-ci build\n\n- image: `{record.reference}` ({size})\n- tags: "
        + ", ".join(f"`{t}`" for t in record.tags)
        + f"\n- verified: ready in {record.verification['ready_seconds']} s, "
        f"{record.verification['golden_examples']} golden examples",
        os.environ,
    )
    return 0


@click.command("build")
@config_option
@click.option(
    "--push/--no-push",
    default=True,
    show_default=True,
    help="Push to image.registry/image.repository after verification (--no-push: build and verify only).",
)
@click.option("--tag", "tags", multiple=True, help="An extra tag (repeatable), besides the git sha and a semver git tag.")
@click.option(
    "--no-cache",
    is_flag=True,
    envvar=NO_CACHE_ENV,
    help=f"Build every layer again, without the Docker engine's layer cache; the image digest is the same "
    f"either way. Env: {NO_CACHE_ENV}=1.",
)
def command(config_path: Path, push: bool, tags: tuple[str, ...], no_cache: bool) -> None:
    """Build the serving image from .ml-ci/artifacts/export, start it, check that it answers the golden
    examples as exported (and as evaluated), then push it and record its digest in
    .ml-ci/artifacts/build/image.json. Nothing is pushed when the check fails (exit 1).
    Registry credentials come from the variables named by image.registry_username_env /
    registry_password_env, else from the docker config.

    The build is reproducible: the same export, ml-ci, base image and commit give the same image
    digest (times come from SOURCE_DATE_EPOCH, else the commit's time; see docs/architecture.md).
    """
    raise SystemExit(run_guarded(lambda: build(config_path, push, tags, no_cache)))
