"""Resolve a profile's lock with `uv pip compile`: the plan (uv's command line) is pure, running it is thin.

uv resolves for the runner's Python and platform, not this machine's, and hashes every file of every pinned
release, so that the setup action's `pip install --require-hashes -r <lock>` installs the same bytes on every run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ml_ci import atomic
from ml_ci.errors import OperationalError
from ml_ci.lock import header as lock_header
from ml_ci.lock.profiles import Profile

PLATFORM = "x86_64-manylinux_2_28"  # what ubuntu-latest runs (glibc 2.39): the wheels its pip accepts
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

# Names inside the scratch folder uv runs in: its annotations (`# via -r requirements.in`) name files by the path
# they were given, so relative names keep this machine's paths out of a committed lock.
INPUT = "requirements.in"
OUTPUT = "lock.txt"
EXCLUDES = "excludes.txt"


@dataclass(frozen=True, kw_only=True)
class Plan:
    profile: Profile
    requirements: tuple[str, ...]  # the lock's input (ml_ci.lock.requirements.for_profile)
    header: lock_header.LockHeader
    output: Path  # the lock file written
    regenerate: str  # the command the header names
    # A lock whose pins uv keeps where they still satisfy (uv prefers the versions already in its -o file): the
    # lock itself when it exists, or for a repository the published lock, so that it moves only where forced.
    preference: Optional[Path] = None
    constraints: Optional[Path] = None
    torch_pin: Optional[str] = None  # the torch version the lock must pin (None: no torch at all)
    torch_index: Optional[str] = None  # for a torch "cpu" profile: where the +cpu wheels are
    find_links: tuple[str, ...] = ()
    extra_index_urls: tuple[str, ...] = ()
    # Packages left out of the resolution with all that only they pull in (uv's --excludes): torch, where a torch-less
    # profile takes a repository's requirements that depend on it (a model's package that the data check only reads).
    excludes: tuple[str, ...] = ()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def constraints_name(plan: Plan) -> Optional[str]:
    """The constraints file's name in the scratch folder (a copy, for the same reason as INPUT)."""
    if plan.constraints is None:
        return None
    return (
        plan.constraints.name
        if plan.constraints.name not in (INPUT, OUTPUT, EXCLUDES)
        else f"constraints-{plan.constraints.name}"
    )


def argv(plan: Plan, uv: str) -> list[str]:
    """uv's command line, run in the scratch folder that holds INPUT, OUTPUT, EXCLUDES and the constraints' copy."""
    args = [uv, "pip", "compile", INPUT, "-o", OUTPUT, "--generate-hashes"]
    args += ["--python-version", plan.header.python, "--python-platform", plan.header.platform]
    # The header is ours (ml_ci.lock.header); index and find-links lines would carry this machine's paths and
    # mirrors into a committed file: the setup action passes torch's index itself.
    args += ["--no-header", "--no-emit-index-url", "--no-emit-find-links"]
    name = constraints_name(plan)
    if name is not None:
        args += ["-c", name]
    if plan.excludes:
        args += ["--excludes", EXCLUDES]
    for folder in plan.find_links:
        args += ["--find-links", folder]
    for url in plan.extra_index_urls:
        args += ["--extra-index-url", url]
    if plan.torch_index is not None and plan.profile.torch == "cpu":
        # PyTorch's index also serves numpy, jinja2, pillow and others at a few versions; uv's default takes each
        # package from the first index that has it, which would confine them to those. Best match lets PyPI's
        # releases compete; the lock's hashes still pin which file each one is.
        args += ["--extra-index-url", plan.torch_index, "--index-strategy", "unsafe-best-match"]
    return args


def find_uv(env: Mapping[str, str]) -> str:
    found = shutil.which("uv", path=env.get("PATH"))
    if found is not None:
        return found
    beside = Path(sys.executable).parent / "uv"  # a virtual environment's, when it is not activated
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    raise OperationalError("ml-ci lock resolves with uv, which is not installed here: pip install uv")


def body_problem(plan: Plan, body: str) -> Optional[str]:
    """Why uv's output is not a lock of the profile (checked before anything is written); None: it is."""
    pins = dict(_pin(line) for line in body.splitlines() if line[:1].isalnum())
    if plan.profile.torch == "none":
        pulled = sorted(n for n in pins if n == "torch" or n.startswith("nvidia-"))
        if pulled:
            return f"profile {plan.profile.name} installs no torch, but its dependencies pull in {', '.join(pulled)}"
        return None
    chosen = f"torch=={pins['torch']}" if "torch" in pins else "no torch"
    if plan.torch_pin is not None and chosen != f"torch=={plan.torch_pin}":
        return f"profile {plan.profile.name} needs torch=={plan.torch_pin}, but uv chose {chosen}"
    return None


def _pin(line: str) -> tuple[str, str]:
    """`name==version \\` (or with a marker after `;`) as (name, version)."""
    spec = line.split(";", 1)[0].split()[0]
    name, _, version = spec.partition("==")
    return name.lower(), version


Run = Callable[[Sequence[str], Path], "subprocess.CompletedProcess[str]"]


def run_uv(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, check=False)


def resolve(plan: Plan, *, uv: str, run: Run = run_uv) -> None:
    """Resolve the plan and write its lock whole; on any failure the old lock (or none) stays as it was."""
    with tempfile.TemporaryDirectory(prefix="ml-ci-lock-") as scratch:
        work = Path(scratch)
        (work / INPUT).write_text("".join(r + "\n" for r in plan.requirements), encoding="utf-8")
        if plan.preference is not None and plan.preference.is_file():
            shutil.copyfile(plan.preference, work / OUTPUT)
        name = constraints_name(plan)
        if plan.constraints is not None and name is not None:
            shutil.copyfile(plan.constraints, work / name)
        if plan.excludes:
            (work / EXCLUDES).write_text("".join(e + "\n" for e in plan.excludes), encoding="utf-8")
        try:
            done = run(argv(plan, uv), work)
        except OSError as e:
            raise OperationalError(f"cannot run {uv}: {e.strerror or e}") from None
        if done.returncode != 0:
            said = (done.stderr or done.stdout or "").strip() or f"exit status {done.returncode}"
            raise OperationalError(f"uv could not resolve profile {plan.profile.name} (for {plan.output}):\n{said}")
        body = (work / OUTPUT).read_text(encoding="utf-8")
    problem = body_problem(plan, body)
    if problem is not None:
        raise OperationalError(f"{plan.output}: not written: {problem}")
    atomic.write_text(plan.output, lock_header.render(plan.header, regenerate=plan.regenerate) + body)
