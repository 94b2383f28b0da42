"""ml_ci.digest: sha256 of files read in blocks."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ml_ci import digest


def test_file_sha256_is_the_hex_digest_of_the_bytes_across_blocks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10_000  # 2.5 MB: three blocks of 1 MiB
    (tmp_path / "w.bin").write_bytes(data)
    assert digest.file_sha256(tmp_path / "w.bin") == hashlib.sha256(data).hexdigest()


def test_an_empty_file_has_the_empty_digest(tmp_path: Path) -> None:
    (tmp_path / "e").write_bytes(b"")
    assert digest.file_sha256(tmp_path / "e") == hashlib.sha256(b"").hexdigest()


def test_update_from_file_continues_a_running_digest(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"first")
    (tmp_path / "b").write_bytes(b"second")
    running = hashlib.sha256(b"name\0")
    digest.update_from_file(running, tmp_path / "a")
    digest.update_from_file(running, tmp_path / "b")
    assert running.hexdigest() == hashlib.sha256(b"name\0firstsecond").hexdigest()
