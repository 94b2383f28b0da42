"""`ml-ci verify IMAGE`: the checks deploy and promote make of an image's supply chain, on their own."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

from ml_ci.cli.app import FORMAT_OPTION, config_option, run_guarded

if TYPE_CHECKING:
    from ml_ci.supply.attest import Findings


def show(found: Findings) -> None:
    """What was found, passed or not: a reviewer reads what the image claims even when it is refused."""
    click.echo(f"image: {found.image}")
    if found.sbom_sha256 is not None:
        count = "unknown number of" if found.sbom_components is None else str(found.sbom_components)
        click.echo(f"SBOM: {found.sbom_sha256} ({count} components)")
    if found.builder is not None:
        click.echo(
            f"provenance: commit {found.commit or 'none'}, ml.yaml {found.config_sha256 or 'not named'}, "
            f"eval verdict {found.verdict or 'none'}, built by {found.builder}"
        )
    if found.keyid is not None:
        click.echo(f"signature: key {found.keyid}")


def verify(config_path: Path, image: str, commit: Optional[str]) -> int:
    from ml_ci.config import load_config
    from ml_ci.errors import ConfigError, Problem
    from ml_ci.supply import attest

    config = load_config(config_path).config
    if config.supply_chain is None:
        raise ConfigError(
            [
                Problem(
                    str(config.path),
                    0,
                    0,
                    "supply_chain",
                    "ml-ci verify checks signatures with supply_chain.public_key: add `supply_chain: {public_key: <file>}`",
                )
            ]
        )
    found = attest.verify_for(config, image, os.environ, commit=commit)
    show(found)
    if not found.ok:
        raise found.refusal()
    click.echo("verified: signature, subject digest, SBOM digest, " + ("commit, " if commit else "") + "eval verdict")
    return 0


@click.command("verify")
@config_option
@click.argument("image", metavar="IMAGE")
@click.option(
    "--commit",
    default=None,
    metavar="SHA",
    help="The commit the provenance must name (full 40-character sha); default: any commit.",
)
@FORMAT_OPTION
def command(config_path: Path, image: str, commit: Optional[str], fmt: str) -> None:
    """Verify IMAGE (REGISTRY/REPO:TAG, resolved to the digest it names now, or REGISTRY/REPO@sha256:...):
    its provenance is signed by supply_chain.public_key, names the image's digest, the SBOM attached to it
    and an evaluation whose verdict is pass (and --commit, when given). Prints what it found.

    Exit 0 when every check passes, 5 with each failure named, 1 when the registry cannot be reached.
    """
    raise SystemExit(run_guarded(lambda: verify(config_path, image, commit), fmt=fmt))
