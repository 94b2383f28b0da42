"""What a profile's lock must satisfy: ml-ci's own requirements for the profile's extras, and torch's build.

Read from the installed ml-ci's metadata, which is what `pip install ml-ci[extras]` would resolve: the lock replaces
that resolution, so it starts from the same list. The lock holds ml-ci's dependencies and not ml-ci, which the
setup action installs after it with --no-deps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ml_ci.errors import ConfigError, OperationalError, Problem
from ml_ci.lock.profiles import Profile

# The torch release this project's CI installs (the CPU wheel its runners cache); `ml-ci lock --torch-version`
# overrides it.
TORCH_VERSION = "2.13.0"
TORCH = "torch"
SELF = "ml-ci"

# How build backends write an extra's requirement: `<other markers> and extra == "name"` (packaging's normal form).
_EXTRA = re.compile(r'^(?:(?P<rest>.+) and )?extra == "(?P<extra>[^"]+)"$')


@dataclass(frozen=True)
class Metadata:
    """The parts of ml-ci's metadata a lock reads."""

    requires: tuple[str, ...]  # Requires-Dist, extras' requirements marked `extra == "..."`
    extras: frozenset[str]  # Provides-Extra


def installed() -> Metadata:
    from importlib import metadata

    try:
        dist = metadata.distribution(SELF)
    except metadata.PackageNotFoundError:
        raise OperationalError("ml-ci's metadata is not installed (in a checkout: pip install -e .)") from None
    extras = frozenset(canonicalize_name(e) for e in dist.metadata.get_all("Provides-Extra") or [])
    return Metadata(tuple(dist.requires or ()), extras)


def torch_pin(profile: Profile, torch_version: str) -> Optional[str]:
    """The torch version the profile's lock pins: the CPU wheels carry a +cpu local version (PyTorch's own index
    has them); PyPI's plain release is the CUDA build. None: the profile has no torch."""
    return {"cpu": f"{torch_version}+cpu", "cuda": torch_version}.get(profile.torch)


def torch_requirement(profile: Profile, torch_version: str) -> list[str]:
    pin = torch_pin(profile, torch_version)
    if pin is None:
        return []
    if profile.torch == "cuda":
        # `==2.13.0` is also met by a local version such as 2.13.0+cpu, which a --find-links folder may hold.
        return [f"{TORCH}=={pin},!={pin}+cpu"]
    return [f"{TORCH}=={pin}"]


def split_extra(line: str) -> tuple[Requirement, Optional[str]]:
    """A Requires-Dist line as (the requirement without its extra clause, the extra it belongs to; None: the core).

    Markers other than `extra` (python_version, sys_platform) stay: uv evaluates them for the target Python and
    platform, not this machine's."""
    try:
        r = Requirement(line)
    except InvalidRequirement as e:
        raise OperationalError(f"ml-ci's metadata has a requirement that is not PEP 508: {line!r} ({e})") from None
    if r.marker is None:
        return r, None
    marker = str(r.marker)
    found = _EXTRA.match(marker)
    if found is None:
        if "extra" in marker:
            raise OperationalError(f"ml-ci's metadata names an extra in a form a lock cannot evaluate: {line!r}")
        return r, None
    rest, extra = found["rest"], found["extra"]
    # `A or B and extra == "x"` means `A or (B and extra == "x")`: only a whole conjunction is split.
    if rest is not None and ("extra" in rest or str(Marker(f'({rest}) and extra == "{extra}"')) != marker):
        raise OperationalError(f"ml-ci's metadata names an extra in a form a lock cannot evaluate: {line!r}")
    r.marker = Marker(rest) if rest is not None else None
    return r, canonicalize_name(extra)


