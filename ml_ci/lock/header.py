"""The comment lines on top of a lock file: what it was made for, so that `ml-ci lock --check` can tell a stale lock offline.

    # ml-ci lock: profile cpu, ml-ci 0.1.0, CPython 3.11, x86_64-manylinux_2_28, torch cpu
    # constraints: constraints.txt sha256:<hex>      (only when a repository's constraints were folded in)
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
_CONSTRAINTS = re.compile(r"^# constraints: (?P<name>.+) sha256:(?P<sha256>[0-9a-f]{64})$")


@dataclass(frozen=True, kw_only=True)
class Constraints:
    name: str  # as ci.constraints names it, relative to ml.yaml's folder
    sha256: str


@dataclass(frozen=True, kw_only=True)
class LockHeader:
    profile: str
    version: str  # ml-ci's, whose dependencies the lock holds
    python: str  # "3.11"
    platform: str  # uv's --python-platform, e.g. x86_64-manylinux_2_28
    torch: str  # none | cpu | cuda
    constraints: Optional[Constraints] = None


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
    if header.constraints is not None:
        lines.append(f"# constraints: {header.constraints.name} sha256:{header.constraints.sha256}")
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
    constraints = None
    for line in lines[1:]:
        if not line.startswith("#"):
            break  # the header is the leading comment block
        if line.startswith("# constraints:"):
            found = _CONSTRAINTS.match(line)
            if found is None:
                return Unreadable(f"its constraints line is not `# constraints: <file> sha256:<hex>`: {line[:100]!r}")
            constraints = Constraints(name=found["name"], sha256=found["sha256"])
    return LockHeader(
        profile=first["profile"],
        version=first["version"],
        python=first["python"],
        platform=first["platform"],
        torch=first["torch"],
        constraints=constraints,
    )


def staleness(
    header: Union[LockHeader, Unreadable],
    *,
    profile: Profile,
    version: str,
    python: str,
    constraints_sha256: Optional[str],
) -> list[str]:
    """Why a lock does not fit what would be installed now; empty when it fits.

    version: the ml-ci release the job installs; python: ci.python; constraints_sha256: of ci.constraints' file now
    (None: no constraints)."""
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
    made_with = header.constraints.sha256 if header.constraints is not None else None
    if made_with is None and constraints_sha256 is not None:
        reasons.append("ci.constraints was added since it was made")
    elif made_with is not None and constraints_sha256 is None:
        reasons.append("ci.constraints was removed since it was made")
    elif made_with != constraints_sha256:
        assert header.constraints is not None
        folded = f"{header.constraints.name} sha256:{made_with}"
        reasons.append(f"the constraints file changed since it was made (it folded in {folded})")
    return reasons
