"""`ml-ci keygen`: writes a key pair that ml-ci signs and verifies with, the private key 0600, never over an existing
file (exit 1, nothing written), and says what to do with each half."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ml_ci.cli.main import cli
from ml_ci.supply import dsse


def keygen(cwd: Path, *args: str) -> Result:
    here = os.getcwd()
    os.chdir(cwd)  # --public's default is relative to where the command runs
    try:
        return CliRunner().invoke(cli, ["keygen", *args])
    finally:
        os.chdir(here)


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p256"])
def test_it_writes_a_pair_that_signs_and_verifies(tmp_path: Path, kind: str) -> None:
    repo, secrets = tmp_path / "repo", tmp_path / "secrets"
    repo.mkdir()
    result = keygen(repo, "--private", str(secrets / "signing.pem"), "--kind", kind)
    assert result.exit_code == 0, result.output
    private, public = secrets / "signing.pem", repo / "keys" / "ml-ci-signing.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in private.read_bytes() and b"PUBLIC KEY" in public.read_bytes()

    signer = dsse.signer_from_env({dsse.KEY_ENV: private.read_text()})
    envelope = dsse.sign(b'{"_type": "statement"}', signer)
    assert dsse.verify(envelope, dsse.public_key_from_file(public)) == b'{"_type": "statement"}'
    keyid = dsse.public_key_from_file(public).keyid
    assert result.stdout.splitlines()[:2] == [
        f"wrote the {kind} private key to {secrets / 'signing.pem'} (mode 0600) and its public key to keys/ml-ci-signing.pub",
        f"key id: {keyid}",
    ]
    # What to do next: the secret supply_chain.signing_key_env names, and the public key committed and named.
    assert f"repository secret named by supply_chain.signing_key_env (default {dsse.KEY_ENV})" in result.stdout
    assert "commit keys/ml-ci-signing.pub" in result.stdout
    assert "supply_chain:\n         public_key: keys/ml-ci-signing.pub\n" in result.stdout
    assert result.stderr == ""


def test_a_private_key_inside_a_git_repository_is_written_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    result = keygen(tmp_path, "--private", "signing.pem", "--public", "signing.pub")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"warning: signing.pem is inside the git repository {tmp_path.resolve()}: move it out, "
        "or keep it out of git (.gitignore)\n"
    )


@pytest.mark.parametrize("existing", ["private.pem", "public.pub"])
def test_an_existing_key_file_is_never_overwritten(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_text("mine\n")
    result = keygen(tmp_path, "--private", "private.pem", "--public", "public.pub")
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: {existing} already exists; ml-ci never overwrites a key (remove it or choose another path)\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]
    assert (tmp_path / existing).read_text() == "mine\n"


def test_usage_errors_exit_64(tmp_path: Path) -> None:
    missing = keygen(tmp_path)
    assert missing.exit_code == 64 and "Missing option '--private'" in missing.stderr
    same = keygen(tmp_path, "--private", "k.pem", "--public", "k.pem")
    assert same.exit_code == 64 and "the private and the public key need two different files" in same.stderr
    kind = keygen(tmp_path, "--private", "k.pem", "--kind", "rsa")
    assert kind.exit_code == 64 and "'rsa' is not one of 'ed25519', 'ecdsa-p256'" in kind.stderr
    assert list(tmp_path.iterdir()) == []
