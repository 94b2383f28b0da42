"""The comment lines on top of a lock file: what it was made for, so that `ml-ci lock --check` can tell a stale lock offline.

    # ml-ci lock: profile cpu, ml-ci 0.1.0, CPython 3.11, x86_64-manylinux_2_28, torch cpu
    # constraints: constraints.txt sha256:<hex>      (only when a repository's constraints were folded in)
    # requirements: requirements.txt sha256:<hex>    (only when a repository's own requirements were added)
    # regenerate: ml-ci lock

pip reads them as comments. A lock holds ml-ci's dependencies, not ml-ci itself, so it is tied to one ml-ci release;
and to one Python and one platform, since uv resolved environment markers and wheel tags for them.
Light: stdlib only (`ml-ci generate` and the check read headers without resolving anything).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Union

from ml_ci.lock.profiles import Profile

REGENERATE = "ml-ci lock"

_LOCK = re.compile(
    r"^# ml-ci lock: profile (?P<profile>[a-z0-9_-]+), ml-ci (?P<version>\S+), CPython (?P<python>3\.[0-9]+), "
    r"(?P<platform>\S+), torch (?P<torch>none|cpu|cuda)$"
)
# The files of a repository that went into a lock, as `# <key>: <file> sha256:<hex>`, keyed by LockHeader's field.
_FILES = ("constraints", "requirements")
_FILE = re.compile(r"^# (?P<key>constraints|requirements): (?P<name>.+) sha256:(?P<sha256>[0-9a-f]{64})$")


@dataclass(frozen=True, kw_only=True)
class HashedFile:
    name: str  # as ci.constraints or ci.requirements names it, relative to ml.yaml's folder
    sha256: str


Constraints = HashedFile  # the name the constraints line was first read into


@dataclass(frozen=True, kw_only=True)
class LockHeader:
    profile: str
    version: str  # ml-ci's, whose dependencies the lock holds
    python: str  # "3.11"
    platform: str  # uv's --python-platform, e.g. x86_64-manylinux_2_28
    torch: str  # none | cpu | cuda
    constraints: Optional[HashedFile] = None
    requirements: Optional[HashedFile] = None  # only in the profiles that take ci.requirements (profiles.Profile)


@dataclass(frozen=True)
class Unreadable:
    """A file whose first lines are not a lock header: hand-written, truncated, or made by another tool."""

    reason: str


def render(header: LockHeader, *, regenerate: str = REGENERATE) -> str:
    """The header's lines, each ending in a newline."""
    lines = [
        f"# ml-ci lock: profile {header.profile}, ml-ci {header.version}, CPython {header.python}, "
        f"{header.platform}, torch {header.torch}"
    ]
    for key in _FILES:
        folded: Optional[HashedFile] = getattr(header, key)
        if folded is not None:
            lines.append(f"# {key}: {folded.name} sha256:{folded.sha256}")
    lines.append(f"# regenerate: {regenerate}")
    return "".join(line + "\n" for line in lines)


def parse(text: str) -> Union[LockHeader, Unreadable]:
    """The header of a lock file's text; never raises."""
    lines = text.splitlines()
    if not lines:
        return Unreadable("it is empty")
    first = _LOCK.match(lines[0])
    if first is None:
        return Unreadable(f"its first line is not an ml-ci lock header: {lines[0][:100]!r}")
    files: dict[str, HashedFile] = {}
    for line in lines[1:]:
        if not line.startswith("#"):
            break  # the header is the leading comment block
        key = next((k for k in _FILES if line.startswith(f"# {k}:")), None)
        if key is not None:
            found = _FILE.match(line)
            if found is None or found["key"] != key:
                return Unreadable(f"its {key} line is not `# {key}: <file> sha256:<hex>`: {line[:100]!r}")
            files[key] = HashedFile(name=found["name"], sha256=found["sha256"])
    return LockHeader(
        profile=first["profile"],
        version=first["version"],
        python=first["python"],
        platform=first["platform"],
        torch=first["torch"],
        constraints=files.get("constraints"),
        requirements=files.get("requirements"),
    )


def staleness(
    header: Union[LockHeader, Unreadable],
    *,
    profile: Profile,
    version: str,
    python: str,
    constraints_sha256: Optional[str],
    requirements_sha256: Optional[str],
) -> list[str]:
    """Why a lock does not fit what would be installed now; empty when it fits.

    version: the ml-ci release the job installs; python: ci.python; constraints_sha256: of ci.constraints' file now
    (None: no constraints); requirements_sha256: of ci.requirements' file now where the profile takes it (None: no
    requirements, or a profile that does not take them)."""
    if isinstance(header, Unreadable):
        return [header.reason]
    reasons: list[str] = []
    if header.profile != profile.name or header.torch != profile.torch:
        reasons.append(
            f"it is a lock of profile {header.profile} (torch {header.torch}), not of {profile.name} (torch {profile.torch})"
        )
    if header.version != version:
        reasons.append(f"it holds the dependencies of ml-ci {header.version}, not of ml-ci {version}")
    if header.python != python:
        reasons.append(f"it was resolved for Python {header.python}, not {python}")
    for key, now in (("constraints", constraints_sha256), ("requirements", requirements_sha256)):
        reason = _file_reason(key, getattr(header, key), now)
        if reason is not None:
            reasons.append(reason)
    return reasons


def _file_reason(key: str, made: Optional[HashedFile], now: Optional[str]) -> Optional[str]:
    """Why ci.<key>'s file as the lock folded it in differs from the file now; None: it does not."""
    if made is None and now is not None:
        return f"ci.{key} was added since it was made"
    if made is not None and now is None:
        return f"ci.{key} was removed since it was made"
    if made is not None and made.sha256 != now:
        return f"the {key} file changed since it was made (it folded in {made.name} sha256:{made.sha256})"
    return None
