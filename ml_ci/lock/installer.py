"""The installer of the locks: uv, pinned by hash in actions/setup/uv.txt beside the setup action.

`ml-ci lock --published` writes it with the version of the uv that resolved the locks, so the uv that chose the
files is the one that installs them. The setup action installs it with pip (`--require-hashes`) into the runner's
temp folder, outside the cached environment. The plan (uv's command line) and the checks are pure; `write` runs uv.
Light: stdlib only (`ml-ci generate` vendors the file, `ml-ci lock --check` reads it).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Optional

from ml_ci import atomic
from ml_ci.errors import OperationalError

FILE = "uv.txt"  # beside the setup action's action.yml
REGENERATE = "ml-ci lock --published"

_VERSION = re.compile(r"^uv (?P<version>[0-9][0-9A-Za-z.+-]*)(?:\s|$)")
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)")

Run = Callable[[Sequence[str], Path], "subprocess.CompletedProcess[str]"]


def version_of(said: str) -> Optional[str]:
    """The version in `uv --version`'s output ("uv 0.13.9 (x86_64-unknown-linux-gnu)"); None: not uv's."""
    found = _VERSION.match(said.strip())
    return found["version"] if found else None


def header(version: str) -> str:
    return f"# ml-ci lock: installer uv {version}, the uv that resolved the locks\n# regenerate: {REGENERATE}\n"


def compile_argv(uv: str) -> list[str]:
    """uv's command line for uv.txt, in a scratch folder holding requirements.in (`uv==VERSION`). Every file of the
    release is hashed (uv's --generate-hashes does not filter by platform), so one file serves x64 and arm64 runners."""
    return [uv, "pip", "compile", "requirements.in", "-o", "uv.txt", "--generate-hashes", "--no-header"]


def problem(text: str) -> Optional[str]:
    """Why a uv.txt is not the installer's lock (exactly one pin, uv's, with at least one hash); None: it is."""
    pins = [m for line in text.splitlines() if (m := _PIN.match(line))]
    if [m["name"].lower() for m in pins] != ["uv"]:
        return f"it must pin uv and nothing else, but pins {', '.join(m.group(0) for m in pins) or 'nothing'}"
    if "--hash=sha256:" not in text:
        return "its pin of uv has no --hash"
    return None


def pinned_version(text: str) -> Optional[str]:
    found = next((m for line in text.splitlines() if (m := _PIN.match(line))), None)
    return found["version"] if found else None


def _run(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, check=False)


def write(output: Path, *, uv: str, run: Run = _run) -> str:
    """Write output (uv.txt) pinning the version of `uv`, whole or not at all; its version."""
    with tempfile.TemporaryDirectory(prefix="ml-ci-lock-uv-") as scratch:
        work = Path(scratch)
        try:
            said = run([uv, "--version"], work)
            version = version_of(said.stdout) if said.returncode == 0 else None
            if version is None:
                raise OperationalError(f"{uv} --version did not name a uv release: {(said.stdout or said.stderr).strip()!r}")
            (work / "requirements.in").write_text(f"uv=={version}\n", encoding="utf-8")
            done = run(compile_argv(uv), work)
        except OSError as e:
            raise OperationalError(f"cannot run {uv}: {e.strerror or e}") from None
        if done.returncode != 0:
            message = (done.stderr or done.stdout or "").strip() or f"exit status {done.returncode}"
            raise OperationalError(f"uv could not lock itself (uv=={version}, for {output}):\n{message}")
        body = (work / "uv.txt").read_text(encoding="utf-8")
    reason = problem(body)
    if reason is not None:
        raise OperationalError(f"{output}: not written: {reason}")
    atomic.write_text(output, header(version) + body)
    return version