def expand(meta: Metadata, extras: tuple[str, ...]) -> list[Requirement]:
    """The core's requirements and each extra's, following ml-ci[other] into other's; sorted, without duplicates."""
    by_extra: dict[Optional[str], list[Requirement]] = {}
    for line in meta.requires:
        r, extra = split_extra(line)
        by_extra.setdefault(extra, []).append(r)
    chosen: dict[str, Requirement] = {}
    seen: set[Optional[str]] = set()
    todo: list[Optional[str]] = [None, *(canonicalize_name(e) for e in extras)]
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        if extra is not None and extra not in meta.extras:
            raise OperationalError(
                f"the installed ml-ci's metadata has no extra {extra!r} (it has {', '.join(sorted(meta.extras)) or 'none'}): "
                "it was installed before the extra was added; reinstall it (in a checkout: pip install -e .)"
            )
        for r in by_extra.get(extra, []):
            if canonicalize_name(r.name) == SELF:
                todo.extend(canonicalize_name(e) for e in r.extras)  # a self-reference such as ml-ci[data]
            else:
                chosen.setdefault(str(r), r)
    return sorted(chosen.values(), key=lambda r: (canonicalize_name(r.name), str(r)))


def for_profile(profile: Profile, meta: Metadata, *, torch_version: str = TORCH_VERSION) -> list[str]:
    """The lines of the profile's lock input: ml-ci's requirements for its extras, torch's build pinned."""
    reqs = expand(meta, profile.extras)
    has_torch = [r for r in reqs if canonicalize_name(r.name) == TORCH]
    if profile.torch == "none":
        if has_torch:
            # The point of a torch-less profile is a job that installs no torch: an extra that pulls it in is a bug.
            raise OperationalError(
                f"profile {profile.name} installs no torch, but its extras ({', '.join(profile.extras) or 'the core'}) "
                f"require {has_torch[0]}: move that requirement out of them (pyproject.toml)"
            )
        return [str(r) for r in reqs]
    # ml-ci's own range (torch>=2.2) is kept next to the pin, so that a pin outside it fails to resolve.
    return [str(r) for r in reqs] + torch_requirement(profile, torch_version)


def own(path: Path, shown: str) -> list[str]:
    """The requirements of a repository's ci.requirements file (shown: its name in messages), one per line, without
    comments; every line that a lock cannot take is refused with its file:line and text.

    A lock pins releases of an index with their hashes: a local path, a URL or an editable checkout has none, and pip's
    options (-r, -c, --index-url) would change what the lock is resolved from, so the file names releases only."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise OperationalError(f"{shown}: cannot be read ({e})") from None
    lines: list[str] = []
    problems: list[Problem] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        reason = _refused(line)
        if reason is not None:
            problems.append(Problem(shown, number, 1, "", f"{line!r}: {reason}"))
        else:
            lines.append(line)
    if problems:
        raise ConfigError(problems)
    return lines


_COMMENT = re.compile(r"(^|\s)#.*$")  # as pip reads a requirements file: `#` at the start or after whitespace
_NOT_FROM_AN_INDEX = "cannot be hash-locked from an index: name a release instead (name==version)"


def _refused(line: str) -> Optional[str]:
    """Why a requirements file's line cannot go into a lock; None: it can."""
    if line.startswith(("-e", "--editable")):
        return f"an editable requirement {_NOT_FROM_AN_INDEX}"
    if line.startswith("-"):
        return "pip options are not read here (ml-ci lock resolves from its own indexes): write one requirement a line"
    try:
        r = Requirement(line)
    except InvalidRequirement:
        if "/" in line or "\\" in line or line.endswith((".whl", ".zip", ".tar.gz")):
            return f"a path or URL {_NOT_FROM_AN_INDEX}"
        return "not a requirement (PEP 508, like `tokenizers==0.20.3`)"
    if r.url is not None:
        return f"a URL requirement {_NOT_FROM_AN_INDEX}"
    if canonicalize_name(r.name) == SELF:
        return "ml-ci itself is not in a lock: the setup action installs it after the lock, as ci.ml_ci_version says"
    return None
