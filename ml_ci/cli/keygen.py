"""`ml-ci keygen`: the key pair that signs an image's attestations (supply_chain), and what to do with each half."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ml_ci.cli.app import run_guarded
from ml_ci.errors import OperationalError

DEFAULT_PUBLIC = Path("keys/ml-ci-signing.pub")
KINDS = ("ed25519", "ecdsa-p256")  # ml_ci.supply.dsse.KINDS; not imported, so that `ml-ci --help` stays light


def git_work_tree(path: Path) -> Optional[Path]:
    """The git work tree that holds path (a `.git` folder or file in it or above it), or None."""
    for folder in path.resolve().parents:
        if (folder / ".git").exists():
            return folder
    return None


def keygen(private: Path, public: Path, kind: str) -> int:
    from ml_ci.supply import dsse

    if private.resolve() == public.resolve():
        raise click.BadParameter("the private and the public key need two different files", param_hint="--private/--public")
    if kind not in dsse.KINDS:  # click's Choice already refuses it; this keeps the two lists from drifting apart
        raise click.BadParameter(f"{kind!r} is not one of {', '.join(dsse.KINDS)}", param_hint="--kind")
    # Refused before any folder is made, as write_keypair refuses before it writes.
    for path in (private, public):
        if path.exists():
            raise OperationalError(f"{path} already exists; ml-ci never overwrites a key (remove it or choose another path)")
    try:
        private.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        public.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OperationalError(
            f"{e.filename or private.parent}: cannot make the folder for the key ({e.strerror or e})"
        ) from None
    pair = dsse.write_keypair(private, public, kind)  # narrowed to dsse.KeyKind by the check above
    click.echo(f"wrote the {kind} private key to {private} (mode 0600) and its public key to {public}")
    click.echo(f"key id: {pair.keyid}")
    repo = git_work_tree(private)
    if repo is not None:
        # A signing key in git signs for anyone who can read the repository: say so while it is still untracked.
        click.echo(
            f"warning: {private} is inside the git repository {repo}: move it out, or keep it out of git (.gitignore)",
            err=True,
        )
    click.echo("next:")
    click.echo(
        f"  1. store the content of {private} as the repository secret named by supply_chain.signing_key_env "
        f"(default {dsse.KEY_ENV}), e.g. `gh secret set {dsse.KEY_ENV} < {private}`; then keep it offline or delete it"
    )
    click.echo(f"  2. commit {public}, and name it in ml.yaml:")
    click.echo(f"       supply_chain:\n         public_key: {public.as_posix()}")
    click.echo("     (its path is relative to the folder of ml.yaml; deploy and promote verify images with it)")
    return 0


@click.command("keygen")
@click.option(
    "--private",
    "private",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the private key (PEM, mode 0600): best outside the repository, e.g. ~/.ml-ci/signing.pem.",
)
@click.option(
    "--public",
    "public",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_PUBLIC,
    show_default=True,
    help="Where to write the public key (PEM): a file in the repository, which supply_chain.public_key names.",
)
@click.option("--kind", type=click.Choice(KINDS), default=KINDS[0], show_default=True, help="The key's algorithm.")
def command(private: Path, public: Path, kind: str) -> None:
    """Write a new key pair for signing images' attestations (supply_chain in ml.yaml) and say what to do with it.

    Never overwrites a key: a file already at either path is an error (exit 1), and nothing is written.
    """
    raise SystemExit(run_guarded(lambda: keygen(private, public, kind)))
