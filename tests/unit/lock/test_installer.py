"""The installer's lock (actions/setup/uv.txt): what `ml-ci lock --published` writes and the setup action installs
with pip before it installs a profile's lock with uv."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from ml_ci.errors import OperationalError
from ml_ci.lock import installer
from tests.conftest import ROOT

HASH = "--hash=sha256:" + "a" * 64


def release(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"[0-9]+", version)[:3])


@pytest.mark.parametrize(
    ("said", "version"),
    [
        ("uv 0.13.9 (x86_64-unknown-linux-gnu)\n", "0.13.9"),
        ("uv 0.14.0\n", "0.14.0"),
        ("uv 0.13.9+12 (abc 2026-11-01)", "0.13.9+12"),
        ("ruff 0.13.9", None),
        ("", None),
    ],
)
def test_the_version_comes_from_uvs_own_words(said: str, version: str | None) -> None:
    assert installer.version_of(said) == version


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"uv==0.13.9 \\\n    {HASH}\n", None),
        ("uv==0.13.9\n", "its pin of uv has no --hash"),
        (f"uv==0.13.9 \\\n    {HASH}\nclick==8.1.7 \\\n    {HASH}\n", "pins uv==0.13.9, click==8.1.7"),
        (f"ruff==0.1.0 \\\n    {HASH}\n", "pins ruff==0.1.0"),
        ("# nothing\n", "pins nothing"),
    ],
)
def test_a_uv_lock_pins_uv_alone_with_hashes(text: str, reason: str | None) -> None:
    found = installer.problem(text)
    assert (found is None) if reason is None else (found is not None and reason in found)


def test_the_shipped_uv_lock_is_one_hashed_pin_of_a_uv_ml_ci_supports() -> None:
    """The file the setup action installs: uv alone, every file of its release hashed (x64 and arm64 runners, any
    libc), at least the uv `ml-ci lock` itself requires (pyproject's lock extra)."""
    text = (ROOT / "actions" / "setup" / installer.FILE).read_text(encoding="utf-8")
    assert installer.problem(text) is None
    version = installer.pinned_version(text)
    assert version is not None
    assert text.startswith(installer.header(version))
    assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", text)) >= 6, "a hash for each platform's wheel"
    floor = re.search(r'"uv>=([0-9.]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert floor is not None
    assert release(version) >= release(floor.group(1))


class FakeUv:
    """Answers `uv --version` and `uv pip compile` as uv does (the compile writes its -o file)."""

    def __init__(self, *, version: str = "uv 0.13.9 (x86_64-unknown-linux-gnu)\n", body: str | None = None, fail: str = ""):
        self.version, self.body, self.fail = version, body, fail
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(args))
        if args[1:] == ["--version"]:
            return subprocess.CompletedProcess(list(args), 0, self.version, "")
        if self.fail:
            return subprocess.CompletedProcess(list(args), 2, "", self.fail)
        wanted = (cwd / "requirements.in").read_text().strip()
        body = self.body if self.body is not None else f"{wanted} \\\n    {HASH}\n"
        (cwd / args[args.index("-o") + 1]).write_text(body)
        return subprocess.CompletedProcess(list(args), 0, "", "")


def test_write_pins_the_running_uv_with_hashes(tmp_path: Path) -> None:
    uv = FakeUv()
    out = tmp_path / "uv.txt"
    assert installer.write(out, uv="/bin/uv", run=uv) == "0.13.9"
    assert out.read_text() == installer.header("0.13.9") + f"uv==0.13.9 \\\n    {HASH}\n"
    assert uv.calls[1] == installer.compile_argv("/bin/uv")
    assert "--generate-hashes" in uv.calls[1]


@pytest.mark.parametrize(
    ("uv", "message"),
    [
        (FakeUv(version="something else\n"), "did not name a uv release"),
        (FakeUv(fail="error: network unreachable"), "uv could not lock itself (uv==0.13.9"),
        (FakeUv(body="uv==0.13.9\n"), "not written: its pin of uv has no --hash"),
    ],
)
def test_a_failed_write_leaves_the_old_file(tmp_path: Path, uv: FakeUv, message: str) -> None:
    out = tmp_path / "uv.txt"
    out.write_text("old\n")
    with pytest.raises(OperationalError, match=re.escape(message)):
        installer.write(out, uv="/bin/uv", run=uv)
    assert out.read_text() == "old\n"


def test_an_absent_uv_is_an_operational_error(tmp_path: Path) -> None:
    def absent(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(2, "No such file or directory")

    with pytest.raises(OperationalError, match="cannot run /no/such/uv: No such file or directory"):
        installer.write(tmp_path / "uv.txt", uv="/no/such/uv", run=absent)
    assert not (tmp_path / "uv.txt").exists()
